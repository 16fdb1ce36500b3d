"""What the engine asks of one window: `generate_chunk(state, human_notes, controls, window)`.

`Controls` are what the musician sets (style, temperature, the priors' weights, the range, legato) and stay the same
from window to window until a knob turns. A `Window` is what the caller decides for this one window: where it lies,
how many notes the latency budget allows, the beat grid the session keeps (MIDI clock, the tempo tracker, a chart),
the tune's changes placed in time, and the seed. Magenta RealTime's contract is the model: the caller's inputs
explicit, nothing the engine decides hidden in the musician's settings.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..timing.form import Changes
from ..timing.grid import BeatGrid

MAX_SEED = 2**62  # window i samples with seed + i: never past torch's 2**64 - 1 (eval's paired seeds reach ~2**40)
MAX_WINDOW_NOTES = 10_000
DEFAULT_WINDOW_NOTES = 64


@dataclass(frozen=True)
class Window:
    """One window's frame.

    `start_s` None: where the state's last window ended; `end_s` None: `start + controls.window_s`. At most
    `max_notes` notes are sampled. `beat_grid` (with `Controls.meter_weight` > 0) leans onsets toward the beat's
    16ths and triplets; `changes` (with `Controls.chart_weight` > 0) puts the chart's chord at each onset into the
    pitch head. The window's draws use the seed `seed + state.window_index`, so a caller passes one session seed
    and every window still draws its own numbers.
    """

    start_s: float | None = None
    end_s: float | None = None
    max_notes: int = DEFAULT_WINDOW_NOTES
    beat_grid: BeatGrid | None = None
    changes: Changes | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("start_s", "end_s"):
            value = getattr(self, name)
            if value is not None and not math.isfinite(value):
                raise ValueError(f"window {name} must be finite, got {value!r}")
        if not 1 <= self.max_notes <= MAX_WINDOW_NOTES:
            raise ValueError(f"window max_notes must be in [1, {MAX_WINDOW_NOTES}], got {self.max_notes}")
        if self.beat_grid is not None and not isinstance(self.beat_grid, BeatGrid):
            raise ValueError(f"beat_grid must be a BeatGrid or None, got {self.beat_grid!r}")
        if self.changes is not None and not isinstance(self.changes, Changes):
            raise ValueError(f"changes must be a timing.form.Changes or None, got {type(self.changes).__name__}")
        if not 0 <= self.seed <= MAX_SEED:
            raise ValueError(f"seed must be in [0, {MAX_SEED}], got {self.seed}")

    def span(self, next_start_s: float, window_s: float) -> tuple[float, float]:
        """(start, end) of this window, given where the last one ended and the controls' window length."""
        start = next_start_s if self.start_s is None else self.start_s
        end = start + window_s if self.end_s is None else self.end_s
        if end <= start:
            raise ValueError(f"window end {end} must be after its start {start}")
        return start, end


FOLLOW_ON = Window()  # the next window after the last, the default budget, no grid, no changes, seed 0
