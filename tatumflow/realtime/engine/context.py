"""The live context: the generator state as the engine edits it, and the only caller of the generator in realtime/.
What a window may cost and which windows to ask for is the planner's (planner.py, `Planner`): it hands this context a
`Window` to sample and keeps the estimates and the stats.

The generator's streaming contract (generate/generator.py) is `state = init_state(prompt, controls)`, then
`notes, state = generate_chunk(state, human_notes, controls)` per window: one call folds the new human notes in and
samples one window. Live play needs those two halves apart in time (the human's notes are prefilled while they
play, so that a reply costs only its decode steps) and two edits the offline contract has no use for. This is the
contract the engine really uses, call by call:

- `init_state(prompt, controls, start_s=0.0)`, once; the prompt moved into the past so that it ends 50 ms before
  the session starts.
- `absorb(state, notes, controls)`: the human-notes half of `generate_chunk`, called as soon as notes are known (a
  finished note at the next worker pass; a key still down when a window is generated, with the duration held so
  far). Notes after the context's last one cost their prefill only; a note that belongs earlier rolls the cache
  back to it (no recompute before it) and re-prefills the merged tail.
- `generate_chunk(state, [], controls, window)`: the sampling half. `human_notes` is always empty (absorbed already)
  and the `Window` explicit: the engine decides where windows start and how long they are (a reply's start, a
  degraded length), the latency budget's note cap, the session's beat grid and the tune's changes, and the seed
  (the planner builds it).
- `truncate(state, t_s)`: forget context notes with onset >= t_s, planned notes that will never sound (the human
  barged in; a reply's first chunk cut at the reply's end; a first chunk moved, below).
- `absorb(state, notes, controls, heard=False)`: notes put back that the context held before: a reply's first
  chunk pulled earlier to the reply's start (after `truncate`), and the notes after a corrected held key (below).
  `heard=False` keeps them out of the harmony prior, which hears the prompt and the human only, each note once.
- `state.context` (the notes in the cache, in time order) and `state.window_start_s` are read, never written.

Held keys. The engine never waits for key-up: a key still down enters with the duration held so far, as a
*provisional* note. When it ends, its finished note replaces the provisional one: the context is truncated at its
onset and the notes from there absorbed again (a re-prefill of that tail). Only the provisional notes are
remembered (at most the keys down), so memory stays flat over a session.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence

from ...generate.controls import Controls
from ...generate.window import Window
from ...notes import Note
from .clock import Clock

PROMPT_END_S = 0.05  # the prompt ends this long before the session starts


def _key(n: Note) -> tuple[float, int]:
    return (n.onset_s, n.pitch)


class LiveContext:
    """The generator, its state and the live controls, for one session (worker thread only, except
    `controls`/`set_controls` and the read-only `notes`, which any thread may use)."""

    def __init__(self, generator, controls: Controls, clock: Clock, prompt: Sequence[Note] = ()) -> None:
        self._gen, self._clock, self._controls = generator, clock, controls
        self.own_process = bool(getattr(generator, "own_process", False))  # generate/process.py: calls only wait
        self._state = generator.init_state(self._place_prompt(prompt), controls, start_s=0.0)
        self._provisional: set[tuple[float, int]] = set()  # held keys in the context with their duration so far

    def _place_prompt(self, prompt: Sequence[Note]) -> list[Note]:
        if not prompt:
            return []
        offset = self._clock.now() - PROMPT_END_S - max(n.onset_s for n in prompt)
        return [n.shifted(offset) for n in prompt]

    def check(self) -> None:
        """Raises when the generator can no longer answer (its own process ended: generate/process.py)."""
        check = getattr(self._gen, "check", None)
        if check is not None:
            check()

    # -- controls and views (any thread) ---------------------------------------------------------------------
    @property
    def controls(self) -> Controls:
        return self._controls

    def set_controls(self, controls: Controls) -> None:
        """Takes effect from the next window."""
        self._controls = controls

    @property
    def notes(self) -> tuple[Note, ...]:
        """The notes in the context now, in time order (a snapshot)."""
        return tuple(self._state.context)

    def __len__(self) -> int:
        return len(self._state.context)

    @property
    def held_in_context(self) -> int:
        """Keys that entered the context while still down and have not ended yet."""
        return len(self._provisional)

    # -- what the human played -------------------------------------------------------------------------------
    def hear(self, finished: Sequence[Note]) -> None:
        """Finished human notes: new ones are absorbed; those that entered while held replace their provisional
        version."""
        if not finished:
            return
        corrected = [n for n in finished if _key(n) in self._provisional]
        fresh = [n for n in finished if _key(n) not in self._provisional]
        if corrected:
            self._provisional.difference_update(_key(n) for n in corrected)
            self._correct(corrected)
        if fresh:
            self._gen.absorb(self._state, fresh, self._controls)

    def hear_sounding(self, sounding: Sequence[Note]) -> None:
        """Keys still down, with the duration held so far (each enters once; `hear` corrects it when it ends)."""
        new = [n for n in sounding if _key(n) not in self._provisional]
        if new:
            self._provisional.update(_key(n) for n in new)
            self._gen.absorb(self._state, new, self._controls)

    def _correct(self, finished: list[Note]) -> None:
        context = self._state.context
        keep = [n for n in finished if context and n.onset_s >= context[0].onset_s]  # older: compacted away
        if not keep:
            return
        first = min(n.onset_s for n in keep)
        replaced = {_key(n) for n in keep}
        start = bisect.bisect_left(context, first, key=lambda n: n.onset_s)
        tail = [n for n in context[start:] if _key(n) not in replaced]
        self._gen.truncate(self._state, first)
        self._gen.absorb(self._state, tail + keep, self._controls, heard=False)  # heard once already, as held

    # -- editing what the engine planned ---------------------------------------------------------------------
    def forget_from(self, t_s: float) -> None:
        """Forget the context from `t_s` on (planned notes that never sounded)."""
        self._gen.truncate(self._state, t_s)
        self._provisional = {k for k in self._provisional if k[0] < t_s}

    def keep_before(self, notes: list[Note], end_s: float) -> list[Note]:
        """The notes before `end_s`; later ones leave the context too."""
        keep = [n for n in notes if n.onset_s < end_s]
        if len(keep) < len(notes):
            self.forget_from(notes[len(keep)].onset_s)
        return keep

    def pull_to(self, notes: list[Note], start_s: float) -> list[Note]:
        """Shift freshly generated notes earlier so that the first one is at `start_s` (the context follows)."""
        offset = notes[0].onset_s - start_s
        self.forget_from(notes[0].onset_s)
        shifted = [n.shifted(-offset) for n in notes]
        self._gen.absorb(self._state, shifted, self._controls, heard=False)  # its own notes: not for the harmony prior
        return shifted

    # -- generating ------------------------------------------------------------------------------------------
    def generate(self, window: Window, controls: Controls | None = None) -> tuple[list[Note], float]:
        """Sample `window` (the planner's) with the controls now, or with `controls` for this window alone (the feel
        over a chart on top of them; the live ones are left as they are); returns its notes and the milliseconds
        it took."""
        controls = self._controls if controls is None else controls
        t0 = self._clock.now()
        notes, self._state = self._gen.generate_chunk(self._state, [], controls, window)
        return notes, (self._clock.now() - t0) * 1e3

    def warm_up(self, max_notes: int, seed: int) -> float | None:
        """One throw-away window of `max_notes` on a copy of the state: loads caches/kernels; returns what a note
        cost (ms; None when the window came out empty)."""
        for _ in range(2):  # the first pass pays one-time costs (allocation, kernels): the second one is timed
            probe = self._state.copy()
            window = Window(probe.window_start_s, probe.window_start_s + self._controls.window_s, max_notes,
                            seed=seed)
            t0 = self._clock.now()
            notes, _ = self._gen.generate_chunk(probe, [], self._controls, window)
        return (self._clock.now() - t0) * 1e3 / len(notes) if notes else None
