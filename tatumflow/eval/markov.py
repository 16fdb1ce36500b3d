"""The variable-order Markov baseline (the Continuator idea, Pachet 2003).

It learns from the prompt only, as the Continuator learns from what the player just played. Each prompt note becomes
an event (pitch, quantised inter-onset interval to the previous note, quantised duration, velocity bin). A prefix
table maps the last k context symbols (k = `max_order` .. 1) to the events that followed them; a context symbol is a
reduced view of an event, (pitch, rhythm class), so that contexts recur often enough to be useful. Sampling looks up
the longest context seen in the prompt and backs off to shorter ones, down to order 0 (any prompt event). Pitches are
absolute, so the output stays inside the prompt's pitch set.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from ..notes import MIN_DURATION_S, Note
from .metrics import CHORD_S, in_onset_order


@dataclass(frozen=True)
class MarkovConfig:
    max_order: int = 4
    ioi_grid_s: float = 0.01
    duration_grid_s: float = 0.01
    velocity_bins: int = 8
    max_chord: int = 10

    def __post_init__(self) -> None:
        if self.max_order < 1:
            raise ValueError(f"max_order must be >= 1, got {self.max_order}")
        if not (self.ioi_grid_s > 0 and self.duration_grid_s > 0):
            raise ValueError("ioi_grid_s and duration_grid_s must be > 0")
        if not 1 <= self.velocity_bins <= 127 or self.max_chord < 1:
            raise ValueError("velocity_bins must be in 1..127 and max_chord >= 1")


@dataclass(frozen=True)
class Event:
    """One prompt note as the model sees it: what a continuation step emits."""

    pitch: int
    ioi_s: float  # onset gap to the previous note (0 within a chord)
    duration_s: float
    velocity: int


def _rhythm_class(ioi_s: float) -> int:
    """Coarse rhythm view for contexts: 0 = same chord, then octave bands of the gap (~60 ms, 120 ms, ...)."""
    if ioi_s < CHORD_S:
        return 0
    return 1 + max(0, min(6, int(math.log2(ioi_s / CHORD_S))))


def _symbol(e: Event) -> tuple[int, int]:
    return (e.pitch, _rhythm_class(e.ioi_s))


class MarkovContinuator:
    """A variable-order Markov model over notes, trained on one prompt; `continue_notes` samples a continuation."""

    def __init__(self, prompt: Sequence[Note], config: MarkovConfig | None = None) -> None:
        self.config = config or MarkovConfig()
        self.events = self._events(in_onset_order(prompt))
        self.table: dict[tuple, list[int]] = {}
        for i in range(1, len(self.events)):
            for k in range(1, min(self.config.max_order, i) + 1):
                key = tuple(_symbol(e) for e in self.events[i - k : i])
                self.table.setdefault(key, []).append(i)

    def _events(self, notes: list[Note]) -> list[Event]:
        c = self.config
        step = 128 / c.velocity_bins
        events, prev = [], None
        for n in notes:
            ioi = 0.0 if prev is None else n.onset_s - prev.onset_s
            ioi = 0.0 if ioi < CHORD_S else round(ioi / c.ioi_grid_s) * c.ioi_grid_s
            duration = max(round(n.duration_s / c.duration_grid_s) * c.duration_grid_s, c.duration_grid_s)
            velocity = min(127, max(1, int((int(n.velocity // step) + 0.5) * step)))
            events.append(Event(n.pitch, ioi, duration, velocity))
            prev = n
        return events

    def next_event(self, history: Sequence[Event], rng: np.random.Generator) -> tuple[Event, int]:
        """A sampled next event and the order of the context it came from (0 = back-off to any event)."""
        for k in range(min(self.config.max_order, len(history)), 0, -1):
            followers = self.table.get(tuple(_symbol(e) for e in history[-k:]))
            if followers:
                return self.events[followers[rng.integers(len(followers))]], k
        return self.events[rng.integers(len(self.events))], 0

    def continue_notes(self, start_s: float, seconds: float, seed: int = 0) -> list[Note]:
        """Notes with onsets in [start_s, start_s + seconds), ending by then; the first one is at `start_s`.

        A pitch re-struck while it sounds cuts the earlier note; a chord holds each pitch once and at most
        `max_chord` notes (past that the next note moves one IOI step on).
        """
        if not seconds > 0:
            raise ValueError(f"seconds must be > 0, got {seconds}")
        if not self.events:
            return []
        rng = np.random.default_rng(seed)
        end = start_s + seconds
        history = list(self.events[-self.config.max_order :])
        out: list[Note] = []
        onset = start_s
        while True:
            event, _ = self.next_event(history, rng)
            if out:
                onset += event.ioi_s
                if event.ioi_s == 0 and self._chord_full(out, onset, event.pitch):
                    onset += self.config.ioi_grid_s
            if onset >= end:
                break
            self._add(out, Note(onset, min(event.duration_s, end - onset), event.pitch, event.velocity))
            history = (history + [event])[-self.config.max_order :]
        return out

    def _chord_full(self, out: list[Note], onset: float, pitch: int) -> bool:
        chord = [n for n in out[-self.config.max_chord :] if n.onset_s == onset]
        return len(chord) >= self.config.max_chord or any(n.pitch == pitch for n in chord)

    @staticmethod
    def _add(out: list[Note], note: Note) -> None:
        """Append, cutting an earlier note of the same pitch that still sounds."""
        for i in range(len(out) - 1, -1, -1):
            prev = out[i]
            if prev.pitch == note.pitch:
                if prev.end_s > note.onset_s:
                    out[i] = replace(prev, duration_s=max(note.onset_s - prev.onset_s, MIN_DURATION_S))
                break
        out.append(note)


def markov_continuation(
    prompt: Sequence[Note], start_s: float, seconds: float, seed: int = 0, config: MarkovConfig | None = None
) -> list[Note]:
    """Continue `prompt` for `seconds` from `start_s` with a Markov model trained on the prompt alone."""
    return MarkovContinuator(prompt, config).continue_notes(start_s, seconds, seed)
