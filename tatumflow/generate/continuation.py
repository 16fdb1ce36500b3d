"""Offline continuation: a prompt (or silence) continued for a number of seconds, window by window."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from ..notes import MIN_DURATION_S, Note, cut_overlaps
from ..timing.tracker import TempoTracker
from .controls import Controls
from .generator import ChunkedGenerator, GeneratorState
from .window import FOLLOW_ON, MAX_SEED, Window

# Which of a window's candidates to keep: (the context before the window, each candidate's notes, the window's start
# and end in seconds) -> the index kept. eval/critic.py's `critic_pick` keeps the one a critic finds most like Tatum.
Pick = Callable[[Sequence[Note], Sequence[Sequence[Note]], float, float], int]
CANDIDATE_SEED_STRIDE = 1_000_003  # candidate k of a window samples with the window's seed + k * this


@dataclass(frozen=True)
class BestOf:
    """Best of `n`: every window sampled `n` times from the same state (candidate 0 with the window's own seed, the
    notes a plain continuation plays), `pick` keeps one and the performance goes on from it."""

    n: int
    pick: Pick

    def __post_init__(self) -> None:
        if not 1 <= self.n <= 16:
            raise ValueError(f"best of n: n must be in 1..16, got {self.n}")


def continuation_start_s(prompt: Sequence[Note], grid_s: float) -> float:
    """Where a continuation begins: one grid step after the prompt's last onset (0 for no prompt)."""
    return max(n.onset_s for n in prompt) + grid_s if prompt else 0.0


def with_prompt_grid(controls: Controls, window: Window, prompt: Sequence[Note]) -> Window:
    """`window` with the prompt's beat grid (the online tracker run over the prompt) when the meter prior is on and
    the window has no grid; unchanged otherwise, or when the prompt has no clear tempo."""
    if controls.meter_weight <= 0 or window.beat_grid is not None or not prompt:
        return window
    tracker = TempoTracker()
    tracker.add_notes((n.onset_s, n.velocity) for n in prompt)
    grid = tracker.update(max(n.onset_s for n in prompt) + 0.01)
    return window if grid is None else replace(window, beat_grid=grid)


def continue_notes(
    generator: ChunkedGenerator,
    prompt: Sequence[Note],
    seconds: float,
    controls: Controls,
    frame: Window = FOLLOW_ON,
    on_window: Callable[[int, int], None] | None = None,
    best_of: BestOf | None = None,
) -> list[Note]:
    """Notes continuing `prompt` for `seconds`, from `continuation_start_s`; every note ends by then and a re-struck
    pitch ends the note before it.

    `frame` gives every window its budget, grid, changes and seed (its span is each window's own). With the meter
    prior on and no grid given, the grid is the prompt's tempo (`with_prompt_grid`). `on_window(done, total)` is
    called after each window (for progress bars). `best_of`: each window the pick of several candidates.
    """
    if not seconds > 0:
        raise ValueError(f"seconds must be > 0, got {seconds}")
    frame = with_prompt_grid(controls, frame, prompt)
    start = continuation_start_s(prompt, generator.tokenizer.config.grid_s)
    end = start + seconds
    state = generator.init_state(prompt, controls, start_s=start)
    total = math.ceil(seconds / controls.window_s - 1e-9)
    out: list[Note] = []
    for i in range(total):
        window = replace(frame, start_s=None, end_s=min(end, state.window_start_s + controls.window_s))
        if best_of is None or best_of.n == 1:
            notes, state = generator.generate_chunk(state, [], controls, window)
        else:
            notes, state = best_window(generator, state, controls, window, best_of)
        out.extend(notes)
        if on_window:
            on_window(i + 1, total)
    clipped = [replace(n, duration_s=max(min(n.duration_s, end - n.onset_s), MIN_DURATION_S)) for n in out]
    return cut_overlaps(clipped)


def best_window(generator: ChunkedGenerator, state: GeneratorState, controls: Controls, window: Window,
                best_of: BestOf) -> tuple[list[Note], GeneratorState]:
    """`best_of.n` candidates of one window from copies of `state` (the last from `state` itself), and the one
    `best_of.pick` keeps, with the state that played it."""
    context, start_s = list(state.context), state.window_start_s
    tries: list[tuple[list[Note], GeneratorState]] = []
    for k in range(best_of.n):
        seed = (window.seed + k * CANDIDATE_SEED_STRIDE) % (MAX_SEED + 1)
        own = state if k == best_of.n - 1 else state.copy()
        tries.append(generator.generate_chunk(own, [], controls, replace(window, seed=seed)))
    end_s = tries[0][1].window_start_s
    keep = best_of.pick(context, [notes for notes, _ in tries], start_s, end_s)
    if not 0 <= keep < len(tries):
        raise ValueError(f"best of n: the pick returned {keep} of {len(tries)} candidates")
    return tries[keep]
