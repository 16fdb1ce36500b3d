"""MIDI clock in (a DAW is master) and out (TatumFlow is master): 24 clocks per quarter note.

`ClockFollower` reads the realtime messages as they arrive (`clock`, `start`, `stop`, `continue`,
`songpos`) with their arrival stamps and keeps a `BeatGrid`: the tempo from a least-squares line through the
last `window_clocks` clock stamps (MIDI clock jitters by a millisecond or more per tick; a line through two beats'
worth of ticks averages it out), the beat phase from the clock count since Start (or the Song Position
Pointer: 1 MIDI beat = 6 clocks = a 16th note). A tempo change while the transport runs (a step or a DAW's tempo
automation) is followed within two beats, the song position counting on. It knows nothing of ports: the engine
feeds it.

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
CHANGE_CLOCKS = 16  # the latest clocks checked for a tempo change (2/3 of a beat)
STRAIGHT = 0.3  # of a tick: the farthest a clock on one steady tempo lies from its line
CHANGE_TOLERANCE = 0.04  # a steady run of clocks this far off the fitted tempo is a new tempo
MISNUMBERED = 4.0  # consecutive ticks fit the latest clocks this many times better than their numbers: renumber
SIGNIFICANT = 6.0  # and the new tempo is this many standard errors off (the clock's own scatter, measured)
CONFIRM = 3  # clocks in a row that say so


@dataclass
class TransportEvent:
    kind: str  # "start", "stop", "continue"
    t_s: float


class ClockFollower:
    """Follows an incoming MIDI clock; `grid` is None until a tempo can be read (a beat of clock).

    Each clock gets a tick number: counted until a tempo is known, then read off the last fit's line, so that a clock
    lost on the way (a busy receiver misses a JACK cycle) or a late one (it may share its number with the next) does
    not shift the song position. A tempo change would be misread that way (slower ticks look like lost clocks, faster
    ones like a burst, and the line, fitted to those numbers, keeps the old tempo), so every clock the last
    `CHANGE_CLOCKS` arrivals are also fitted as consecutive ticks: when they make one straight line (no lost or late
    clock among them) at a tempo more than `CHANGE_TOLERANCE` and `SIGNIFICANT` standard errors (of the clock's
    measured scatter) off the fit's, or straighter than the numbering does, for `CONFIRM` clocks in a row, the tempo
    changed: the clocks that lie on that line are numbered again, one tick each, and the fit starts from them (what
    came before is the old tempo). Measured (tests/timing, 1 ms jitter): a step between 60 and 200 bpm is read
    within 1 % from 0.7-1.5 beats of the new tempo, a ramp with the lag of half the window; with bursty arrivals
    (a reader waking every 2-10 ms) no change is read where there is none.
    """

    def __init__(self, window_clocks: int = 48, on_transport: Callable[[TransportEvent], None] | None = None,
                 timeout_s: float = 1.0) -> None:
        if window_clocks < 4:
            raise ValueError(f"window_clocks must be >= 4, got {window_clocks}")
        self.window_clocks = window_clocks
        self.on_transport = on_transport
        self.timeout_s = timeout_s
        self._stamps: deque[tuple[int, float]] = deque(maxlen=window_clocks)  # (tick, arrival s)
        self._short = min(CHANGE_CLOCKS, window_clocks)  # the clocks checked for a tempo change
        self._first_fit = max(self._short, min(window_clocks, 2 * PPQN) // 2)  # clocks before a first tempo (a beat)
        self._min_fit = self._first_fit  # clocks to fit now (fewer right after a tempo change)
        self.count = 0  # song position in clocks: since Start, or where the Song Position Pointer set it
        self._ticks = 0  # the latest clock's tick number
        self._anchor: tuple[float, int, int] | None = None  # running: (arrival, tick, song position) of one clock
        self._line: tuple[float, float, int] | None = None  # the last fit: (s per clock, time at tick, tick)
        self._fresh = True  # the next clock is the song position `count` itself (after Start / Continue / SPP)
        self.running = False
        self.last_clock_s: float | None = None
        self.changes = 0  # tempo changes read (the clocks numbered again)
        self._scatter = 0.0  # the arrival scatter around the fit (s, robust)
        self._suspect = 0  # clocks in a row that looked like a new tempo
        self.grid: BeatGrid | None = None

    def feed(self, kind: str, t_s: float, songpos: int | None = None) -> None:
        """One realtime message: its mido type, its arrival time, and for `songpos` the position."""
        if kind == "clock":
            self._clock(t_s)
        elif kind == "start":
            self.count, self.running, self._anchor, self._fresh = 0, True, None, True
            self._notify("start", t_s)
        elif kind == "continue":
            self.running, self._anchor, self._fresh = True, None, True
            self._notify("continue", t_s)
        elif kind == "stop":
            self.running = False
            self._notify("stop", t_s)
        elif kind == "songpos" and songpos is not None:
            self.count, self._anchor, self._fresh = songpos * CLOCKS_PER_SONGPOS, None, True

    def alive(self, now_s: float) -> bool:
        """Whether clock is arriving (a tick within `timeout_s`)."""
        return self.last_clock_s is not None and now_s - self.last_clock_s <= self.timeout_s

    @property
    def steady(self) -> bool:
        """Whether the tempo comes from a whole window of clock at one tempo (the estimate to write down)."""
        return self.grid is not None and len(self._stamps) >= self.window_clocks

    def bar_s(self, beats_per_bar: int = 4) -> float | None:
        """The time of a bar's first beat (song position a multiple of `beats_per_bar` beats), when running."""
        if self.grid is None or not self.running or self._anchor is None:
            return None
        beat = self._position(self._ticks) // PPQN
        return self.grid.beat_s - (beat % beats_per_bar) * self.grid.period_s

    def origin_s(self) -> float | None:
        """The time of song position 0 (bar 1 of the song) on the tempo now, when running: the Song Position
        Pointer places the bar (a form's bar 1 at position 0, its bar k at k - 1 bars of beats)."""
        if self.grid is None or not self.running or self._anchor is None:
            return None
        beat = self._position(self._ticks) // PPQN
        return self.grid.beat_s - beat * self.grid.period_s

    def _notify(self, kind: str, t_s: float) -> None:
        if self.on_transport is not None:
            self.on_transport(TransportEvent(kind, t_s))

    def _position(self, tick: int) -> int:
        """The song position (clocks) of tick number `tick`, running."""
        assert self._anchor is not None
        _, anchor_tick, anchor_count = self._anchor
        return anchor_count + tick - anchor_tick

    def _clock(self, t_s: float) -> None:
        # Clock keeps coming while the transport is stopped: it always gives the tempo; only a running transport
        # advances the song position (Start, then the first clock is beat 0, the downbeat).
        if self.last_clock_s is not None and t_s - self.last_clock_s > self.timeout_s:
            self._stamps.clear()  # clock stopped and came back: the gap is not a tempo
            self._min_fit = self._first_fit
            self._line = None
        self._ticks = self._index(t_s)
        if self.running and self._fresh:
            self._anchor, self._fresh = (t_s, self._ticks, self.count), False
        self._stamps.append((self._ticks, t_s))
        self.last_clock_s = t_s
        if len(self._stamps) > self._short:
            self._check_change()
        if self.running and self._anchor is not None:
            self.count = self._position(self._ticks) + 1
        if len(self._stamps) >= self._min_fit:
            self.grid = self._fit()

    def _index(self, t_s: float) -> int:
        """The clock's tick number: the next until a tempo is known, then read off the last fit's line."""
        if self._line is None:
            return self._ticks + 1
        slope, t_ref, tick_ref = self._line
        return max(self._ticks, tick_ref + round((t_s - t_ref) / slope))

    def _check_change(self) -> None:
        """The last `_short` clocks as consecutive ticks: a new tempo when they are straight and either off the
        fit's tempo or straighter than their numbers (module docstring)."""
        if self._line is None:
            return
        recent = list(self._stamps)[-self._short:]
        times = np.array([t for _, t in recent])
        k = np.arange(1 - self._short, 1, dtype=float)
        slope, last_t = np.polyfit(k, times, 1)
        resid = times - (last_t + slope * k)
        self._suspect += 1
        if slope <= 0 or np.abs(resid).max() > STRAIGHT * slope:
            self._suspect = 0
            return  # not one steady tempo: a lost or late clock among them, or the change itself
        numbered = np.array([c for c, _ in recent], dtype=float)
        if np.ptp(numbered) > 0:
            fit = np.polyfit(numbered, times, 1)
            ss_numbered = float(np.sum((times - np.polyval(fit, numbered)) ** 2))
        else:
            ss_numbered = float("inf")
        ss_consecutive = float(np.sum(resid ** 2))
        renumber = ss_numbered > max(MISNUMBERED * ss_consecutive, (0.1 * slope) ** 2)  # (not float noise)
        off = abs(slope - self._line[0])
        error = max(self._scatter, float(np.std(resid))) / float(np.sqrt(np.sum(k * k) - k.sum() ** 2 / len(k)))
        moved = off > max(CHANGE_TOLERANCE * self._line[0], SIGNIFICANT * error)
        if ss_numbered < ss_consecutive or not (renumber or moved):
            self._suspect = 0  # the numbers (a gap, a shared one) fit better: lost or late clocks; or no change
        elif self._suspect >= CONFIRM:
            self._suspect = 0
            self._renumber(float(slope), float(last_t))

    def _renumber(self, slope: float, last_t: float) -> None:
        """The clocks on the new tempo's line (the last ones, and before them as many as lie on it) get consecutive
        numbers after the clock before them; the older ones are the old tempo and leave the fit."""
        stamps = list(self._stamps)
        n = len(stamps)
        j = n - self._short
        while j > 0 and abs(stamps[j - 1][1] - (last_t - (n - j) * slope)) <= STRAIGHT * slope:
            j -= 1
        first = stamps[j - 1][0] + 1 if j > 0 else stamps[0][0]
        renumbered = [(first + m - j, t) for m, (_, t) in enumerate(stamps) if m >= j]
        if self._anchor is not None:  # the running song position hangs on one clock: it keeps its place
            t_a, tick_a, count_a = self._anchor
            new = next((c for c, t in renumbered if t == t_a), None)
            if new is not None:  # (else it is older than the renumbered clocks: its number stands)
                self._anchor = (t_a, new, count_a)
        self._stamps.clear()
        self._stamps.extend(renumbered)
        self._ticks = renumbered[-1][0]
        self._line = (slope, last_t, self._ticks)
        self.changes += 1
        self._min_fit = self._short  # the new tempo's clocks are enough to fit

    def _fit(self) -> BeatGrid | None:
        ticks = np.array([c for c, _ in self._stamps], dtype=float)
        times = np.array([t for _, t in self._stamps])
        slope, intercept = np.polyfit(ticks - ticks[-1], times, 1)  # seconds per clock, time of the latest tick
        if slope <= 0:
            return self.grid
        self._line = (float(slope), float(intercept), int(ticks[-1]))
        self._scatter = 1.4826 * float(np.median(np.abs(times - intercept - slope * (ticks - ticks[-1]))))
        bpm = 60.0 / (slope * PPQN)
        if not MIN_BPM <= bpm <= MAX_BPM:
            return self.grid
        # Running: beats are the ticks at song positions 24k. Stopped: the tempo holds, the phase is the latest tick.
        anchor = ticks[-1]
        if self.running and self._anchor is not None:
            anchor -= self._position(self._ticks) % PPQN
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
