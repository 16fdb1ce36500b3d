"""The meter prior: on-grid deltas untouched, off-grid ones lowered by at most weight * log(floor), chords free."""

import math

import numpy as np
import pytest

from tatumflow.generate.meter import FLOOR, meter_bias
from tatumflow.timing.grid import BeatGrid


def test_no_grid_or_no_weight_is_no_bias():
    assert meter_bias(None, 0.0, 400, 0.01, 1.0) is None
    assert meter_bias(BeatGrid(120, 0.0), 0.0, 400, 0.01, 0.0) is None


def test_grid_positions_are_favoured_and_nothing_is_excluded():
    grid = BeatGrid(120, 0.0)  # beat 0.5 s: 16ths every 125 ms, triplets every ~167 ms
    bias = meter_bias(grid, 0.0, 400, 0.01, 1.0)
    assert bias.shape == (400,) and bias.max() == pytest.approx(0.0)
    assert bias[0] == 0.0  # a chord note
    for d in (25, 50, 100):  # 250 ms (8th), 500 ms (beat), 1 s
        assert bias[d] == pytest.approx(0.0, abs=1e-6)
    assert bias[6] < -1.0  # 60 ms: between 0 and the 16th at 125 ms
    assert np.isfinite(bias).all() and bias.min() >= math.log(FLOOR) - math.log(1 + FLOOR) - 1e-9


def test_the_grid_phase_follows_the_previous_onset():
    grid = BeatGrid(120, 0.0)
    shifted = meter_bias(grid, 0.06, 400, 0.01, 1.0)  # the previous note was 60 ms late
    assert shifted[19] > shifted[25]  # 0.06 + 0.19 = 0.25 (on the 8th) beats 0.06 + 0.25 = 0.31
    assert meter_bias(grid, 0.06, 400, 0.01, 2.0)[6] == pytest.approx(2 * shifted[6])
