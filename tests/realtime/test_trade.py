"""Trading over the form (`jam --mode trade`): the turn rules alone (TradeTurns, pure), then the mode in an engine on
a simulated clock: TatumFlow answers on the bar line after the player's turn and is quiet by the next one, a player
who plays on keeps the turn, nothing sticks."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tatumflow.generate.controls import Controls
from tatumflow.generate.mock import mock_generator
from tatumflow.notes import Note, note_messages
from tatumflow.realtime.engine.clock import SimClock
from tatumflow.realtime.engine.config import EngineConfig
from tatumflow.realtime.engine.engine import build_engine
from tatumflow.realtime.engine.report import format_report
from tatumflow.realtime.engine.tempo import TempoConfig
from tatumflow.realtime.engine.trade import END_MARGIN_S, MIN_NOTE_S, TradeTurns, clip_to, parse_trade
from tatumflow.realtime.ports.sinks import MemorySink
from tatumflow.timing.form import Changes
from tatumflow.tunes.chart import parse_chart

from .conftest import SimSession, assert_balanced
from .test_fuzz_engine import FAST, _schedule, stream

FORM = parse_chart("[A]\n| C | Am7 | Dm7 | G7 |\n| C | Am7 | Dm7 G7 | C |\n").form  # 8 bars of 4/4
WALTZ = parse_chart("meter: 3/4\n| C | G7 | G7 | C |\n").form
CHANGES = Changes(FORM, 120.0, 10.0)  # bar 1 at 10 s, a bar is 2 s, a turn of 4 bars 8 s


@pytest.mark.parametrize("text,bars", [("2", 2), ("4", 4), ("8", 8), ("chorus", 0), ("Chorus", 0), ("1", 1)])
def test_trade_lengths(text, bars):
    assert parse_trade(text) == bars


@pytest.mark.parametrize("text", ["0", "-4", "33", "four", "4.5", ""])
def test_a_bad_trade_length_is_one_line(text):
    with pytest.raises(ValueError, match="--trade must be a number of bars"):
        parse_trade(text)


def test_turns_are_n_bars_from_bar_1():
    turns = TradeTurns(4)
    assert turns.turn_at(CHANGES, 10.0).index == 0 and turns.turn_at(CHANGES, 17.99).index == 0
    assert turns.turn_at(CHANGES, 9.99).index == -1
    t1 = turns.turn(CHANGES, 1)
    assert (t1.start_s, t1.end_s) == (18.0, 26.0)
    assert TradeTurns(0).turn(CHANGES, 1).start_s == 10.0 + 16.0  # a chorus: 8 bars
    assert TradeTurns(2).turn(Changes(WALTZ, 120.0, 0.0), 1).start_s == pytest.approx(3.0)  # 2 bars of 3 beats


def test_tatumflow_answers_the_turn_after_the_player_played():
    turns = TradeTurns(4)
    t0, t1, t2 = (turns.turn(CHANGES, i) for i in range(3))
    assert not turns.answers(CHANGES, t1, 17.9)  # the player has not played
    turns.heard([10.0, 12.3, 15.0])
    assert turns.answers(CHANGES, t1, 17.9)
    assert not turns.answers(CHANGES, t0, 10.5)  # bar 1's turn is always the player's
    assert not turns.answers(CHANGES, t2, 25.9)  # TatumFlow played turn 1: turn 2 is the player's


def test_a_phrase_ending_on_the_downbeat_or_a_pickup_keeps_no_turn():
    turns = TradeTurns(4)
    t1, t2 = turns.turn(CHANGES, 1), turns.turn(CHANGES, 2)
    turns.heard([17.6])  # the last beat of the player's turn: a pickup counts for nobody
    assert not turns.answers(CHANGES, t1, 17.9)
    turns.heard([11.0, 18.2])  # 18.2: within half a beat of TatumFlow's bar line, the end of the player's phrase
    assert turns.answers(CHANGES, t1, 18.3)
    turns.heard([25.6])  # a pickup into the player's next turn, during TatumFlow's last beat
    assert turns.answers(CHANGES, t1, 25.9) and not turns.answers(CHANGES, t2, 25.9)
    lo, hi = turns.keep_span(CHANGES, t1)
    assert (lo, hi) == (18.25, 25.5)


def test_a_player_who_plays_on_keeps_the_turn_and_is_answered_after():
    turns = TradeTurns(4)
    t1, t2, t3 = (turns.turn(CHANGES, i) for i in (1, 2, 3))
    turns.heard([12.0, 19.0])  # the player plays on into turn 1
    assert not turns.answers(CHANGES, t1, 19.1)
    assert turns.answers(CHANGES, t2, 25.9)  # so TatumFlow answers turn 2
    assert not turns.answers(CHANGES, t3, 33.9)


def test_answers_are_clipped_to_end_before_the_bar_line():
    notes = [Note(1.0, 0.5, 60, 80), Note(1.8, 0.5, 62, 80), Note(1.985, 0.5, 64, 80)]
    clipped = clip_to(notes, 2.0)
    assert [n.end_s for n in clipped] == [1.5, 2.0]
    assert all(n.duration_s >= MIN_NOTE_S for n in clipped)


# -- the mode in an engine, on a simulated clock --------------------------------------------------------------------

class TradeSession(SimSession):
    """An engine trading fours at a fixed tempo (120 bpm: a bar is 2 s) with a count-in (bar 1 where the form is
    placed)."""

    def __init__(self, bars: str = "4", bpm: float = 120.0) -> None:
        super().__init__("trade", controls=Controls(chart_weight=2.5), trade_bars=parse_trade(bars),
                         build={"tempo": TempoConfig(sync="fixed", bpm=bpm), "form": FORM, "count_in": True})
        self.run_until(0.01)
        assert self.engine.form is not None and self.engine.form.changes is not None
        self.bar1 = self.engine.form.changes.start_s

    def bar(self, k: int) -> float:
        """The time of bar k (1-based, counted on past the form's end)."""
        return self.bar1 + (k - 1) * 2.0

    def play_bars(self, first: int, last: int) -> None:
        """Eighth notes from bar `first` through bar `last`."""
        n = (last - first + 1) * 8
        notes = [Note(self.bar(first) + i * 0.25, 0.2, 64 + (i * 5) % 12, 80) for i in range(n)]
        self.inbox = sorted(self.inbox + note_messages(notes), key=lambda m: m[0])

    def onsets(self, lo: float, hi: float) -> list[float]:
        return [t for t, m in self.model_messages() if m.type == "note_on" and m.velocity > 0 and lo <= t < hi]

    def last_off(self, lo: float, hi: float) -> float:
        return max(t for t, m in self.model_messages() if lo <= t < hi and (m.type == "note_off" or m.velocity == 0))


def test_the_count_in_is_one_bar_on_the_beats_before_bar_1():
    s = TradeSession()
    s.run_until(s.bar1 + 0.1)
    clicks = s.onsets(0.0, s.bar1)
    assert clicks == pytest.approx([s.bar1 - 2.0, s.bar1 - 1.5, s.bar1 - 1.0, s.bar1 - 0.5], abs=0.003)
    pitches = [m.note for t, m in s.model_messages() if m.type == "note_on" and m.velocity > 0 and t < s.bar1]
    assert pitches[0] > pitches[1] == pitches[2] == pitches[3]  # the first beat stands out


def test_trading_fours_answers_on_the_bar_line_and_is_quiet_by_the_next():
    s = TradeSession()
    s.play_bars(1, 4)
    s.play_bars(9, 12)
    s.run_until(s.bar(17) + 0.5)
    for answer in (5, 13):  # TatumFlow's turns: bars 5-8 and 13-16
        ons = s.onsets(s.bar(answer) - 1.0, s.bar(answer + 4))
        assert ons and abs(ons[0] - s.bar(answer)) <= 0.003, (answer, ons[:3])
        last_off = s.last_off(s.bar(answer), s.bar(answer + 4) + 0.5)
        assert last_off <= s.bar(answer + 4) - END_MARGIN_S + 0.003  # (sent at a 2 ms tick)
    for player in (1, 9):
        assert not s.onsets(s.bar(player), s.bar(player + 4))  # the player's turns are the player's
    report = s.engine.report()
    assert report["trades"] == 2 and report["trades_kept"] == 0
    assert report["trade_start_ms_max"] <= 3.0
    assert report["stuck_notes"] == 0
    assert "trades 2  kept by you 0" in format_report(report)
    assert_balanced(s.model_messages())


def test_a_player_who_plays_on_keeps_the_turn_and_tatumflow_answers_the_next():
    s = TradeSession()
    s.play_bars(1, 6)  # into TatumFlow's turn (bars 5-8)
    s.run_until(s.bar(13) + 0.5)
    kept_at = s.bar(5) + 0.25  # the player's first note past the grace (half a beat)
    assert not s.onsets(kept_at + 0.003, s.bar(9)), "TatumFlow played on in a turn the player kept"
    ons = s.onsets(s.bar(9) - 1.0, s.bar(13))
    assert ons and abs(ons[0] - s.bar(9)) <= 0.003  # the next turn is TatumFlow's
    report = s.engine.report()
    assert report["trades_kept"] == 1 and report["trades"] == 2  # turn 1's first note sounded, on its bar line
    assert_balanced(s.model_messages())


def test_trading_a_chorus():
    s = TradeSession("chorus")
    s.play_bars(1, 8)
    s.run_until(s.bar(17) + 0.3)
    ons = s.onsets(s.bar(1) + 0.1, s.bar(17))
    assert ons and abs(ons[0] - s.bar(9)) <= 0.003 and all(t < s.bar(17) for t in ons)


def test_trade_without_a_chart_answers_as_call_response():
    clock, sink = SimClock(), MemorySink()
    engine = build_engine(mock_generator(), [sink], config=EngineConfig(mode="trade"), clock=clock)
    assert type(engine._mode).__name__ == "CallResponse"


@FAST
@given(events=stream, bars=st.sampled_from(["1", "2", "chorus"]))
def test_random_streams_while_trading_leave_nothing_stuck(events, bars):
    """The fuzz of test_fuzz_engine.py (notes, chords, pedal, stray note-offs, disconnects, junk) against trading at
    240 bpm (a bar a second), with the pitch register and the temperature turned meanwhile."""
    s = TradeSession(bars, bpm=240.0)
    schedule = _schedule(events)
    end = (schedule[-1][0] if schedule else 0.0) + 2.5
    report = s.drive(schedule, end, 0.004, lambda c, knobs: replace(c, temperature=knobs[0], pitch_high=60 + knobs[1]))
    assert report["stuck_notes"] == 0 and s.sink.sounding == 0
    assert_balanced(s.model_messages())
    assert_balanced([(t, m) for t, _, m in s.sink.messages])
