"""A window's priors, prepared once per window instead of once per note.

Every note of a window shares its controls, its window (beat grid, changes) and what the generator has heard, so
what the priors make of them is computed when the window starts (`WindowPriors`), and a note only looks its part up:

- the masks and fixed tilts as a frozen `MaskSpec` (one per `min_delta`, the only part that moves within a
  window; the backend keeps the biases built from each spec);
- the harmony prior as a table [12, 88] already weighted: a note's bias is the row of the previous pitch class
  (the same numbers as `harmony.harmony_bias`);
- the meter prior over the window's 10 ms lattice of absolute onsets: a note's bias over its deltas is a slice
  starting at its previous onset (the same numbers as `meter.meter_bias`, up to the rounding of an onset time:
  `(q + d) * 10 ms` here, `q * 10 ms + d * 10 ms` there).
"""

from __future__ import annotations

import numpy as np

from ..model.tokenizer import Tokenizer
from ..notes import PIANO_LOW
from .constraints import MaskSpec
from .controls import Controls
from .meter import first_meter_delta, onset_bias
from .window import Window


class WindowPriors:
    """The priors of `window` under `controls`, from the harmony table of what was heard and the window's end."""

    def __init__(self, tokenizer: Tokenizer, controls: Controls, window: Window, harmony_table: np.ndarray | None,
                 end_s: float) -> None:
        cfg = tokenizer.config
        self.grid_s, self.n_delta = cfg.grid_s, cfg.n_delta
        self.controls, self.window = controls, window
        self.base = MaskSpec(pitch_low=controls.pitch_low - PIANO_LOW, pitch_high=controls.pitch_high - PIANO_LOW,
                             max_duration_bin=tokenizer.duration_bin(controls.max_duration_s),
                             legato=controls.legato, density=controls.density)
        self._specs: dict[int, MaskSpec] = {}
        weight = controls.harmony_weight
        self.harmony = weight * harmony_table if weight > 0 and harmony_table is not None else None
        self.meter_from = first_meter_delta(self.grid_s)
        self._end_q = int(np.ceil(end_s / self.grid_s)) if np.isfinite(end_s) else None
        self._lattice: tuple[int, np.ndarray] | None = None  # (first onset index, bias per onset index)

    def spec(self, min_delta: int) -> MaskSpec:
        spec = self._specs.get(min_delta)
        if spec is None:
            spec = self._specs[min_delta] = MaskSpec(min_delta, None, self.base.pitch_low, self.base.pitch_high,
                                                     self.base.max_duration_bin, self.base.legato,
                                                     self.base.density)
        return spec

    def pitch_bias(self, previous_pitch: int) -> np.ndarray | None:
        """The harmony prior's bias over the 88 keys after MIDI pitch `previous_pitch` (a view: do not write)."""
        return None if self.harmony is None else self.harmony[previous_pitch % 12]

    def meter(self, last_q: int) -> np.ndarray | None:
        """The meter prior over the deltas of a note whose previous onset is lattice point `last_q` (a new array;
        its first `meter_from` entries are 0, as `meter_bias` leaves them)."""
        if self.window.beat_grid is None or self.controls.meter_weight <= 0:
            return None
        lattice = self._lattice
        if lattice is None or not lattice[0] <= last_q <= lattice[0] + len(lattice[1]) - self.n_delta:
            lattice = self._lattice = self._build(last_q)
        first, bias = lattice
        out = bias[last_q - first : last_q - first + self.n_delta].copy()
        out[: self.meter_from] = 0.0
        return out

    def _build(self, first_q: int) -> tuple[int, np.ndarray]:
        """The bias at every lattice point from `first_q` to the window's end plus one note's reach."""
        last_q = max(first_q, self._end_q if self._end_q is not None else first_q)
        span = min(last_q - first_q, 100 * self.n_delta) + self.n_delta
        grid = self.window.beat_grid
        assert grid is not None
        return first_q, onset_bias(grid, (first_q + np.arange(span)) * self.grid_s, self.controls.meter_weight)
