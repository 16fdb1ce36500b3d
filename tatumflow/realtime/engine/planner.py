"""The latency budget: how much of a window can be generated in the time left before it must be sent, and the
`Planner` the modes ask for windows (the live context samples them; context.py).

A window [start, end) has a deadline, `start - safety_margin`. Its generation may take at most the time left until
then, and never more than `latency_budget_ms`. The expected cost is (ms per note) x (notes per second) x length,
from running estimates (`CostEstimate`). When it would not fit, the window is shortened and its note count capped
(degraded); when not even two notes fit, the window is skipped.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from ...generate.controls import Controls
from ...generate.window import DEFAULT_WINDOW_NOTES, Window
from ...notes import Note
from ...timing.form import Changes
from ...timing.grid import BeatGrid
from .config import EngineConfig, Settings
from .context import LiveContext
from .report import SessionStats

log = logging.getLogger(__name__)

COST_MARGIN = 1.2  # estimates are averages: plan for a slower window
MIN_WINDOW_S = 0.05
NEW_WEIGHT, OLD_WEIGHT = 0.3, 0.7  # the running estimates: weight of the newest window, of the estimate so far
SKIP_RELAX = 0.7  # a skipped window lowers the cost estimate: a pessimistic one must not skip every window forever


@dataclass(frozen=True)
class WindowPlan:
    start_s: float
    end_s: float
    max_notes: int
    degraded: bool = False
    first: bool = False  # a reply's first chunk: its notes are pulled to `start_s` afterwards


@dataclass
class CostEstimate:
    """Running estimates of what generation costs and how dense the music is, refined after each window."""

    ms_per_note: float = 5.0
    notes_per_s: float = 10.0

    def observe(self, spent_ms: float, notes: int, window_s: float | None) -> None:
        """One generated window: `notes` notes in `spent_ms`, over `window_s` of music (None: a first chunk)."""
        if notes:
            self.ms_per_note = OLD_WEIGHT * self.ms_per_note + NEW_WEIGHT * spent_ms / notes
        if window_s is not None:
            self.notes_per_s = OLD_WEIGHT * self.notes_per_s + NEW_WEIGHT * max(notes / window_s, 2.0)

    def skipped(self) -> None:
        """A window was skipped, so nothing refreshed the estimate: lower it, so that a later window is tried (were
        the estimate right, that window comes late, its late notes are dropped and its cost raises the estimate)."""
        self.ms_per_note *= SKIP_RELAX

    def first_cost_s(self, config: EngineConfig) -> float:
        """Expected time to generate a reply's first chunk and have it planned."""
        return self.ms_per_note / 1e3 * config.first_notes + config.safety_margin_s


def plan_window(now_s: float, start_s: float, end_s: float, ms_per_note: float, notes_per_s: float,
                config: EngineConfig) -> WindowPlan | None:
    """The window to generate now, shortened to fit its deadline, or None to skip it."""
    assert end_s > start_s, "empty window"
    note_s = max(ms_per_note, 1e-3) / 1e3
    budget_s = min(config.latency_budget_s, start_s - config.safety_margin_s - now_s)
    if budget_s < 2 * note_s:
        return None
    max_notes = max(1, int(budget_s / note_s))
    expected_s = COST_MARGIN * note_s * notes_per_s * (end_s - start_s)
    if expected_s <= budget_s:
        return WindowPlan(start_s, end_s, max_notes)
    length = max((end_s - start_s) * budget_s / expected_s, MIN_WINDOW_S)
    return WindowPlan(start_s, min(start_s + length, end_s), max_notes, degraded=True)


def plan_first_chunk(now_s: float, start_s: float, end_s: float, ms_per_note: float,
                     config: EngineConfig) -> WindowPlan:
    """A reply's first chunk: its first `first_notes` notes, wherever in [start, end) the model puts them (they are
    pulled to the start afterwards). Fewer notes when time is short; at least one."""
    note_s = max(ms_per_note, 1e-3) / 1e3
    budget_s = min(config.latency_budget_s, start_s - config.safety_margin_s - now_s)
    fits = int(budget_s / (COST_MARGIN * note_s))
    notes = max(1, min(config.first_notes, fits))
    return WindowPlan(start_s, end_s, notes, degraded=notes < config.first_notes, first=True)


class Planner:
    """The windows of one session against its latency budget (worker thread only): the cost estimates, the plans,
    the `Window` each plan asks the live context for, and what each window cost (into the stats)."""

    def __init__(self, context: LiveContext, config: EngineConfig | Settings, stats: SessionStats) -> None:
        self._context, self._settings, self._stats = context, Settings.of(config), stats
        self.cost = CostEstimate()

    @property
    def _config(self) -> EngineConfig:
        return self._settings.current

    def first_cost_s(self) -> float:
        return self.cost.first_cost_s(self._config)

    def plan(self, now_s: float, start_s: float, end_s: float) -> WindowPlan | None:
        """A window fitted to the latency budget (None: skipped), counted in the stats."""
        plan = plan_window(now_s, start_s, end_s, self.cost.ms_per_note, self.cost.notes_per_s, self._config)
        if plan is None:
            self._stats.skipped_windows += 1
            self.cost.skipped()
            log.debug("window %.2f-%.2f skipped: no time to generate it", start_s, end_s)
        elif plan.degraded:
            self._stats.degraded_windows += 1
        return plan

    def plan_first(self, now_s: float, start_s: float, end_s: float) -> WindowPlan:
        return plan_first_chunk(now_s, start_s, end_s, self.cost.ms_per_note, self._config)

    def generate(self, plan: WindowPlan, beat_grid: BeatGrid | None = None, changes: Changes | None = None,
                 controls: Controls | None = None) -> list[Note]:
        """Sample the planned window (with the session's `beat_grid` and the tune's `changes`, when there are; with
        `controls` for this window alone, the feel over a chart, or else the live ones); its cost refines the
        estimates and goes into the stats."""
        budget = min(plan.max_notes, DEFAULT_WINDOW_NOTES)  # the latency budget's cap, never above a window's usual
        window = Window(plan.start_s, plan.end_s, budget, beat_grid, changes, self._config.seed)
        notes, spent_ms = self._context.generate(window, controls)
        self._stats.generation_ms.append(spent_ms)
        if plan.first:  # a reply's first notes: the music is up to their last onset
            self._stats.window_music_s.append(notes[-1].onset_s - plan.start_s if notes else 0.0)
            self.cost.observe(spent_ms, len(notes), None)
        else:
            self._stats.window_music_s.append(plan.end_s - plan.start_s)
            self.cost.observe(spent_ms, len(notes), plan.end_s - plan.start_s)
        return notes

    def warm_up(self) -> None:
        """The context's throw-away window (caches, kernels) seeds the cost estimate."""
        ms_per_note = self._context.warm_up(self._config.first_notes, self._config.seed)
        if ms_per_note is not None:
            self.cost.ms_per_note = ms_per_note
