"""The session's beat grid: a tempo and the time of one beat, and the positions music leans toward.

A `BeatGrid` is a fact of the session (from MIDI clock, the player, or a fixed `--bpm`): the report, the
recording's tempo map and the meter prior all read it. Times are session seconds. Within a beat, the positions the
report and the meter prior use are the 16ths (0, 1/4, 1/2, 3/4) and the 8th-note triplets (0, 1/3, 2/3) of the
beat: swing and Tatum's triplet runs sit on the second set.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

# Fractions of a beat: 16ths and 8th triplets (0 shared), sorted, with 1.0 closing the cycle.
SUBDIVISIONS = (0.0, 0.25, 1 / 3, 0.5, 2 / 3, 0.75)
MIN_BPM, MAX_BPM = 20.0, 400.0


@dataclass(frozen=True)
class BeatGrid:
    """Beats at `beat_s + k * period_s` for every integer k; `source` says where it came from."""

    bpm: float
    beat_s: float  # the time of one beat (any beat; usually a recent one)
    source: str = "fixed"  # "clock", "human", "fixed"
    confidence: float = 1.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "bpm", float(self.bpm))  # plain floats (a fit gives numpy ones): JSON, comparisons
        object.__setattr__(self, "beat_s", float(self.beat_s))
        if not (math.isfinite(self.bpm) and MIN_BPM <= self.bpm <= MAX_BPM):
            raise ValueError(f"bpm must be in [{MIN_BPM:g}, {MAX_BPM:g}], got {self.bpm!r}")
        if not math.isfinite(self.beat_s):
            raise ValueError(f"beat_s must be finite, got {self.beat_s!r}")

    @property
    def period_s(self) -> float:
        return 60.0 / self.bpm

    def beats(self, t_s: float | np.ndarray) -> float | np.ndarray:
        """Position in beats (fractional) of time(s) `t_s`, counted from `beat_s`."""
        return (np.asarray(t_s) - self.beat_s) / self.period_s

    def next_beat(self, t_s: float) -> float:
        """The first beat at or after `t_s`."""
        k = math.ceil(round(float(self.beats(t_s)), 9))
        return self.beat_s + k * self.period_s

    def offset_to_beat_s(self, t_s: float) -> float:
        """Signed distance from `t_s` to the nearest beat (positive: after it)."""
        b = float(self.beats(t_s))
        return (b - round(b)) * self.period_s

    def subdivision_distance_beats(self, t_s: float | np.ndarray) -> np.ndarray:
        """Distance, in beats, from each time to the nearest 16th or 8th-triplet position (0 .. 1/8)."""
        frac = np.mod(np.asarray(self.beats(t_s), dtype=float), 1.0)
        points = np.array(SUBDIVISIONS + (1.0,))
        return np.min(np.abs(frac[..., None] - points), axis=-1)

    def nearest_subdivision_s(self, t_s: float) -> float:
        """The time of the 16th or 8th-triplet position nearest `t_s`."""
        b = float(self.beats(t_s))
        whole = math.floor(b)
        frac = min(SUBDIVISIONS + (1.0,), key=lambda p: abs(b - whole - p))
        return self.beat_s + (whole + frac) * self.period_s

    def subdivision_distance_s(self, t_s: float | np.ndarray) -> np.ndarray:
        return self.subdivision_distance_beats(t_s) * self.period_s

    def shifted(self, beat_s: float) -> BeatGrid:
        """The same tempo with its reference beat moved to the beat nearest `beat_s` (keeps numbers small)."""
        k = round(float(self.beats(beat_s)))
        return BeatGrid(self.bpm, self.beat_s + k * self.period_s, self.source, self.confidence)


def alignment_ms(onsets_s: Sequence[float], grid: BeatGrid) -> dict[str, float | None]:
    """p50/p90 distance (ms and beats) of onsets to the nearest 16th / 8th-triplet position of `grid`."""
    if len(onsets_s) == 0:
        return {"beat_alignment_ms_p50": None, "beat_alignment_ms_p90": None, "beat_alignment_beats_p50": None}
    d = grid.subdivision_distance_beats(np.asarray(onsets_s, dtype=float))
    return {"beat_alignment_ms_p50": round(float(np.percentile(d, 50)) * grid.period_s * 1e3, 2),
            "beat_alignment_ms_p90": round(float(np.percentile(d, 90)) * grid.period_s * 1e3, 2),
            "beat_alignment_beats_p50": round(float(np.percentile(d, 50)), 4)}
