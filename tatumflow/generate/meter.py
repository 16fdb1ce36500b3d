"""The meter prior: a bias on the delta head toward onsets on the session's beat grid.

With a tempo known, every candidate delta d of the next note puts its onset at `prev_onset_s + d * grid_s`; the
prior adds `weight * log(floor + exp(-dist^2 / 2 sigma^2))` to that delta's logit, where `dist` is the distance to
the nearest 16th or 8th-triplet position of the beat grid (timing.grid.SUBDIVISIONS). Off-grid onsets are made less
likely, never impossible (at most `weight * log(1 / floor)` below on-grid ones): swing, rubato and Tatum's
flourishes survive.

Deltas under `CHORD_SPREAD_S` (delta 0, another note of the same chord, and a chord's spread: a rolled chord, two
hands a few ms apart) are left alone: no grid position is that close, and leaning them toward the grid put the
next note of a chord onto a position a few ms after it. The sampler then re-centres the bias per note on the
model's own distribution (`heads.meter_term`): the prior moves an onset between grid positions, never probability
between "a note of this chord" and "the next onset". (Centred on a uniform distribution instead, it made chords
thicker and wider: v2 on the tuning split, 2.24 notes per onset against Tatum's 2.05 and 2.02 with the prior off.)
"""

from __future__ import annotations

import math

import numpy as np

from ..timing.grid import BeatGrid

FLOOR = 0.05  # the least an off-grid onset keeps: exp(weight * log(FLOOR)) of an on-grid one's odds
CHORD_SPREAD_S = 0.04  # gaps shorter than this belong to the chord before: the prior leaves them alone
SIGMA_S = 0.015  # timing tolerance around a grid position (a live player's spread), at slow and middle tempos
SIGMA_BEATS = 0.02  # ... and at most this share of a beat: 7.5 ms at 160 bpm, where grid positions are 31 ms apart


def first_meter_delta(delta_grid_s: float) -> int:
    """The shortest delta (in grid steps) the meter prior leans: the first at or past `CHORD_SPREAD_S`."""
    return math.ceil(CHORD_SPREAD_S / delta_grid_s - 1e-9)


def meter_bias(grid: BeatGrid | None, prev_onset_s: float, n_delta: int, delta_grid_s: float, weight: float,
               sigma_s: float = SIGMA_S) -> np.ndarray | None:
    """Additive bias over the `n_delta` deltas (float64), 0 below `first_meter_delta`; or None when there is no grid
    or weight. Its level does not matter: the sampler re-centres it per note (`heads.meter_term`)."""
    if grid is None or weight <= 0:
        return None
    bias = onset_bias(grid, prev_onset_s + np.arange(n_delta) * delta_grid_s, weight, sigma_s)
    bias[: first_meter_delta(delta_grid_s)] = 0.0  # a chord's notes and its spread
    return bias


def onset_bias(grid: BeatGrid, onsets_s: np.ndarray, weight: float, sigma_s: float = SIGMA_S) -> np.ndarray:
    """`weight * log(FLOOR + closeness)` of each onset time to the grid's nearest 16th / 8th-triplet position."""
    dist = grid.subdivision_distance_s(onsets_s)
    sigma = min(sigma_s, SIGMA_BEATS * grid.period_s)
    closeness = np.exp(-0.5 * (dist / sigma) ** 2)
    bias: np.ndarray = weight * np.log(FLOOR + closeness)
    return bias


NUDGE_STEPS = 0.499  # sub-step placement: under half a token step, so the onset still rounds to its own token


def grid_nudge_s(grid: BeatGrid | None, onset_s: float, step_s: float) -> float:
    """How far to move an onset onto the grid position within half a token step of it (0 if none).

    The model's onsets fall on a lattice of `step_s` (10 ms) from the session's zero; the beat grid has its own phase
    and positions between lattice points (a 16th at 200 bpm is 75 ms). The prior picks the lattice point nearest a
    position; this puts it on the position, a few milliseconds the tokens cannot say. Onsets farther from any
    position stay where they are: swing and rubato are kept, nothing is quantised."""
    if grid is None:
        return 0.0
    shift = grid.nearest_subdivision_s(onset_s) - onset_s
    if abs(shift) > 0.5 * step_s + 1e-9:
        return 0.0
    limit = NUDGE_STEPS * step_s
    return min(max(shift, -limit), limit)


def density_bias(n_delta: int, delta_grid_s: float, density: float) -> np.ndarray | None:
    """`-density * log(1 + gap / 0.1 s)` over the deltas (0 for delta 0): > 0 favours short gaps (denser playing),
    < 0 long ones. None when `density` is 0."""
    if density == 0:
        return None
    gaps = np.arange(n_delta) * delta_grid_s
    bias: np.ndarray = -density * np.log1p(gaps / 0.1)
    return bias
