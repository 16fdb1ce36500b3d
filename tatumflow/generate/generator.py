"""The streaming generator: `init_state(prompt, controls)` and `generate_chunk(state, human_notes, controls, window)`.

The state holds the performance as it sounded (human and model notes merged in time order) and the backend's cache
of it. New human notes roll the cache back to the first step they precede and prefill the merged tail; nothing
before that is recomputed. A window samples notes until the next onset would fall past its end; that last step is
never fed, so it costs nothing to "roll back". `controls` are what the musician sets; the `Window` (window.py) is what
the caller asks of this window: its span, its note budget, the beat grid, the tune's changes and the seed (window i
samples with seed `window.seed + i`).
"""

from __future__ import annotations

import copy
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import torch

from ..model.tokenizer import DELTA, PITCH, Tokenizer
from ..notes import PIANO_LOW, Note, cut_overlaps, sort_notes
from .chart import chart_biases
from .constraints import StepConstraints
from .controls import Controls
from .harmony import HARMONY_WINDOW, log_prior_table
from .meter import grid_nudge_s
from .priors import WindowPriors
from .sampling import Draws
from .window import Window

log = logging.getLogger(__name__)


# The most notes one onset may hold (two hands, a thumb on two keys each). Past it a note must start a new onset:
# without the cap a sampler that keeps choosing delta 0 (min-p did, on v2) piled 40 notes onto one onset, and the
# no-re-strike rule, which looks this far back, let pitches be struck twice there.
MAX_ONSET_NOTES = 12


class StepBackend(Protocol):
    """What a generator needs of a model. The cache object lives in the generator state."""

    tokenizer: Tokenizer
    context_steps: int

    def new_cache(self, lanes: int) -> Any: ...
    def cache_length(self, cache: Any) -> int: ...
    def truncate(self, cache: Any, length: int) -> None: ...
    def compact(self, cache: Any, drop: int) -> None: ...
    def feed(self, cache: Any, steps: np.ndarray, controls: Controls) -> None: ...
    def sample(self, cache: Any, controls: Controls, constraints: StepConstraints,
               rng: torch.Generator | Draws) -> tuple[int, int, int, int]: ...


@dataclass
class GeneratorState:
    """Everything one session's generation depends on; `copy()` gives an independent snapshot."""

    cache: Any
    context: list[Note] = field(default_factory=list)  # notes in the cache, time order; context[i] is cache step i+1
    window_index: int = 0
    window_start_s: float = 0.0
    lanes: int = 1
    dropped_notes: int = 0  # notes dropped from the cache by compaction
    heard: list[Note] = field(default_factory=list)  # the last notes that came from outside (prompt, human), time order
    harmony_table: np.ndarray | None = None  # log_prior_table(heard), kept in step with it

    @property
    def last_onset_s(self) -> float | None:
        return self.context[-1].onset_s if self.context else None

    def copy(self) -> GeneratorState:
        return copy.deepcopy(self)


def _note_key(n: Note) -> tuple[float, int]:
    return (n.onset_s, n.pitch)


class ChunkedGenerator:
    """Streaming generation over a `StepBackend` (the transformer, or the mock)."""

    def __init__(self, backend: StepBackend, compact_fraction: float = 0.25) -> None:
        self.backend = backend
        self.tokenizer = backend.tokenizer
        self.compact_fraction = compact_fraction

    # -- the streaming contract --------------------------------------------------------------------------------
    def init_state(self, prompt_notes: Sequence[Note], controls: Controls,
                   start_s: float | None = None) -> GeneratorState:
        lanes = 2 if controls.guidance != 1.0 else 1
        state = GeneratorState(cache=self.backend.new_cache(lanes), lanes=lanes)
        self.absorb(state, prompt_notes, controls)
        if start_s is None:
            start_s = state.context[-1].onset_s + self.tokenizer.config.grid_s if state.context else 0.0
        state.window_start_s = start_s
        return state

    def generate_chunk(
        self,
        state: GeneratorState,
        human_notes: Sequence[Note],
        controls: Controls,
        window: Window,
    ) -> tuple[list[Note], GeneratorState]:
        """Fold `human_notes` into the context, then sample `window` (its span, budget, grid, changes and seed).

        Every returned note has its onset in the window and at or after the last context note; within the window a
        re-struck pitch ends the note before it (across windows, whoever plays the notes sends the note-off first).
        The state is updated in place and returned.
        """
        self._ensure_lanes(state, controls)
        self.absorb(state, human_notes, controls)
        start, end = window.span(state.window_start_s, controls.window_s)
        rng = Draws(torch.Generator().manual_seed(window.seed + state.window_index))
        priors = WindowPriors(self.tokenizer, controls, window, state.harmony_table, end)
        out: list[Note] = []
        while len(out) < window.max_notes:
            note = self._sample_note(state, priors, start, rng)
            if note.onset_s >= end:
                break  # past the window: this step is never fed
            self._append(state, [note], controls)
            out.append(note)
        state.window_index += 1
        state.window_start_s = end
        return cut_overlaps(out), state

    def absorb(self, state: GeneratorState, notes: Sequence[Note], controls: Controls,
               heard: bool = True) -> GeneratorState:
        """Fold notes into the context in time order: roll back to the first step they precede, prefill the rest.

        `heard` notes (the default: a prompt, the human) also feed the harmony prior; the engine passes False for
        its own notes re-placed in time.
        """
        notes = sort_notes(n for n in notes if 0 <= n.pitch - PIANO_LOW < self.tokenizer.config.n_pitch)
        if not notes:
            return state
        if heard:
            state.heard = sort_notes(state.heard + notes)[-HARMONY_WINDOW:]
            state.harmony_table = log_prior_table(state.heard)
        first = _note_key(notes[0])
        keep = len(state.context)
        while keep > 0 and _note_key(state.context[keep - 1]) > first:
            keep -= 1
        tail = sort_notes(state.context[keep:] + list(notes))
        self._truncate_context(state, keep)
        self._append(state, tail, controls)
        return state

    def truncate(self, state: GeneratorState, time_s: float) -> GeneratorState:
        """Forget context notes with onset >= time_s (planned notes that never sounded)."""
        keep = len(state.context)
        while keep > 0 and state.context[keep - 1].onset_s >= time_s:
            keep -= 1
        self._truncate_context(state, keep)
        return state

    # -- internals ---------------------------------------------------------------------------------------------
    def _truncate_context(self, state: GeneratorState, keep: int) -> None:
        del state.context[keep:]
        self.backend.truncate(state.cache, keep + 1)  # +1: the start step

    def _ensure_lanes(self, state: GeneratorState, controls: Controls) -> None:
        lanes = 2 if controls.guidance != 1.0 else 1
        if lanes > state.lanes:  # guidance switched on: the unconditional lane needs the context once
            log.info("guidance switched on: prefilling the unconditional lane")
            state.cache = self.backend.new_cache(lanes)
            state.lanes = lanes
            context, state.context = state.context, []
            self._append(state, context, controls)

    def _append(self, state: GeneratorState, notes: Sequence[Note], controls: Controls) -> None:
        if not notes:
            return
        room = self.backend.context_steps - 1 - len(state.context)
        if len(notes) > room:
            self._compact(state, len(notes) - room)
        prev = state.last_onset_s
        notes = list(notes)[-(self.backend.context_steps - 1) :]
        self.backend.feed(state.cache, self.tokenizer.steps_after(prev, notes), controls)
        state.context.extend(notes)

    def _compact(self, state: GeneratorState, needed: int) -> None:
        """Drop the oldest notes (keeping the start step as attention sink) to make room."""
        drop = max(needed, int(self.compact_fraction * (self.backend.context_steps - 1)))
        drop = min(drop, len(state.context))
        self.backend.compact(state.cache, drop)
        del state.context[:drop]
        state.dropped_notes += drop

    def _constraints(self, state: GeneratorState, priors: WindowPriors, start_s: float) -> StepConstraints:
        tok = self.tokenizer
        grid = tok.config.grid_s
        if not state.context:
            c = StepConstraints(spec=priors.spec(0))
        else:
            last = state.context[-1]
            min_delta = max(0, math.ceil(round(start_s / grid, 6) - round(last.onset_s / grid)))
            min_delta = min(min_delta, tok.config.n_delta - 1)
            last_q = round(last.onset_s / grid)
            at_last = []  # the last onset's keys: a suffix of the context (time order), at most a full chord
            for n in reversed(state.context[-MAX_ONSET_NOTES:]):
                if round(n.onset_s / grid) != last_q:
                    break
                at_last.append(n.pitch - PIANO_LOW)
            if len(at_last) >= MAX_ONSET_NOTES:  # a full chord: the next note starts a new onset
                min_delta = max(min_delta, 1)
            c = StepConstraints(spec=priors.spec(min_delta), pitches_at_last_onset=frozenset(at_last),
                                pitch_bias=priors.pitch_bias(last.pitch), meter_bias=priors.meter(last_q),
                                meter_from=priors.meter_from)
            penalty = priors.controls.repeat_penalty
            if penalty > 0:
                self._repeat_biases(c, state.context, penalty, priors.controls.repeat_onset_s)
        new, same = chart_biases(priors.window.changes, priors.controls.chart_weight, state.context, start_s)
        if new is not None:  # the chord at the next onset; a note at delta 0 gets its own onset's chord (chart.py)
            c.pitch_bias = new if c.pitch_bias is None else c.pitch_bias + new
        if same is not None:
            c.onset_pitch_bias = same if c.onset_pitch_bias is None else c.onset_pitch_bias + same
        return c

    def _repeat_biases(self, c: StepConstraints, context: Sequence[Note], penalty: float,
                       onset_s: float = 0.0) -> None:
        """The previous onset's top pitch made less likely for a note that starts a new onset (pitch bias) and the
        top of the onset before the last for a note joining the last onset (it may become that onset's top). An
        onset is the notes on one grid step, or with `onset_s` > 0 those within it of the onset's first note."""
        tops = self._last_tops(context[-24:], onset_s)
        n_pitch = self.tokenizer.config.n_pitch
        bias = np.zeros(n_pitch) if c.pitch_bias is None else c.pitch_bias.copy()
        bias[tops[0]] -= penalty
        c.pitch_bias = bias
        if len(tops) > 1:
            c.onset_pitch_bias = np.zeros(n_pitch)
            c.onset_pitch_bias[tops[1]] -= penalty

    def _last_tops(self, context: Sequence[Note], onset_s: float) -> list[int]:
        """The top key index of the last onset and of the one before it (newest first; fewer if there are not)."""
        grid = self.tokenizer.config.grid_s
        if onset_s > 0:  # grouped forward, as eval.texture's onsets are: within onset_s of the group's first note
            reach = round(onset_s / grid)
            groups: list[tuple[int, int]] = []  # (first step, top)
            for n in context:
                q = round(n.onset_s / grid)
                if groups and q - groups[-1][0] <= reach:
                    groups[-1] = (groups[-1][0], max(groups[-1][1], n.pitch - PIANO_LOW))
                else:
                    groups.append((q, n.pitch - PIANO_LOW))
            return [top for _, top in reversed(groups[-2:])]
        tops: list[int] = []
        group_q, top = None, -1
        for n in reversed(context):
            q = round(n.onset_s / grid)
            if q != group_q:
                if group_q is not None:
                    tops.append(top)
                    if len(tops) == 2:
                        break
                group_q, top = q, -1
            top = max(top, n.pitch - PIANO_LOW)
        if group_q is not None and len(tops) < 2:
            tops.append(top)
        return tops

    def _sample_note(self, state: GeneratorState, priors: WindowPriors, start_s: float,
                     rng: Draws) -> Note:
        controls = priors.controls
        constraints = self._constraints(state, priors, start_s)
        step = self.backend.sample(state.cache, controls, constraints, rng)
        assert 0 <= step[PITCH] < self.tokenizer.config.n_pitch
        if not state.context:
            return self.tokenizer.decode_step(step, start_s - step[DELTA] * self.tokenizer.config.grid_s)
        last = state.context[-1]
        grid = self.tokenizer.config.grid_s
        note = self.tokenizer.decode_step(step, round(last.onset_s / grid) * grid)
        if step[DELTA] == 0:  # another note of the previous onset's chord: exactly with it
            return note.shifted(last.onset_s - note.onset_s)
        if step[DELTA] == self.tokenizer.config.n_delta - 1 and note.onset_s < start_s:
            note = note.shifted(start_s - note.onset_s)  # a collapsed silence: resume at the window start
        elif controls.meter_weight > 0:
            nudge = grid_nudge_s(priors.window.beat_grid, note.onset_s, grid)
            moved = note.onset_s + nudge
            # never before the window it was sampled for, nor onto the previous onset: a new onset (delta >= 1)
            # moved back there would join it unseen by the no-re-strike rule, and a pitch could sound twice at once
            if moved >= start_s and moved > last.onset_s + 0.5 * grid:
                note = note.shifted(nudge)
        if note.onset_s < last.onset_s:  # grid rounding: never before the previous note
            note = note.shifted(last.onset_s - note.onset_s)
        return note
