"""What constrains the next note: the masks and tilts that change seldom (`MaskSpec`, frozen: its own cache key)
and what changes from note to note (`StepConstraints`). The generator builds them (priors.py prepares a window's
share once); the backends turn them into biases on the heads (heads.py)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class MaskSpec:
    """What masks and tilts a note's heads and changes seldom: onset no earlier than `min_delta` grid steps (nor
    later than `max_delta`), pitches in `pitch_low..pitch_high` (key indices), durations up to `max_duration_bin`,
    the duration head tilted by `legato` (Controls.legato) and the delta head by `density` (Controls.density).
    Frozen and hashable: it is its own cache key for the biases built from it (a field added here is in the key)."""

    min_delta: int = 0
    max_delta: int | None = None
    pitch_low: int = 0
    pitch_high: int = 87
    max_duration_bin: int | None = None
    legato: float = 0.0
    density: float = 0.0


@dataclass
class StepConstraints:
    """A note's constraints: the masks and tilts of `spec`, and what changes from note to note. Pitches already
    struck at the previous onset are excluded when delta is 0; `pitch_bias` shifts the pitch logits (the harmony
    prior, the repeat penalty); `meter_bias` the delta logits from delta `meter_from` on, re-centred per note by
    the sampler (heads.meter_term); `onset_pitch_bias` the pitch logits of a note at delta 0 only."""

    spec: MaskSpec = MaskSpec()
    pitches_at_last_onset: frozenset[int] = frozenset()
    pitch_bias: np.ndarray | None = None  # additive, over the 88 keys; None = none
    meter_bias: np.ndarray | None = None  # the meter prior over the deltas (entries below meter_from unused)
    meter_from: int = 1
    onset_pitch_bias: np.ndarray | None = None  # additive over the 88 keys, only for a note at delta 0
