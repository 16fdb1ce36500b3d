"""The live context: held keys enter once and are corrected when they end; barge-ins and compaction; the windows
the planner asks of it."""

from __future__ import annotations

import pytest

from tatumflow.generate.controls import Controls
from tatumflow.generate.mock import mock_generator
from tatumflow.notes import Note
from tatumflow.realtime.engine.clock import SimClock
from tatumflow.realtime.engine.config import EngineConfig
from tatumflow.realtime.engine.context import LiveContext
from tatumflow.realtime.engine.planner import Planner
from tatumflow.realtime.engine.report import SessionStats


class Counting:
    """The mock generator, counting the notes it is asked to absorb."""

    def __init__(self, context_steps: int = 512) -> None:
        self.inner, self.absorbed = mock_generator(context_steps), 0

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def absorb(self, state, notes, controls, heard=True):
        self.absorbed += len(notes)
        return self.inner.absorb(state, notes, controls, heard)


def make(context_steps: int = 512) -> tuple[LiveContext, Counting, SessionStats]:
    gen, stats = Counting(context_steps), SessionStats()
    return LiveContext(gen, Controls(), SimClock()), gen, stats


def triples(ctx: LiveContext) -> list[tuple[float, int, float]]:
    return [(n.onset_s, n.pitch, round(n.duration_s, 6)) for n in ctx.notes]


def test_a_held_key_enters_once_and_its_finished_note_replaces_it():
    ctx, _, _ = make()
    ctx.hear([Note(0.1, 0.2, 60, 80)])
    ctx.hear_sounding([Note(0.5, 0.3, 64, 80)])
    ctx.hear_sounding([Note(0.5, 0.6, 64, 80)])  # the same key still down a window later: not again
    assert ctx.held_in_context == 1
    ctx.hear([Note(0.7, 0.1, 67, 80)])
    ctx.hear([Note(0.5, 1.5, 64, 80)])  # key up: the real duration
    assert ctx.held_in_context == 0
    assert triples(ctx) == [(0.1, 60, 0.2), (0.5, 64, 1.5), (0.7, 67, 0.1)]


def test_a_held_key_forgotten_by_a_barge_in_enters_again_when_it_ends():
    ctx, _, _ = make()
    ctx.hear_sounding([Note(1.0, 0.1, 60, 80)])
    ctx.forget_from(1.0)
    assert ctx.held_in_context == 0 and ctx.notes == ()
    ctx.hear([Note(1.0, 0.5, 60, 80)])
    assert triples(ctx) == [(1.0, 60, 0.5)]


def test_a_held_key_compacted_away_meanwhile_is_dropped_without_a_re_prefill():
    ctx, gen, _ = make(context_steps=32)
    ctx.hear_sounding([Note(0.0, 0.1, 40, 80)])
    ctx.hear([Note(0.1 * (i + 1), 0.05, 60 + i % 12, 80) for i in range(40)])  # the context compacts
    absorbed = gen.absorbed
    ctx.hear([Note(0.0, 5.0, 40, 80)])
    assert gen.absorbed == absorbed and ctx.held_in_context == 0
    assert all(n.pitch != 40 for n in ctx.notes)


def test_generation_feeds_the_stats_and_the_estimates():
    ctx, _, stats = make()
    planner = Planner(ctx, EngineConfig(), stats)
    ctx.hear([Note(0.1 * i, 0.1, 60 + i, 80) for i in range(5)])
    plan = planner.plan(0.5, 0.6, 2.6)
    assert plan is not None and not plan.first
    notes = planner.generate(plan)
    assert notes and all(plan.start_s <= n.onset_s < plan.end_s for n in notes)
    assert stats.window_music_s == [pytest.approx(plan.end_s - plan.start_s)] and len(stats.generation_ms) == 1
    first = planner.plan_first(2.6, 2.7, 32.7)
    assert first.first and first.max_notes == EngineConfig().first_notes
    raw = planner.generate(first)
    assert stats.window_music_s[-1] == pytest.approx(raw[-1].onset_s - 2.7)  # a first chunk: up to its last onset
    pulled = ctx.pull_to(raw, 2.7)
    assert pulled[0].onset_s == pytest.approx(2.7) and ctx.notes[-len(pulled):] == tuple(pulled)


def test_the_warm_up_window_seeds_the_estimate_and_leaves_the_context_alone():
    """The planner's warm-up samples on a copy of the context's state: the estimate is what a note cost there (0 ms
    on a clock that stands still), the context and the stats are as before."""
    ctx, _, stats = make()
    planner = Planner(ctx, EngineConfig(), stats)
    ctx.hear([Note(0.1 * i, 0.1, 60 + i, 80) for i in range(5)])
    before = ctx.notes
    assert planner.cost.ms_per_note > 0
    planner.warm_up()
    assert planner.cost.ms_per_note == 0.0
    assert ctx.notes == before and stats.generation_ms == []
