"""A recording's tempo map that keeps the file's beats on the followed grid.

A file that can wait for it (recording.py) opens at the session's first reliable tempo: `BeatAligner.open` gives the
lead (how long before the session the file starts) that puts the grid's beats, and its bars when known, on the
file's from the first bar, with no other tempo before it. A file that could not wait starts at 120 bpm from time 0
(the recorder's default). When a grid becomes known for it, and again whenever it moves (the tempo by more than
`bpm_tolerance`, or the beats by more than `phase_tolerance_ms` from the file's), `BeatAligner.update` returns two
set_tempo changes: from now, a short
*correction* segment whose tempo makes an upcoming grid beat B land on a whole file beat (the first beat of a bar
when the bar is known: a DAW's bar lines up with the DAW's bar), then the grid's own tempo from B on. Between
changes the file's beats are the grid's, so notes played on the grid sit on the file's bar grid. Times are seconds.
"""

from __future__ import annotations

import math

from .grid import MAX_BPM, MIN_BPM, BeatGrid

MARGIN_S = 0.05  # a correction ends at least this far ahead (events up to now are written already)
LOOKAHEAD_BEATS = 8
GOOD_ENOUGH = math.log(1.5)  # a correction within 1.5x of the grid's tempo: the earliest such beat wins


class BeatAligner:
    def __init__(self, start_bpm: float = 120.0, bpm_tolerance: float = 0.005, phase_tolerance_ms: float = 15.0,
                 beats_per_bar: int = 4) -> None:
        self._t, self._beats, self._spb = 0.0, 0.0, 60.0 / start_bpm  # the current segment: start, beats, s/beat
        self.bpm_tolerance, self.phase_tolerance_s = bpm_tolerance, phase_tolerance_ms / 1e3
        self.beats_per_bar = beats_per_bar
        self.grid_bpm: float | None = None  # the followed tempo last written

    def open(self, grid: BeatGrid, beat_s: float, beats_per_bar: int = 1) -> float:
        """The file starts at the grid's tempo with `beat_s` on its first beat of a bar (of `beats_per_bar` beats):
        returns the lead, in [0, a bar), the file's start before the session's (its time 0)."""
        lead = (-beat_s) % (beats_per_bar * grid.period_s)
        self._t, self._beats, self._spb = 0.0, lead / grid.period_s, grid.period_s
        self.grid_bpm = grid.bpm
        return lead

    def file_beats(self, t_s: float) -> float:
        """The file's beat position at `t_s` (>= the current segment's start)."""
        return self._beats + (t_s - self._t) / self._spb

    def in_sync(self, now_s: float, grid: BeatGrid) -> bool:
        if self.grid_bpm is None or abs(grid.bpm / self.grid_bpm - 1) > self.bpm_tolerance:
            return False
        b = self.file_beats(grid.next_beat(now_s))
        return abs(b - round(b)) * self._spb <= self.phase_tolerance_s

    def update(self, now_s: float, grid: BeatGrid | None, bar_s: float | None = None) -> list[tuple[float, float]]:
        """The (time, bpm) changes to write now (none while the file follows `grid`, or without a grid)."""
        if grid is None or now_s < self._t or self.in_sync(now_s, grid):
            return []
        best = self._target(now_s, grid, bar_s)
        if best is None:
            return []
        beat_at, spb = best
        self._beats, self._t, self._spb = self.file_beats(now_s), now_s, spb
        self._beats, self._t, self._spb = self.file_beats(beat_at), beat_at, grid.period_s
        self._beats = float(round(self._beats))
        self.grid_bpm = grid.bpm
        return [(now_s, 60.0 / spb), (beat_at, grid.bpm)]

    def _target(self, now_s: float, grid: BeatGrid, bar_s: float | None) -> tuple[float, float] | None:
        """(the grid beat to land on, the correction's seconds per beat): the earliest within 1.5x of the grid's
        tempo (a short pickup), else the closest."""
        step = self.beats_per_bar if bar_s is not None else 1
        first = grid.next_beat(now_s + MARGIN_S)
        fb_now = self.file_beats(now_s)
        best: tuple[float, float, float] | None = None
        for k in range(LOOKAHEAD_BEATS + 1):
            beat_at = first + k * grid.period_s
            if bar_s is not None and round((beat_at - bar_s) / grid.period_s) % step:
                continue
            ideal = fb_now + (beat_at - now_s) / grid.period_s
            whole = max(step * round(ideal / step), step * math.ceil((fb_now + 0.25) / step))
            spb = (beat_at - now_s) / (whole - fb_now)
            if not MIN_BPM <= 60.0 / spb <= MAX_BPM:
                continue
            score = abs(math.log(spb / grid.period_s))
            if score <= GOOD_ENOUGH:
                return beat_at, spb  # the earliest beat that a near-grid tempo reaches
            if best is None or score < best[0] - 1e-9:
                best = (score, beat_at, spb)
        return None if best is None else (best[1], best[2])
