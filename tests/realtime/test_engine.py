"""Engine logic offline: simulated clock, mock generator, in-memory sink."""

from __future__ import annotations

import dataclasses

import pytest

from tatumflow.generate.controls import Controls
from tatumflow.generate.mock import mock_generator
from tatumflow.generate.window import DEFAULT_WINDOW_NOTES, Window
from tatumflow.notes import Note
from tatumflow.realtime.engine.clock import SimClock
from tatumflow.realtime.engine.config import EngineConfig

from .conftest import SimSession, assert_balanced, phrase


def test_call_response_answers_at_the_silence_threshold():
    s = SimSession(silence_threshold_s=0.5)
    human = phrase(start_s=0.2, n=6)  # last release at 1.35 s
    s.play(human)
    s.run_until(6.0)
    silence = max(n.end_s for n in human)
    onsets = s.model_onsets()
    assert onsets, "no reply"
    assert onsets[0] >= silence + 0.5 - 1e-9
    assert onsets[0] - (silence + 0.5) < 0.005
    report = s.engine.stop()
    assert report["replies"] == 1 and report["reply_ms_p50"] < 5
    phrase_s = silence - human[0].onset_s
    reply_span = onsets[-1] - onsets[0]
    assert reply_span <= max(phrase_s, s.engine.config.min_reply_s) + 0.01
    assert_balanced(s.model_messages())


def test_no_reply_while_the_human_keeps_playing():
    s = SimSession(silence_threshold_s=0.5)
    s.play(phrase(start_s=0.1, n=20, gap_s=0.3))  # gaps of 0.15 s between notes, never 0.5 s of silence
    s.run_until(6.0)
    assert all(t >= 6.05 + 0.5 - 0.01 for t in s.model_onsets())


def test_barge_in_yields_at_once_and_forgets_unplayed_notes():
    s = SimSession(silence_threshold_s=0.4, min_reply_s=4.0)
    s.play(phrase(start_s=0.1, n=4))
    s.run_until(1.6)
    assert s.model_onsets(), "reply should have started"
    barge = 1.6
    s.play(phrase(start_s=barge, n=2, pitch=72))
    s.run_until(barge + 0.01)
    after = [t for t in s.model_onsets() if t >= barge]
    assert after == []
    assert s.sink.sounding == 0 or all(p in (72, 75) for (_, p) in s.sink._sounding)
    assert all(n.onset_s < barge or n.pitch in (72, 75) for n in s.engine.context_notes())
    assert s.engine.stats.barge_ins == 1
    s.engine.stop()
    assert_balanced(s.model_messages())


def test_second_phrase_gets_a_second_reply():
    s = SimSession(silence_threshold_s=0.4, max_reply_s=2.0)
    s.play(phrase(start_s=0.1, n=4))
    s.play(phrase(start_s=4.0, n=4))
    s.run_until(9.0)
    assert s.engine.stats.replies == 2
    assert len(s.engine.stats.reply_ms) == 2


def test_duet_stays_a_window_ahead_and_folds_in_the_human():
    s = SimSession(mode="duet")
    human = phrase(start_s=0.2, n=30, gap_s=0.25)
    s.play(human)
    s.run_until(8.0)
    onsets = s.model_onsets()
    assert onsets and onsets[0] < 0.5
    assert s.engine.snapshot().planned_until_s >= 8.0
    context_pitches = {(round(n.onset_s, 3), n.pitch) for n in s.engine.context_notes()}
    assert {(round(n.onset_s, 3), n.pitch) for n in human[-5:]} <= context_pitches
    assert s.engine.stats.barge_ins == 0
    s.engine.stop()
    assert_balanced(s.model_messages())


def test_continue_plays_from_the_prompt_without_the_human():
    s = SimSession(mode="continue", prompt=phrase(start_s=0.0, n=8))
    s.run_until(5.0)
    onsets = s.model_onsets()
    assert onsets and onsets[0] < 0.1
    assert onsets[-1] > 4.0


def test_control_change_takes_effect_next_window():
    s = SimSession(mode="continue", prompt=phrase(start_s=0.0, n=8))
    s.run_until(1.0)
    s.engine.set_controls(dataclasses.replace(s.engine.controls, pitch_low=90, pitch_high=100))
    s.run_until(6.0)
    late = [m.note for t, m in s.model_messages() if m.type == "note_on" and t > 4.5]
    assert late and all(90 <= p <= 100 for p in late)


class SlowGenerator:
    """The mock, but each sampled note costs `ms_per_note` of simulated time."""

    def __init__(self, clock, ms_per_note: float) -> None:
        self.inner, self.clock, self.ms = mock_generator(), clock, ms_per_note

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def generate_chunk(self, state, human, controls, window):
        notes, state = self.inner.generate_chunk(state, human, controls, window)
        self.clock.advance(self.ms / 1e3 * (len(notes) + 1))
        return notes, state


def test_slow_generation_degrades_instead_of_sending_late():
    clock = SimClock()
    s = SimSession(mode="continue", prompt=phrase(start_s=0.0, n=8), latency_budget_ms=60, clock=clock,
                   generator=SlowGenerator(clock, ms_per_note=8.0))
    s.run_until(6.0)
    report = s.engine.stop()
    assert report["degraded_windows"] > 0
    assert report["late_notes"] == 0
    assert report["notes_sent"] > 10
    assert max(report["generation_ms_p99"], 0) <= 60 * 1.6


def test_engine_config_rejects_bad_values():
    with pytest.raises(ValueError, match="valid modes"):
        EngineConfig(mode="solo")
    with pytest.raises(ValueError, match="silence_threshold_s"):
        EngineConfig(silence_threshold_s=0)
    with pytest.raises(ValueError, match="unknown setting.*bogus"):
        EngineConfig.from_preset({"bogus": 1})


def test_report_has_the_fields():
    s = SimSession()
    s.play(phrase())
    s.run_until(4.0)
    report = s.engine.stop()
    for key in ("windows", "generation_ms_p50", "generation_ms_p99", "realtime_factor", "reply_ms_p50",
                "reply_ms_p99", "send_jitter_ms_p50", "send_jitter_ms_p99", "late_notes", "dropped_notes"):
        assert key in report
    assert report["windows"] >= 1 and report["stuck_notes"] == 0


class Recording(SlowGenerator):
    """The slow mock, keeping the controls and the window of every window it was asked for."""

    def __init__(self, clock, ms_per_note: float) -> None:
        super().__init__(clock, ms_per_note)
        self.asked: list[Controls] = []
        self.windows: list[Window] = []

    def generate_chunk(self, state, human, controls, window):
        self.asked.append(controls)
        self.windows.append(window)
        return super().generate_chunk(state, human, controls, window)


def test_degraded_windows_cap_the_window_never_the_controls():
    c = Controls(temperature=0.9)
    clock = SimClock()
    gen = Recording(clock, ms_per_note=8.0)
    s = SimSession(mode="continue", prompt=phrase(start_s=0.0, n=8), latency_budget_ms=60, controls=c, clock=clock,
                   generator=gen)
    s.run_until(3.0)
    assert s.engine.controls is c
    capped = [w for w in gen.windows if w.max_notes < DEFAULT_WINDOW_NOTES]
    assert capped, "the latency budget should have capped some windows"
    assert all(a is c for a in gen.asked)  # the musician's controls pass through untouched
    c2 = dataclasses.replace(c, temperature=0.5)
    s.engine.set_controls(c2)
    asked_before = len(gen.asked)
    s.run_until(6.0)
    assert s.engine.controls is c2
    assert len(gen.asked) > asked_before and all(a.temperature == 0.5 for a in gen.asked[asked_before:])


@pytest.mark.parametrize("mode", ["duet", "call-response"])
def test_a_key_held_while_the_context_fills_gets_its_real_duration(mode):
    s = SimSession(mode=mode, silence_threshold_s=0.3, hold_grace_s=0.5)
    held = Note(0.2, 2.5, 48, 70)  # down from 0.2 s to 2.7 s
    s.play([held] + phrase(start_s=0.3, n=3, gap_s=0.15))
    s.run_until(2.0)
    early = [n for n in s.engine.context_notes() if (n.onset_s, n.pitch) == (0.2, 48)]
    assert len(early) == 1 and early[0].duration_s < 2.0, "the held key enters with the duration so far"
    s.run_until(4.0)
    late = [n for n in s.engine.context_notes() if (n.onset_s, n.pitch) == (0.2, 48)]
    assert len(late) == 1 and late[0].duration_s == pytest.approx(2.5, abs=0.01)
    onsets = [n.onset_s for n in s.engine.context_notes()]
    assert onsets == sorted(onsets)
