"""`--clock-out` and `--clock-in`: MIDI clock to the output ports (a DAW follows TatumFlow), clock from another port.

`ClockOut` is a small thread of its own: once the session has a grid it sends Start on a beat, then a clock every
1/24 beat at the current tempo (`timing.midiclock.ClockSender`: a new tempo takes effect from the next tick, ticks
never jump), and Stop when the session ends. Waits use the session clock's `sleep_until` (sleep, then spin the last
millisecond), as the scheduler's do. The session's `Outputs` sends it where clock goes (the ports; the synth and the
recorder have no use for it).
"""

from __future__ import annotations

import contextlib
import logging
import threading

from ...timing.midiclock import ClockSender
from ..engine.clock import promote_input_thread
from ..engine.tempo import TimeKeeper
from ..ports.midi_io import MidiInput
from ..ports.outputs import Outputs

log = logging.getLogger(__name__)
RETEMPO = 0.001  # a tempo change smaller than this (relative) keeps the ticks as they are
IDLE_S = 0.05


class ClockOut:
    def __init__(self, time: TimeKeeper, outputs: Outputs, clock) -> None:
        self.time, self.clock, self.outputs = time, clock, outputs
        self.sent = 0
        self.started = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _send(self, kind: str, t_s: float) -> None:
        self.outputs.clock(kind, t_s)

    def _next(self, sender: ClockSender | None) -> ClockSender | None:
        """The sender for the current grid (None while there is no tempo)."""
        grid = self.time.grid
        if grid is None:
            return sender
        if sender is None:
            return ClockSender(grid, self.clock.now() + IDLE_S)
        if abs(grid.bpm / sender.grid.bpm - 1) > RETEMPO:
            sender.set_grid(grid)
        return sender

    def _run(self) -> None:
        sender: ClockSender | None = None
        while not self._stop.is_set():
            sender = self._next(sender)
            if sender is None:
                self._stop.wait(IDLE_S)
                continue
            t_s = sender.tick_time(sender.sent)
            self.clock.sleep_until(t_s, self._stop)
            if self._stop.is_set():
                break
            if not self.started:
                self._send("start", t_s)
                self.started = True
            self._send("clock", t_s)
            sender.sent += 1
            self.sent += 1

    def start(self) -> ClockOut:
        self._thread = threading.Thread(target=self._run, name="tatumflow-clock-out", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
        if self.started:
            self._send("stop", self.clock.now())
        log.info("clock out: %d clocks sent", self.sent)

    def __enter__(self) -> ClockOut:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def open_time_ports(engine, api: str | None, clock_in: str | None, clock_out: bool,
                    stack: contextlib.ExitStack, reader: str | None = None) -> None:
    """`--clock-in PORT`: a second input whose realtime messages go to the tempo source (nothing else from it);
    `--clock-out`: `ClockOut` on the engine's outputs. Both close with `stack`."""
    if clock_in is not None:
        stack.enter_context(MidiInput(clock_in, engine.time.feed, engine.clock, api, reader=reader,
                                      on_thread=promote_input_thread))
    if clock_out:
        if not engine.outputs.carry_clock:
            raise ValueError("--clock-out needs a MIDI port output (--out virtual or a port name)")
        stack.enter_context(ClockOut(engine.time, engine.outputs, engine.clock))
