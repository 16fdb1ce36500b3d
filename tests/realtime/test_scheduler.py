"""Scheduler: timing, re-strikes, cancellation, dropping; every note-on gets its note-off."""

from __future__ import annotations

import random

import pytest

from tatumflow.notes import Note
from tatumflow.realtime.engine.clock import SimClock
from tatumflow.realtime.engine.scheduler import Scheduler
from tatumflow.realtime.ports.sinks import MemorySink

from .conftest import assert_balanced


def make(drop_ms: float = 20.0):
    clock = SimClock()
    sink = MemorySink()
    return clock, sink, Scheduler([sink], clock, drop_tolerance_s=drop_ms / 1e3)


def run(clock, sched, until: float, dt: float = 0.001) -> None:
    while clock.now() < until:
        sched.run_due(clock.now())
        clock.advance(dt)


def msgs(sink):
    return [(t, m) for t, _, m in sink.messages]


def test_sends_in_time_order_and_balanced():
    clock, sink, sched = make()
    sched.plan([Note(0.1, 0.2, 60, 90), Note(0.05, 0.5, 64, 80)])
    run(clock, sched, 1.0)
    kinds = [(m.type, m.note) for _, m in msgs(sink)]
    assert kinds == [("note_on", 64), ("note_on", 60), ("note_off", 60), ("note_off", 64)]
    assert max(sched.stats.lateness_ms) <= 1.0
    assert_balanced(msgs(sink))


def test_every_sent_message_is_reported_to_on_sent_and_each_group_start_once():
    clock, sink = SimClock(), MemorySink()
    sent, starts = [], []
    sched = Scheduler([sink], clock, on_sent=lambda msg, t: sent.append((t, msg)),
                      on_group_start=lambda group, t: starts.append((group, t)))
    sched.plan([Note(0.1, 0.2, 60, 90), Note(0.2, 0.2, 62, 90)], group=7)
    sched.plan([Note(0.5, 0.1, 64, 90)], group=8)
    run(clock, sched, 1.0)
    assert [m for _, m in sent] == [m for _, _, m in sink.messages] and len(sent) == 6
    assert [g for g, _ in starts] == [7, 8] and starts[0][1] == pytest.approx(0.1, abs=0.002)


def test_restruck_pitch_ends_the_earlier_note_first():
    clock, sink, sched = make()
    sched.plan([Note(0.1, 1.0, 60, 90)])
    sched.plan([Note(0.3, 0.2, 60, 90), Note(0.3005, 0.2, 60, 90)])  # the second is a duplicate: dropped
    run(clock, sched, 1.5)
    seq = [m.type for _, m in msgs(sink)]
    assert seq == ["note_on", "note_off", "note_on", "note_off"]
    assert_balanced(msgs(sink))


def test_past_onsets_are_never_planned():
    clock, sink, sched = make()
    clock.advance(1.0)
    assert sched.plan([Note(0.5, 0.2, 60, 90), Note(1.2, 0.2, 62, 90)]) == 1
    assert sched.stats.dropped_notes == 1


def test_late_note_is_dropped_with_its_off():
    clock, sink, sched = make(drop_ms=20)
    sched.plan([Note(0.1, 0.2, 60, 90)])
    clock.advance(0.2)  # the scheduler was stalled for 100 ms past the onset
    run(clock, sched, 1.0)
    assert sink.messages == []
    assert sched.stats.dropped_notes == 1


def test_cancel_from_drops_future_notes_and_ends_sounding_ones_now():
    clock, sink, sched = make()
    sched.plan([Note(0.1, 2.0, 60, 90), Note(0.5, 0.2, 62, 90), Note(1.5, 0.2, 64, 90)])
    run(clock, sched, 1.0)
    assert sched.cancel_from(1.0) == 1
    run(clock, sched, 3.0)
    pitches_on = [m.note for _, m in msgs(sink) if m.type == "note_on"]
    assert pitches_on == [60, 62]
    off_60 = [t for t, m in msgs(sink) if m.type == "note_off" and m.note == 60]
    assert off_60 and off_60[0] <= 1.002
    assert_balanced(msgs(sink))


@pytest.mark.parametrize("seed", range(5))
def test_random_plans_and_cancels_stay_balanced(seed):
    rng = random.Random(seed)
    clock, sink, sched = make()
    t = 0.0
    while t < 5.0:
        start = clock.now() + rng.uniform(0.0, 0.3)
        notes = [Note(start + rng.choice([0, 0.01, 0.05, 0.1]) * k, rng.uniform(0.01, 1.5), rng.randint(60, 64), 80)
                 for k in range(rng.randint(1, 6))]
        sched.plan(notes)
        if rng.random() < 0.3:
            sched.cancel_from(clock.now() + rng.uniform(0, 0.2))
        t += rng.uniform(0.05, 0.4)
        run(clock, sched, t)
    sched.stop()
    sink.all_notes_off()
    assert_balanced(msgs(sink))


def test_cancelled_and_dropped_notes_leave_nothing_behind():
    """A session of barge-ins and late notes keeps the scheduler's memory flat: every planned note is forgotten once
    it is sent, cancelled or dropped."""
    clock, sink, sched = make()
    for i in range(200):
        start = clock.now() + 0.05
        sched.plan([Note(start + 0.01 * k, 0.5, 40 + (i + k) % 40, 80) for k in range(4)])
        sched.cancel_from(start + 0.015)  # two of the four never begin
        if i % 10 == 0:
            clock.advance(0.1)  # a stall: the next due onsets are dropped as late
        run(clock, sched, clock.now() + 0.05)
    run(clock, sched, clock.now() + 2.0)
    assert sched._on_time == {} and sched._offs == {}
    assert_balanced(msgs(sink))
