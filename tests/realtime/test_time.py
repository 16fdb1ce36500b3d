"""Time in the engine, offline (mock generator, simulated clock): replies on a beat, MIDI clock and transport, the
report's time fields, the recording's tempo map."""

from __future__ import annotations

import logging

import mido
import pytest

from tatumflow.notes import Note, read_midi_tracks
from tatumflow.realtime.engine.report import format_report
from tatumflow.realtime.engine.tempo import TempoConfig
from tatumflow.realtime.ports.recording import MAX_PENDING, IncrementalMidi
from tatumflow.realtime.ports.sinks import RecorderSink
from tatumflow.timing.grid import BeatGrid
from tatumflow.timing.tempomap import BeatAligner

from .conftest import SimSession

TIME_FIELDS = ("tempo_source", "tempo_bpm_last", "tempo_bpm_median", "beat_alignment_ms_p50",
               "beat_alignment_ms_p90", "reply_beat_offset_ms_p50", "reply_beat_offset_ms_max")


class TimedSession(SimSession):
    """An engine on a simulated clock with a tempo source; `clock_bpm` feeds MIDI clock from `clock_from_s`."""

    def __init__(self, mode="call-response", tempo=None, sinks=(), clock_bpm=None, start_at=None, **config):
        super().__init__(mode, build={"tempo": tempo}, sinks=sinks, **config)
        if clock_bpm is not None:
            self.add_clock(clock_bpm, 0.0, 60.0, start_at)

    def add_clock(self, bpm, from_s, to_s, start_at=None):
        tick, t = 60.0 / bpm / 24, from_s
        msgs = []
        if start_at is not None:
            msgs.append((start_at, mido.Message("start")))
        while t < to_s:
            msgs.append((t, mido.Message("clock")))
            t += tick
        self.inbox = sorted(self.inbox + msgs, key=lambda m: m[0])

    def send(self, t_s, msg):
        self.inbox = sorted(self.inbox + [(t_s, msg)], key=lambda m: m[0])


def on_grid_phrase(grid: BeatGrid, first_beat: int, n: int = 8) -> list[Note]:
    """Eighth notes on the grid from beat `first_beat`."""
    return [Note(grid.beat_s + (first_beat + i / 2) * grid.period_s, 0.1, 60 + (i * 5) % 12, 80) for i in range(n)]


def test_a_reply_starts_on_the_first_beat_after_the_threshold():
    s = TimedSession(tempo=TempoConfig.from_options("off", 100.0), silence_threshold_s=0.3)
    grid = BeatGrid(100.0, 0.0)
    phrase = on_grid_phrase(grid, 1)
    s.play(phrase)
    s.run_until(6.0)
    release = max(n.end_s for n in phrase)
    first = s.model_onsets()[0]
    assert first >= release + 0.3
    assert abs(grid.offset_to_beat_s(first)) < 0.003, first
    assert first - (release + 0.3) <= grid.period_s
    report = s.engine.stop()
    assert all(k in report for k in TIME_FIELDS)
    assert report["tempo_source"] == "fixed" and report["tempo_bpm_last"] == 100.0
    assert report["reply_beat_offset_ms_max"] < 3
    assert report["beat_alignment_ms_p50"] is not None and report["stuck_notes"] == 0


def test_without_a_tempo_the_reply_starts_at_the_threshold():
    s = TimedSession(tempo=TempoConfig(sync="off"), silence_threshold_s=0.3)
    phrase = on_grid_phrase(BeatGrid(100.0, 0.0), 1)
    s.play(phrase)
    s.run_until(5.0)
    assert abs(s.model_onsets()[0] - (max(n.end_s for n in phrase) + 0.3)) < 0.01
    report = s.engine.stop()
    assert report["tempo_source"] == "off" and report["tempo_bpm_last"] is None


def test_midi_clock_is_followed_and_never_reaches_the_model():
    s = TimedSession(tempo=TempoConfig(sync="clock"), clock_bpm=132.0, start_at=0.0, silence_threshold_s=0.3)
    grid = BeatGrid(132.0, 0.0)
    s.play(on_grid_phrase(grid, 4))
    s.run_until(6.0)
    report = s.engine.stop()
    assert report["human_notes"] == 8 and not any(m.type == "clock" for _, _, m in s.sink.messages)
    assert abs(report["tempo_bpm_last"] - 132.0) < 0.5 and report["tempo_source"] == "clock"
    first = s.model_onsets()[0]
    assert abs(grid.offset_to_beat_s(first)) < 0.005
    assert s.engine.context_notes()[0].pitch in {n.pitch for n in on_grid_phrase(grid, 4)}


@pytest.mark.parametrize("before,after", [(100.0, 140.0), (140.0, 90.0)])
def test_a_tempo_change_mid_transport_reaches_the_replies_the_screen_and_the_report(before, after):
    """Issue 27 item 1, live path: the DAW goes from `before` to `after` bpm on beat 8 with no Stop. The reply to a
    phrase played after the change starts on the new grid (within 0.03 beats), the screen's tempo (the engine's
    snapshot) and the report's last tempo are the new one (they stayed near the old: 132 -> 90 showed 135)."""
    change = 8 * 60.0 / before
    s = TimedSession(tempo=TempoConfig(sync="clock"), silence_threshold_s=0.3)
    s.add_clock(before, 0.0, change - 1e-6, start_at=-0.001)
    s.add_clock(after, change, 14.0)
    new = BeatGrid(after, change)
    s.play(on_grid_phrase(new, 4))
    s.run_until(12.0)
    snap = s.engine.snapshot()
    report = s.engine.stop()
    phrase_end = max(n.end_s for n in on_grid_phrase(new, 4))
    first = s.model_onsets(after=phrase_end)[0]
    assert abs(new.offset_to_beat_s(first)) / new.period_s < 0.03, (first, new.offset_to_beat_s(first))
    assert abs(snap.tempo_bpm - after) < 0.5 and abs(report["tempo_bpm_last"] - after) < 0.5, (snap, report)
    assert report["stuck_notes"] == 0


def _clock_warnings(caplog):
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING and "clock" in r.getMessage()]


def test_a_stop_is_not_reported_as_a_missing_clock(caplog):
    """Issue 27 item 3: about 1 s after a DAW's Stop (its clock stops with the transport) the session warned `no MIDI
    clock arriving after 5 s`. After Stop nothing is missing: no warning."""
    s = TimedSession(tempo=TempoConfig(sync="clock"))
    s.add_clock(120.0, 0.0, 6.0, start_at=-0.001)
    s.send(6.0, mido.Message("stop"))
    with caplog.at_level(logging.WARNING):
        s.run_until(10.0)
    assert _clock_warnings(caplog) == []
    s.engine.stop()


def test_a_clock_that_never_comes_or_stops_while_running_is_said_once(caplog):
    s = TimedSession(tempo=TempoConfig(sync="clock"))
    with caplog.at_level(logging.WARNING):
        s.run_until(7.0)
        assert [w.split(";")[0] for w in _clock_warnings(caplog)] == ["--sync clock: no MIDI clock arriving after 5 s"]
        caplog.clear()
        s.add_clock(120.0, 7.0, 9.0, start_at=7.0)  # comes, then stops with no Stop (a cable, a crashed DAW)
        s.run_until(12.0)
    assert len(_clock_warnings(caplog)) == 1 and "stopped without a Stop" in _clock_warnings(caplog)[0]
    s.engine.stop()


def test_transport_stop_silences_at_once_and_start_resumes_a_duet():
    s = TimedSession(mode="duet", tempo=TempoConfig(sync="clock"), clock_bpm=120.0, start_at=0.5)
    s.run_until(3.0)  # the DAW's Start starts the duet: no human note needed
    assert s.model_onsets(after=0.5), "Start did not start the duet"
    s.send(3.0, mido.Message("stop"))
    s.run_until(3.01)
    assert s.sink.sounding == 0
    s.run_until(5.0)
    assert not s.model_onsets(after=3.0), "played after Stop"
    s.send(5.0, mido.Message("continue"))
    s.run_until(7.0)
    assert s.model_onsets(after=5.0), "Continue did not resume"
    assert s.engine.stop()["stuck_notes"] == 0


def test_stop_ends_a_call_response_reply():
    s = TimedSession(tempo=TempoConfig(sync="clock"), clock_bpm=120.0, start_at=0.0, silence_threshold_s=0.3)
    s.play(on_grid_phrase(BeatGrid(120.0, 0.0), 2, n=12))
    s.run_until(5.0)
    replying = s.model_onsets(after=4.0)
    assert replying
    s.send(5.0, mido.Message("stop"))
    s.run_until(9.0)
    assert not s.model_onsets(after=5.0) and s.sink.sounding == 0
    assert s.engine.stop()["barge_ins"] == 0


@pytest.mark.parametrize("where,nth", [("decide", 0), ("generate", 0), ("generate", 1)])
def test_a_stop_while_a_reply_is_decided_or_generated_keeps_it_silent(where, nth):
    """The DAW's Stop lands (from the MIDI callback thread) while the worker decides to reply or generates a
    window: nothing of that reply sounds, and nothing is left sounding."""
    s = TimedSession(tempo=TempoConfig(sync="clock"), clock_bpm=120.0, start_at=0.0, silence_threshold_s=0.3)
    mode = s.engine._mode
    owner, name = (mode.context, "hear_sounding") if where == "decide" else (mode, "generate")
    inner, calls = getattr(owner, name), []

    def and_stop(*args):
        out = inner(*args)
        calls.append(s.clock.now())
        if len(calls) == nth + 1:
            s.engine.on_message(mido.Message("stop"), s.clock.now())
        return out

    setattr(owner, name, and_stop)
    s.play(on_grid_phrase(BeatGrid(120.0, 0.0), 2, n=12))
    s.run_until(8.0)
    assert len(calls) > nth, f"no {where} call"
    assert not s.model_onsets(after=calls[nth]), "notes of a reply the Stop interrupted sounded"
    assert s.sink.sounding == 0
    assert s.engine.stop()["stuck_notes"] == 0


def test_duet_hears_its_own_onsets_with_the_tracker():
    s = TimedSession(mode="duet", tempo=TempoConfig(sync="human"))
    s.play(on_grid_phrase(BeatGrid(110.0, 0.0), 0, n=10))
    s.run_until(12.0)
    assert s.engine.stop()["tempo_source"] in ("human", "off")  # the mock's walk may or may not be periodic


@pytest.mark.parametrize("bpm,bar", [(96.0, None), (120.0, 0.1), (160.0, 0.35)])
def test_the_file_beats_land_on_the_grid(bpm, bar):
    aligner = BeatAligner()
    grid = BeatGrid(bpm, 0.1 if bar is None else bar)
    changes = aligner.update(1.234, grid, bar)
    assert len(changes) == 2 and changes[1][1] == bpm
    for k in range(5, 40):
        b = aligner.file_beats(grid.beat_s + k * grid.period_s + 2 * grid.period_s * 8)
        assert abs(b - round(b)) < 1e-6
    if bar is not None:
        assert round(aligner.file_beats(bar + 32 * grid.period_s)) % 4 == 0
    assert aligner.update(3.0, grid, bar) == []  # in sync: nothing more to write
    moved = BeatGrid(bpm * 1.05, grid.beat_s)
    assert len(aligner.update(5.0, moved)) == 2


def test_the_recording_carries_the_tempo_and_its_beats(tmp_path):
    path = tmp_path / "s.mid"
    rec = RecorderSink(path)
    s = TimedSession(tempo=TempoConfig.from_options("off", 90.0), sinks=[rec], silence_threshold_s=0.3)
    grid = BeatGrid(90.0, 0.0)
    s.play(on_grid_phrase(grid, 3))
    s.run_until(8.0)
    s.engine.stop()
    rec.close()
    midi = mido.MidiFile(str(path))
    tempos = [m.tempo for m in midi.tracks[0] if m.type == "set_tempo"]
    assert any(abs(mido.tempo2bpm(t) - 90.0) < 0.01 for t in tempos)
    human = next(tr for tr in midi.tracks if any(getattr(m, "name", "") == "human" for m in tr))
    tick, ons = 0, []
    for m in human:
        tick += m.time
        if m.type == "note_on" and m.velocity > 0:
            ons.append(tick)
    eighth = midi.ticks_per_beat / 2
    assert ons and all(abs(t / eighth - round(t / eighth)) * eighth <= 2 for t in ons), ons


@pytest.mark.parametrize("bpm", [104.0, 138.0])
def test_the_recorded_tempo_map_is_the_clock_s_from_the_first_bar(tmp_path, bpm):
    """Issue 27 item 2: under a DAW's clock at 104 bpm the recording's tempo events read 120, 113, 104 (138: 120, 162,
    138), a ramp that never happened. The file opens at the clock's tempo once a whole window of clock is in, and
    nothing else is written; the DAW's bars are the file's (the human's phrase from a downbeat starts on a bar
    line), and the notes played before the tempo was known sit on the file's beats too."""
    path = tmp_path / "s.mid"
    rec = RecorderSink(path)
    start = 0.7  # the DAW's Start, its downbeat: the session's time 0 is on no beat of it
    s = TimedSession(tempo=TempoConfig(sync="clock"), sinks=[rec], silence_threshold_s=0.3)
    s.add_clock(bpm, start, 14.0, start_at=start - 0.001)
    grid = BeatGrid(bpm, start)
    early = on_grid_phrase(grid, 1, n=2)  # before the tempo is known (two beats of clock)
    s.play(early + on_grid_phrase(grid, 8, n=8))  # bar 3's downbeat
    s.run_until(12.0)
    s.engine.stop()
    rec.close()
    midi = mido.MidiFile(str(path))
    tempos = [mido.tempo2bpm(m.tempo) for m in midi.tracks[0] if m.type == "set_tempo"]
    assert tempos == [pytest.approx(bpm, abs=0.01)], tempos
    _, ons = _recorded_onsets(midi)
    eighth, bar = midi.ticks_per_beat / 2, 4 * midi.ticks_per_beat
    assert len(ons) == 10 and all(abs(t / eighth - round(t / eighth)) * eighth <= 2 for t in ons), ons
    assert abs(ons[2] / bar - round(ons[2] / bar)) * bar <= 2, (ons[2], bar)


def test_the_file_waits_in_seconds_for_its_first_tempo(tmp_path):
    """Before its first tempo a recording keeps its events in seconds (a snapshot reads them at 120 bpm); the tempo
    opens the file with its lead, every event keeping its time; with no tempo for `MAX_PENDING` events it opens at
    120 bpm and later tempi are changes."""
    midi = IncrementalMidi(("human",))
    midi.note("human", 0.3, 0, 60, 90)
    midi.note("human", 0.8, 0, 60, 0)
    path = tmp_path / "a.mid"
    path.write_bytes(midi.to_bytes(1.0))
    assert [(n.onset_s, n.duration_s) for n in read_midi_tracks(path)["human"]] == [
        pytest.approx((0.3, 0.5), abs=1e-3)]
    assert midi.open_tempo(90.0, 0.2) and not midi.open_tempo(100.0, 0.0)
    midi.note("human", 2.0, 0, 62, 90)
    path.write_bytes(midi.to_bytes(3.0))
    tempos = [m.tempo for m in mido.MidiFile(str(path)).tracks[0] if m.type == "set_tempo"]
    assert [mido.tempo2bpm(t) for t in tempos] == [pytest.approx(90.0)]
    assert [n.onset_s for n in read_midi_tracks(path)["human"]] == pytest.approx([0.5, 2.2], abs=1e-3)
    busy = IncrementalMidi(("human",))
    for i in range(MAX_PENDING):
        busy.control("human", i * 0.01, 0, 64, 127 * (i % 2))
    assert busy.opened and not busy.open_tempo(90.0, 0.0)


def _recorded_onsets(midi):
    human = next(tr for tr in midi.tracks if any(getattr(m, "name", "") == "human" for m in tr))
    tick, ons = 0, []
    for m in human:
        tick += m.time
        if m.type == "note_on" and m.velocity > 0:
            ons.append(tick)
    return human, ons


def test_bad_tempo_options_are_one_line_errors():
    with pytest.raises(ValueError, match="--bpm must be in"):
        TempoConfig.from_options("auto", 0.0)
    with pytest.raises(ValueError, match="does not go with --sync clock"):
        TempoConfig.from_options("clock", 120.0)
    with pytest.raises(ValueError, match="unknown --sync"):
        TempoConfig.from_options("metronome")


def test_the_reply_timings_name_what_the_player_hears():
    """Issue 27 item 8: the time from the phrase's end to the first reply note (what the player hears) = the silence
    threshold + the wait for the beat + the engine's latency; `reply_ms` (old readers) = beat wait + engine."""
    s = TimedSession(tempo=TempoConfig.from_options("off", 100.0), silence_threshold_s=0.3)
    grid = BeatGrid(100.0, 0.0)
    notes = on_grid_phrase(grid, 1)
    s.play(notes)
    s.run_until(6.0)
    release = max(n.end_s for n in notes)
    first = s.model_onsets()[0]
    report = s.engine.stop()
    heard, wait, engine = (report[f"{k}_ms_p50"] for k in ("phrase_to_reply", "beat_wait", "engine_latency"))
    assert abs(heard - (first - release) * 1e3) < 0.01
    assert wait > 20  # the release is off the beat: the reply waited for the next one
    assert abs(heard - (300 + wait + engine)) < 0.01 and 0 <= engine < 5
    assert abs(report["reply_ms_p50"] - (wait + engine)) < 0.01
    assert abs(s.engine.snapshot().last_heard_ms - heard) < 0.01
    text = format_report(report)
    assert f"heard after your phrase p50 {heard:.1f} ms" in text and "wait for the beat" in text
    assert "engine latency" in text and "reply latency" not in text
