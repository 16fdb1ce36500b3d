"""Flat memory: a long duet simulated offline on the real engine (mock generator, simulated clock, the recorder on),
the human playing all the time; what stays allocated after the warm-up is measured with tracemalloc.

The default suite runs three simulated minutes (~20 s); the full hour (~8 min) is marked slow. The bound is the
issue's: < 5 MB over the hour; what is counted includes the recording itself (~9 kB a minute of encoded MIDI), the
report's per-message reservoirs until they are full (20,000 values each) and the context filling up."""

from __future__ import annotations

import gc
import tracemalloc

import pytest

from tatumflow.notes import note_messages
from tatumflow.realtime.ports.sinks import RecorderSink

from .conftest import SimSession, phrase

DT = 0.01
WARM_UP_S = 60.0


def _human(start_s: float, minutes: float) -> list:
    """Phrases of 8 notes, a rest between them: a busy pianist, ~10 notes a second for `minutes`."""
    notes, t = [], start_s
    while t < start_s + minutes * 60:
        notes += phrase(start_s=t, n=8, gap_s=0.1, pitch=48 + int(t) % 24)
        t += 1.0
    return notes


def _run(s: SimSession, until_s: float, messages: list) -> None:
    while s.clock.now() < until_s:
        now = s.clock.now()
        while messages and messages[-1][0] <= now:
            t, msg = messages.pop()
            s.engine.on_message(msg, t)
        s.engine.tick(now)
        s.clock.advance(DT)


def grown_bytes(tmp_path, minutes: float) -> tuple[int, dict]:
    s = SimSession("duet")
    recorder = RecorderSink(tmp_path / "long.mid", flush_s=3600)  # written at close; the flusher would only add noise
    s.engine.outputs.add(recorder)
    s.sink.keep = False  # the test's own sink keeps nothing: what grows is the engine's
    total_s = WARM_UP_S + minutes * 60
    messages = list(reversed(note_messages(_human(0.2, total_s / 60))))
    _run(s, WARM_UP_S, messages)
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    _run(s, total_s, messages)
    gc.collect()
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    report = s.engine.stop()
    recorder.close()
    grown = sum(stat.size_diff for stat in after.compare_to(before, "filename"))
    top = {str(st.traceback): st.size_diff for st in after.compare_to(before, "lineno")[:5]}
    return grown, {"report": report, "top": top}


def test_three_simulated_minutes_of_duet_keep_memory_flat(tmp_path):
    grown, info = grown_bytes(tmp_path, minutes=3)
    assert info["report"]["notes_sent"] > 1000
    assert grown < 600_000, info["top"]  # measured: ~250 kB in 6 minutes, most of it filling bounded structures


@pytest.mark.slow
def test_one_simulated_hour_of_duet_grows_less_than_5_mb(tmp_path):
    grown, info = grown_bytes(tmp_path, minutes=60)
    assert grown < 5e6, info["top"]
