"""The meter prior: a bias on the delta head toward onsets on the session's beat grid.

With a tempo known, every candidate delta d of the next note puts its onset at `prev_onset_s + d * grid_s`; the
prior adds `weight * log(floor + sum_p exp(-dist_p^2 / 2 sigma^2))` to that delta's logit, where `dist_p` is the
distance to the nearest 16th or 8th-triplet position of the beat grid (timing.grid.SUBDIVISIONS), and the bias is
shifted so that on-grid deltas get 0. Off-grid onsets are made less likely, never impossible (at most
`weight * log(floor)` lower): swing, rubato and Tatum's flourishes survive. Delta 0 (another note of the same
chord) is left alone.
"""

from __future__ import annotations

import math

import numpy as np

from ..timing.grid import BeatGrid

FLOOR = 0.05  # the least an off-grid onset keeps: exp(weight * log(FLOOR)) of an on-grid one's odds
SIGMA_S = 0.015  # timing tolerance around a grid position (a live player's spread)


def meter_bias(grid: BeatGrid | None, prev_onset_s: float, n_delta: int, delta_grid_s: float, weight: float,
               sigma_s: float = SIGMA_S) -> np.ndarray | None:
    """Additive bias over the `n_delta` deltas (float64, <= 0), or None when there is no grid or weight."""
    if grid is None or weight <= 0:
        return None
    onsets = prev_onset_s + np.arange(n_delta) * delta_grid_s
    dist = grid.subdivision_distance_s(onsets)
    closeness = np.exp(-0.5 * (dist / sigma_s) ** 2)
    bias = weight * (np.log(FLOOR + closeness) - math.log(FLOOR + 1.0))
    bias[0] = 0.0  # a chord note: same onset as the previous note
    return bias
