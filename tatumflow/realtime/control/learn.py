"""MIDI learn (`jam --learn`): move a knob, then choose the control it should turn; the map is written as TOML.

`Learner` is the logic (fed CC messages from the MIDI callback, and the musician's answers as lines of text), so a
test drives it without a terminal; `run_learn` opens the port and talks on stdin/stdout. It starts from the map in
`--controls FILE` when that exists (else the default map) and writes FILE.
"""

from __future__ import annotations

import contextlib
import queue
import select
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

import mido

from ...notes import SUSTAIN_CC
from .ccmap import TARGETS, CcMap, load_map, write_map

SETTLE_S = 0.3  # a knob turned sends a burst of CCs: wait this long after the last one
DONE = ("", "done", "q", "quit")


class Learner:
    def __init__(self, start: CcMap, out: Callable[[str], None] = print) -> None:
        self.map, self.out = start, out
        self.ccs: queue.Queue[int] = queue.Queue()
        self.learned: dict[str, int] = {}

    def on_message(self, msg: mido.Message, t_s: float = 0.0) -> None:
        """From the MIDI callback: a CC moved (the sustain pedal is playing, never a control)."""
        if msg.type == "control_change" and msg.control != SUSTAIN_CC:
            self.ccs.put(msg.control)

    def next_cc(self, timeout_s: float, stop: Callable[[], bool] = lambda: False) -> int | None:
        """The CC of the next knob moved (after its burst settles), None after `timeout_s` or when `stop()`."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and not stop():
            try:
                cc = self.ccs.get(timeout=0.05)
            except queue.Empty:
                continue
            settle = time.monotonic() + SETTLE_S
            while time.monotonic() < settle:
                with contextlib.suppress(queue.Empty):
                    cc = self.ccs.get(timeout=SETTLE_S / 3)
            return cc
        return None

    def assign(self, cc: int, answer: str) -> str | None:
        """The musician's answer for `cc`: a control name or its number in the list. Returns the control."""
        answer = answer.strip()
        if answer.isdigit() and 1 <= int(answer) <= len(TARGETS):
            answer = TARGETS[int(answer) - 1]
        if answer not in TARGETS:
            self.out(f"  {answer!r} is no control; CC {cc} left as it was")
            return None
        self.map = self.map.with_cc(answer, cc)
        self.learned[answer] = cc
        self.out(f"  CC {cc} -> {answer}")
        return answer

    def menu(self) -> str:
        return "  ".join(f"{i}:{name}" for i, name in enumerate(TARGETS, 1))


def _stdin_has_line(stream: TextIO) -> bool:
    try:
        ready, _, _ = select.select([stream], [], [], 0)
    except (ValueError, OSError, TypeError):
        return False
    return bool(ready)


def learn_loop(learner: Learner, stream: TextIO, timeout_s: float = 600.0) -> None:
    """Move a knob, answer which control; `done` (or an empty line, or end of input) while waiting finishes."""
    learner.out(f"controls: {learner.menu()}")
    early: list[str] = []  # an answer typed before its knob moved
    while True:
        learner.out("move a knob (or type done)...")
        finished: list[bool] = []

        def stop(finished: list[bool] = finished) -> bool:
            if not early and _stdin_has_line(stream):
                line = stream.readline()
                if not line or line.strip().lower() in DONE:
                    finished.append(True)
                else:
                    early.append(line)
            return bool(finished)

        cc = learner.next_cc(timeout_s, stop)
        if cc is None:
            return
        learner.out(f"CC {cc} moved: which control? (name or number; empty: skip)")
        answer = early.pop() if early else stream.readline()
        if not answer:
            return
        if answer.strip():
            learner.assign(cc, answer)


def run_learn(inp: str, api: str | None, controls_file: Path, stream: TextIO | None = None) -> CcMap:
    """Open `inp`, learn until done, write `controls_file`; returns the map."""
    from ..engine.clock import MonotonicClock
    from ..ports.midi_io import MidiInput

    start = load_map(controls_file if controls_file.is_file() else None)
    learner = Learner(start, lambda line: print(line, flush=True))
    with MidiInput(inp, learner.on_message, MonotonicClock(), api):
        learn_loop(learner, stream or sys.stdin)
    write_map(learner.map, controls_file)
    learner.out(f"wrote {controls_file} ({len(learner.learned)} learned); play with "
                f"`tatumflow jam --controls {controls_file}`")
    return learner.map
