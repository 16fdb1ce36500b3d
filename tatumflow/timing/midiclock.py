"""MIDI clock in (a DAW is master) and out (TatumFlow is master): 24 clocks per quarter note.

`ClockFollower` reads the realtime messages as they arrive (`clock`, `start`, `stop`, `continue`,
`songpos`) with their arrival stamps and keeps a `BeatGrid`: the tempo from a least-squares line through the
last `window_clocks` clock stamps (MIDI clock jitters by a millisecond or more per tick; a line through two beats'
worth of ticks averages it out), the beat phase from the clock count since Start (or the Song Position
Pointer: 1 MIDI beat = 6 clocks = a 16th note). It knows nothing of ports: the engine feeds it.

`ClockSender` makes the messages a DAW follows: `start`, then a `clock` every 1/24 beat at the grid's tempo,
`stop` at the end.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .grid import MAX_BPM, MIN_BPM, BeatGrid

PPQN = 24  # MIDI clocks per quarter note
CLOCKS_PER_SONGPOS = 6  # a Song Position Pointer unit (a "MIDI beat") is a 16th note
TRANSPORT = ("start", "stop", "continue", "songpos", "clock")


@dataclass
class TransportEvent:
    kind: str  # "start", "stop", "continue"
    t_s: float


class ClockFollower:
    """Follows an incoming MIDI clock; `grid` is None until a tempo can be read (two beats of clock by default)."""

    def __init__(self, window_clocks: int = 48, on_transport: Callable[[TransportEvent], None] | None = None,
                 timeout_s: float = 1.0) -> None:
        if window_clocks < 4:
            raise ValueError(f"window_clocks must be >= 4, got {window_clocks}")
        self.window_clocks = window_clocks
        self.on_transport = on_transport
        self.timeout_s = timeout_s
        self._stamps: deque[tuple[int, float]] = deque(maxlen=window_clocks)  # (tick, arrival s)
        self.count = 0  # song position in clocks: since Start, or where the Song Position Pointer set it
        self._ticks = 0  # every clock received
        self._beat_tick: int | None = None  # the tick at the latest song position on a beat (24k)
        self._beat_count = 0  # the song position (clocks) at that tick
        self._line: tuple[float, float, int] | None = None  # the last fit: (s per clock, time at tick, tick)
        self._fresh = True  # the next clock is the song position `count` itself (after Start / Continue / SPP)
        self.running = False
        self.last_clock_s: float | None = None
        self.grid: BeatGrid | None = None

    def feed(self, kind: str, t_s: float, songpos: int | None = None) -> None:
        """One realtime message: its mido type, its arrival time, and for `songpos` the position."""
        if kind == "clock":
            self._clock(t_s)
        elif kind == "start":
            self.count, self.running, self._beat_tick, self._fresh = 0, True, None, True
            self._notify("start", t_s)
        elif kind == "continue":
            self.running, self._fresh = True, True
            self._notify("continue", t_s)
        elif kind == "stop":
            self.running = False
            self._notify("stop", t_s)
        elif kind == "songpos" and songpos is not None:
            self.count, self._fresh = songpos * CLOCKS_PER_SONGPOS, True

    def alive(self, now_s: float) -> bool:
        """Whether clock is arriving (a tick within `timeout_s`)."""
        return self.last_clock_s is not None and now_s - self.last_clock_s <= self.timeout_s

    def bar_s(self, beats_per_bar: int = 4) -> float | None:
        """The time of a bar's first beat (song position a multiple of `beats_per_bar` beats), when running."""
        if self.grid is None or not self.running or self._beat_tick is None:
            return None
        beat = self._beat_count // PPQN
        return self.grid.beat_s - (beat % beats_per_bar) * self.grid.period_s

    def _notify(self, kind: str, t_s: float) -> None:
        if self.on_transport is not None:
            self.on_transport(TransportEvent(kind, t_s))

    def _clock(self, t_s: float) -> None:
        # Clock keeps coming while the transport is stopped: it always gives the tempo; only a running transport
        # advances the song position (Start, then the first clock is beat 0, the downbeat).
        if self.last_clock_s is not None and t_s - self.last_clock_s > self.timeout_s:
            self._stamps.clear()  # clock stopped and came back: the gap is not a tempo
            self._line = None
        idx = self._index(t_s)
        steps, self._ticks = idx - self._ticks, idx
        if self.running:
            n = 1 if self._fresh else steps  # 0: a late clock of a burst; 2+: clocks were lost on the way
            self._fresh = False
            for k in range(n):
                if (self.count + k) % PPQN == 0:
                    self._beat_tick, self._beat_count = idx - (n - 1 - k), self.count + k
            self.count += n
        self._stamps.append((self._ticks, t_s))
        self.last_clock_s = t_s
        if len(self._stamps) >= min(self.window_clocks, 2 * PPQN) // 2:
            self.grid = self._fit()

    def _index(self, t_s: float) -> int:
        """The clock's tick number: counted until a tempo is known, then read off the last fit's line, so that a
        clock lost on the way (a busy receiver misses a JACK cycle) does not shift the song position, and a late one
        does not either (it may share its number with the next)."""
        if self._line is None:
            return self._ticks + 1
        slope, t_ref, tick_ref = self._line
        return max(self._ticks, tick_ref + round((t_s - t_ref) / slope))

    def _fit(self) -> BeatGrid | None:
        ticks = np.array([c for c, _ in self._stamps], dtype=float)
        times = np.array([t for _, t in self._stamps])
        slope, intercept = np.polyfit(ticks - ticks[-1], times, 1)  # seconds per clock, time of the latest tick
        if slope <= 0:
            return self.grid
        self._line = (float(slope), float(intercept), int(ticks[-1]))
        bpm = 60.0 / (slope * PPQN)
        if not MIN_BPM <= bpm <= MAX_BPM:
            return self.grid
        # Running: beats are the ticks at song positions 24k. Stopped: the tempo holds, the phase is the latest tick.
        anchor = self._beat_tick if self.running and self._beat_tick is not None else ticks[-1]
        return BeatGrid(bpm, float(intercept + slope * (anchor - ticks[-1])), "clock", 1.0)


class ClockSender:
    """The times of outgoing clock ticks for a grid: 24 a beat, the first on the first beat at or after a start."""

    def __init__(self, grid: BeatGrid, start_s: float) -> None:
        self.grid = grid
        self.origin_s = grid.next_beat(start_s)  # so that the DAW's bar lines up with the engine's beats
        self.sent = 0

    def set_grid(self, grid: BeatGrid) -> None:
        """A new tempo from the next tick on: ticks continue from the last one sent at the new period."""
        if self.sent == 0:
            self.grid, self.origin_s = grid, grid.next_beat(self.origin_s)
            return
        last = self.tick_time(self.sent - 1)
        self.grid = grid
        self.origin_s = last - (self.sent - 1) * grid.period_s / PPQN

    def tick_time(self, i: int) -> float:
        return self.origin_s + i * self.grid.period_s / PPQN

    def due(self, until_s: float) -> list[float]:
        """Times of the ticks not yet sent with time <= until_s (the caller sends them; they count as sent)."""
        out = []
        while self.tick_time(self.sent) <= until_s:
            out.append(self.tick_time(self.sent))
            self.sent += 1
        return out
