"""Random event streams through the real engine on a simulated clock (hypothesis): notes, chords, the sustain pedal,
barge-ins, control changes, keyboard disconnects, in every mode. Whatever comes in: no exception, every note-on
paired with its note-off, messages in time order, nothing sounding after stop."""

from __future__ import annotations

from dataclasses import replace

import mido
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tatumflow.generate.controls import Controls

from .conftest import SimSession, assert_balanced

DT = 0.004  # the simulated worker/send period

event = st.one_of(
    st.tuples(st.just("note"), st.integers(21, 108), st.integers(0, 127), st.floats(0.0, 1.5)),
    st.tuples(st.just("chord"), st.lists(st.integers(21, 108), min_size=2, max_size=8), st.integers(1, 127),
              st.floats(0.0, 1.0)),
    st.tuples(st.just("pedal"), st.integers(0, 127)),
    st.tuples(st.just("off"), st.integers(21, 108)),  # a note-off nobody pressed
    st.tuples(st.just("controls"), st.floats(0.3, 1.5), st.integers(1, 32)),
    st.tuples(st.just("disconnect"),),
    st.tuples(st.just("junk"), st.sampled_from(["pitchwheel", "aftertouch", "clock", "sysex", "program_change"])),
)
stream = st.lists(st.tuples(st.floats(0.0, 0.6), event), min_size=1, max_size=40)


def _junk(kind: str) -> mido.Message:
    return {"pitchwheel": mido.Message("pitchwheel", pitch=1000), "aftertouch": mido.Message("aftertouch", value=3),
            "clock": mido.Message("clock"), "sysex": mido.Message("sysex", data=[1, 2, 3]),
            "program_change": mido.Message("program_change", program=5)}[kind]


def _schedule(events) -> list[tuple[float, str, object]]:
    """(time, what, payload) in time order: payload a message, controls, or None (a disconnect)."""
    out, t = [], 0.1
    for gap, ev in events:
        t += gap
        kind = ev[0]
        if kind in ("note", "chord"):
            pitches = [ev[1]] if kind == "note" else ev[1]
            for p in pitches:
                out.append((t, "msg", mido.Message("note_on", note=p, velocity=ev[2])))
                out.append((t + ev[3], "msg", mido.Message("note_off", note=p)))
        elif kind == "pedal":
            out.append((t, "msg", mido.Message("control_change", control=64, value=ev[1])))
        elif kind == "off":
            out.append((t, "msg", mido.Message("note_off", note=ev[1])))
        elif kind == "controls":
            out.append((t, "controls", (ev[1], ev[2])))
        elif kind == "disconnect":
            out.append((t, "disconnect", None))
        else:
            out.append((t, "msg", _junk(ev[1])))
    return sorted(out, key=lambda e: e[0])


def run_stream(mode: str, events) -> SimSession:
    s = SimSession(mode, controls=Controls(), silence_threshold_s=0.3, max_reply_s=2.0)
    schedule = _schedule(events)
    end = (schedule[-1][0] if schedule else 0.0) + 2.5
    report = s.drive(schedule, end, DT, lambda c, knobs: replace(c, temperature=knobs[0], top_k=knobs[1]))
    assert report["stuck_notes"] == 0
    return s


def check(s: SimSession) -> None:
    messages = [(t, m) for t, _, m in s.sink.messages]
    times = [t for t, _ in messages]
    assert times == sorted(times), "messages out of time order"
    model = [(t, m) for t, m in s.model_messages() if m.type in ("note_on", "note_off")]
    assert_balanced(model)
    assert_balanced(messages)
    assert s.sink.sounding == 0


FAST = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SLOW = settings(max_examples=10_000, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.parametrize("mode", ["call-response", "duet", "continue"])
@FAST
@given(events=stream)
def test_random_streams_leave_nothing_stuck(mode, events):
    check(run_stream(mode, events))


@pytest.mark.slow
@SLOW
@given(mode=st.sampled_from(["call-response", "duet", "continue"]), events=stream)
def test_ten_thousand_random_streams(mode, events):
    check(run_stream(mode, events))
