"""Shared helpers for the real-time tests: a simulated session driver, a phrase, balanced-note checks."""

from __future__ import annotations

import mido
import pytest

from tatumflow.generate.controls import Controls
from tatumflow.generate.mock import mock_generator
from tatumflow.notes import Note, note_messages
from tatumflow.realtime.engine.clock import SimClock
from tatumflow.realtime.engine.config import EngineConfig
from tatumflow.realtime.engine.engine import build_engine
from tatumflow.realtime.ports.sinks import MODEL, MemorySink

__all__ = ["SimSession", "assert_balanced", "note_messages", "phrase", "sounding_notes"]


def phrase(start_s: float = 0.2, n: int = 6, gap_s: float = 0.2, pitch: int = 60) -> list[Note]:
    return [Note(start_s + i * gap_s, 0.15, pitch + (i * 3) % 12, 80) for i in range(n)]


class SimSession:
    """Drives an engine on a simulated clock: deliver input, step the worker, send what is due."""

    def __init__(self, mode: str = "call-response", generator=None, controls: Controls | None = None, prompt=(),
                 clock: SimClock | None = None, build: dict | None = None, sinks=(), **config) -> None:
        """`config`: EngineConfig's fields; `build`: build_engine's other arguments (tempo, form, count_in...);
        `sinks`: more outputs beside the memory sink."""
        self.clock = clock or SimClock()
        self.sink = MemorySink()
        self.engine = build_engine(generator or mock_generator(), [self.sink, *sinks],
                                   config=EngineConfig(mode=mode, **config), controls=controls, prompt=prompt,
                                   clock=self.clock, **(build or {}))
        self.inbox: list[tuple[float, mido.Message]] = []

    def play(self, notes) -> None:
        self.inbox = sorted(self.inbox + note_messages(notes), key=lambda m: m[0])

    def run_until(self, t_end: float, dt: float = 0.002) -> None:
        while self.clock.now() < t_end:
            now = self.clock.now()
            while self.inbox and self.inbox[0][0] <= now:
                t, msg = self.inbox.pop(0)
                self.engine.on_message(msg, t)
            self.engine.tick(now)
            self.clock.advance(dt)

    def model_messages(self) -> list[tuple[float, mido.Message]]:
        return [(t, m) for t, track, m in self.sink.messages if track == MODEL]

    def model_onsets(self, after: float = -1.0) -> list[float]:
        return [t for t, m in self.model_messages() if m.type == "note_on" and m.velocity > 0 and t >= after]

    def drive(self, schedule: list, end_s: float, dt: float, set_controls) -> dict:
        """Play a fuzz schedule ((t, "msg" | "controls" | "disconnect", payload), test_fuzz_engine._schedule) until
        `end_s`, `set_controls(controls, payload)` turning the knobs; the engine's report once stopped."""
        while self.clock.now() < end_s:
            now = self.clock.now()
            while schedule and schedule[0][0] <= now:
                _, what, payload = schedule.pop(0)
                if what == "msg":
                    self.engine.on_message(payload, now)
                elif what == "controls":
                    self.engine.set_controls(set_controls(self.engine.controls, payload))
                else:
                    self.engine.on_disconnect(now)
            self.engine.tick(now)
            self.clock.advance(dt)
        return self.engine.stop()


def sounding_notes(messages) -> dict[tuple[int, int], int]:
    """(channel, pitch) -> note-ons still without their note-off at the end of `messages` ((t, msg) pairs)."""
    sounding: dict[tuple[int, int], int] = {}
    for _, m in messages:
        if m.type not in ("note_on", "note_off"):
            continue
        key = (m.channel, m.note)
        if m.type == "note_on" and m.velocity > 0:
            sounding[key] = sounding.get(key, 0) + 1
        else:
            sounding[key] = max(sounding.get(key, 0) - 1, 0)
    return {k: v for k, v in sounding.items() if v}


def assert_balanced(messages) -> None:
    """Every note-on has its note-off, in order, per (channel, pitch); nothing sounds at the end."""
    stuck = sounding_notes(messages)
    assert not stuck, f"stuck notes (channel, pitch): {stuck}"


@pytest.fixture
def sim() -> type[SimSession]:
    return SimSession
