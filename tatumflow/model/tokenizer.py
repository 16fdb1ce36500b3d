"""Notes <-> model steps. One step per note: (delta, pitch, velocity bin, duration bin).

- delta: onset gap to the previous note on a 10 ms grid, 0 .. n_delta-1 steps. Onsets are quantised on one fixed
  grid first, so errors never accumulate (<= half a grid step); gaps longer than the range are shortened to its
  maximum and counted. `encode` anchors the grid at the start of a piece (a training file, a prompt);
  `steps_after` at time 0, for a stream encoded piece by piece (the generator's context).
- pitch: the 88 piano keys, 0 = A0 (MIDI 21).
- velocity: `n_velocity` equal bins over 1..127.
- duration: `n_duration` log-spaced bins from `min_duration_s` to `max_duration_s`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from ..notes import PIANO_HIGH, PIANO_LOW, Note

FIELDS = ("delta", "pitch", "velocity", "duration")
DELTA, PITCH, VELOCITY, DURATION = range(4)


@dataclass(frozen=True)
class TokenizerConfig:
    grid_ms: int = 10
    n_delta: int = 400
    n_pitch: int = PIANO_HIGH - PIANO_LOW + 1
    n_velocity: int = 32
    n_duration: int = 64
    min_duration_s: float = 0.01
    max_duration_s: float = 16.0

    def __post_init__(self) -> None:
        if self.grid_ms <= 0 or self.n_delta < 2:
            raise ValueError(f"grid_ms must be > 0 and n_delta >= 2, got {self.grid_ms}, {self.n_delta}")
        if self.n_pitch != PIANO_HIGH - PIANO_LOW + 1:
            raise ValueError(f"n_pitch must be {PIANO_HIGH - PIANO_LOW + 1} (88 keys), got {self.n_pitch}")
        if not 2 <= self.n_velocity <= 127 or self.n_duration < 2:
            raise ValueError("n_velocity must be in 2..127 and n_duration >= 2")
        if not 0 < self.min_duration_s < self.max_duration_s <= 3600:  # also refuses nan
            raise ValueError("need 0 < min_duration_s < max_duration_s <= 3600")
        if not self.grid_ms <= 1000 or not self.n_delta <= 100_000 or not self.n_duration <= 4096:
            raise ValueError("need grid_ms <= 1000, n_delta <= 100,000 and n_duration <= 4,096")

    @property
    def grid_s(self) -> float:
        return self.grid_ms / 1000.0

    @property
    def max_delta_s(self) -> float:
        return (self.n_delta - 1) * self.grid_s

    @property
    def vocab_sizes(self) -> tuple[int, int, int, int]:
        return (self.n_delta, self.n_pitch, self.n_velocity, self.n_duration)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Tokenizer:
    def __init__(self, config: TokenizerConfig | None = None) -> None:
        self.config = config or TokenizerConfig()
        c = self.config
        self._log_ratio = math.log(c.max_duration_s / c.min_duration_s) / (c.n_duration - 1)
        # Bin values, used for decoding; index with a bin id.
        self.duration_values_s = c.min_duration_s * np.exp(self._log_ratio * np.arange(c.n_duration))
        width = 127 / c.n_velocity
        self.velocity_values = np.clip(np.round((np.arange(c.n_velocity) + 0.5) * width), 1, 127).astype(int)
        self._sizes, self._grid_s = c.vocab_sizes, c.grid_s  # read for every decoded step

    # -- single fields ---------------------------------------------------------------------------------------
    def velocity_bin(self, velocity: int) -> int:
        c = self.config
        return min(int((min(max(velocity, 1), 127) - 1) * c.n_velocity / 127), c.n_velocity - 1)

    def duration_bin(self, duration_s: float) -> int:
        c = self.config
        d = min(max(duration_s, c.min_duration_s), c.max_duration_s)
        return int(round(math.log(d / c.min_duration_s) / self._log_ratio))

    def delta_steps(self, gap_s: float) -> int:
        return int(round(gap_s / self.config.grid_s))

    # -- sequences -------------------------------------------------------------------------------------------
    def encode(self, notes: Sequence[Note], start_s: float | None = None) -> tuple[np.ndarray, int]:
        """Steps `[N, 4]` (int64) for notes in piano range, and how many silences were shortened.

        Onsets are quantised on the grid anchored at `start_s` (default: the first onset, so the first delta is 0).
        """
        kept = [n for n in notes if PIANO_LOW <= n.pitch <= PIANO_HIGH]
        kept.sort(key=lambda n: (n.onset_s, n.pitch))
        origin = kept[0].onset_s if kept and start_s is None else (start_s or 0.0)
        return self._steps(kept, origin, origin)

    def steps_after(self, prev_onset_s: float | None, notes: Sequence[Note]) -> np.ndarray:
        """Steps `[N, 4]` for notes that follow a note at `prev_onset_s` in a stream (None: they start it, the
        first delta is 0). Onsets are quantised on the grid anchored at time 0, so a stream encoded piece by piece
        gives the same steps as encoded at once. The notes must be in time order and in piano range (as the
        generator's context is); longer silences are shortened to the delta range."""
        if not notes:
            return np.zeros((0, 4), dtype=np.int64)
        return self._steps(notes, 0.0, notes[0].onset_s if prev_onset_s is None else prev_onset_s)[0]

    def _steps(self, notes: Sequence[Note], anchor_s: float, prev_s: float) -> tuple[np.ndarray, int]:
        """Steps for sorted, in-range notes; each delta counts grid points (anchored at `anchor_s`) from the note
        before (the first from `prev_s`), clipped to 0..n_delta-1; and how many were shortened."""
        c = self.config
        top = c.n_delta - 1
        prev = round((prev_s - anchor_s) / c.grid_s)
        rows: list[tuple[int, int, int, int]] = []
        shortened = 0
        for n in notes:
            q = round((n.onset_s - anchor_s) / c.grid_s)
            delta, prev = max(q - prev, 0), q
            shortened += int(delta > top)
            rows.append((min(delta, top), n.pitch - PIANO_LOW, self.velocity_bin(n.velocity),
                         self.duration_bin(n.duration_s)))
        return np.array(rows, dtype=np.int64).reshape(-1, 4), shortened

    def decode(self, steps: np.ndarray | Sequence[Sequence[int]], start_s: float = 0.0) -> list[Note]:
        """Notes from steps; the first onset is `start_s + delta[0] * grid`."""
        steps = np.asarray(steps, dtype=np.int64).reshape(-1, 4)
        self.check(steps)
        onsets = start_s + np.cumsum(steps[:, DELTA]) * self.config.grid_s
        return [
            Note(float(t), float(self.duration_values_s[d]), int(p) + PIANO_LOW, int(self.velocity_values[v]))
            for t, (_, p, v, d) in zip(onsets, steps)
        ]

    def decode_step(self, step: Sequence[int], prev_onset_s: float) -> Note:
        """The note of one step whose onset is `delta` grid steps after `prev_onset_s`."""
        d, p, v, dur = int(step[0]), int(step[1]), int(step[2]), int(step[3])
        n_d, n_p, n_v, n_dur = self._sizes
        if not (0 <= d < n_d and 0 <= p < n_p and 0 <= v < n_v and 0 <= dur < n_dur):  # check(), for one step
            raise ValueError(f"step fields out of range; sizes are {dict(zip(FIELDS, self.config.vocab_sizes))}")
        return Note(prev_onset_s + d * self._grid_s, float(self.duration_values_s[dur]), p + PIANO_LOW,
                    int(self.velocity_values[v]))

    def check(self, steps: np.ndarray) -> None:
        if steps.size and ((steps.min(axis=0) < 0).any() or (steps.max(axis=0) >= self.config.vocab_sizes).any()):
            raise ValueError(f"step fields out of range; sizes are {dict(zip(FIELDS, self.config.vocab_sizes))}")
