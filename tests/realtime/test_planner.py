"""The latency budget (planner.py): full windows when they fit, shorter and capped ones when not, skips."""

from __future__ import annotations

import pytest

from tatumflow.notes import Note
from tatumflow.realtime.engine.config import EngineConfig
from tatumflow.realtime.engine.planner import COST_MARGIN, MIN_WINDOW_S, CostEstimate, plan_first_chunk, plan_window

from .conftest import SimSession

CONFIG = EngineConfig(latency_budget_ms=100.0, safety_margin_ms=10.0, first_notes=4)


def test_a_window_that_fits_is_planned_whole():
    plan = plan_window(0.0, 1.0, 3.0, ms_per_note=1.0, notes_per_s=10.0, config=CONFIG)
    assert (plan.start_s, plan.end_s, plan.degraded, plan.first) == (1.0, 3.0, False, False)
    assert plan.max_notes == pytest.approx(0.1 / 0.001, abs=1)  # the whole 100 ms budget, 1 ms a note


def test_a_near_deadline_shortens_the_window_and_caps_its_notes():
    # 30 ms left before the deadline (start 40 ms away, 10 ms margin); 2 s of music would cost 1.2 x 5 ms x 20
    plan = plan_window(0.0, 0.04, 2.04, ms_per_note=5.0, notes_per_s=10.0, config=CONFIG)
    assert plan.degraded and plan.start_s == 0.04
    expected_s = COST_MARGIN * 0.005 * 10.0 * 2.0
    assert plan.end_s - plan.start_s == pytest.approx(2.0 * 0.03 / expected_s)
    assert plan.max_notes == 6  # 30 ms / 5 ms


def test_the_latency_budget_caps_a_window_far_ahead():
    config = EngineConfig(latency_budget_ms=20.0, safety_margin_ms=10.0)
    plan = plan_window(0.0, 10.0, 12.0, ms_per_note=5.0, notes_per_s=10.0, config=config)
    assert plan.degraded and plan.max_notes == 4  # 20 ms / 5 ms, however far the deadline


def test_a_degraded_window_is_never_shorter_than_the_minimum():
    plan = plan_window(0.0, 0.05, 2.05, ms_per_note=10.0, notes_per_s=100.0, config=CONFIG)
    assert plan.degraded and plan.end_s - plan.start_s == pytest.approx(MIN_WINDOW_S)


def test_no_time_for_two_notes_skips_the_window():
    assert plan_window(0.0, 0.015, 2.0, ms_per_note=5.0, notes_per_s=10.0, config=CONFIG) is None
    assert plan_window(1.0, 0.5, 2.0, ms_per_note=5.0, notes_per_s=10.0, config=CONFIG) is None  # already late


def test_a_first_chunk_asks_for_first_notes_or_fewer_when_time_is_short():
    full = plan_first_chunk(0.0, 0.5, 30.5, ms_per_note=5.0, config=CONFIG)
    assert (full.max_notes, full.degraded, full.first, full.end_s) == (4, False, True, 30.5)
    short = plan_first_chunk(0.0, 0.025, 30.0, ms_per_note=5.0, config=CONFIG)  # 15 ms: 2 notes at 6 ms each
    assert (short.max_notes, short.degraded) == (2, True)
    late = plan_first_chunk(1.0, 0.5, 30.0, ms_per_note=5.0, config=CONFIG)
    assert late.max_notes == 1  # always at least one


def test_cost_estimates_follow_the_windows():
    cost = CostEstimate(ms_per_note=5.0, notes_per_s=10.0)
    cost.observe(spent_ms=30.0, notes=3, window_s=None)  # a first chunk: the density is not its to tell
    assert cost.ms_per_note == pytest.approx(0.7 * 5.0 + 0.3 * 10.0) and cost.notes_per_s == 10.0
    cost.observe(spent_ms=0.0, notes=0, window_s=2.0)  # an empty window: the density floor is 2 notes/s
    assert cost.notes_per_s == pytest.approx(0.7 * 10.0 + 0.3 * 2.0)
    assert cost.first_cost_s(CONFIG) == pytest.approx(cost.ms_per_note / 1e3 * 4 + 0.010)


def test_a_pessimistic_cost_estimate_skips_a_few_windows_then_the_duet_plays():
    """A cold warm-up can leave an estimate above half the budget (every window skipped, nothing generated to
    correct it): each skip lowers it until a window is tried, and the real cost takes over from there."""
    s = SimSession(mode="duet")
    s.engine._planner.cost.ms_per_note = 80.0  # 2 notes need 160 ms: more than the 100 ms budget
    s.play([Note(0.1 + 0.25 * i, 0.2, 60 + i, 80) for i in range(6)])
    s.run_until(10.0)
    report = s.engine.stop()
    assert 1 <= report["skipped_windows"] <= 6, report["skipped_windows"]
    assert s.model_onsets() and max(s.model_onsets()) > 8.0  # it plays on once it started
    assert s.engine._planner.cost.ms_per_note < 20.0
