"""Per-chunk controls: what the player can change live. Frozen; `dataclasses.replace` makes a changed copy."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields

from ..notes import PIANO_HIGH, PIANO_LOW

MAX_STYLE_WEIGHT = 100.0
LEGATO_LIMIT = 2.0  # legato in [-2, 2]


def check_range(name: str, value: float, low: float, high: float) -> None:
    """A one-line error unless low <= value <= high (nan fails too)."""
    if not low <= value <= high:
        raise ValueError(f"{name} must be in [{low}, {high}], got {value!r}")


@dataclass(frozen=True)
class Controls:
    """Sampling and conditioning: what the musician sets (a window's span, budget, grid, chart and seed are the
    caller's: window.py).

    `style` maps style names (pianists, or "none") to weights; the conditioning is their weighted sum.
    `temperature` applies to all four heads, multiplied per head by `head_temperature` (delta, pitch, velocity,
    duration). `top_p` is the nucleus of every head, narrowed per head by `head_top_p` (head k keeps
    min(top_p, head_top_p[k]) of its mass): truncating the touch heads cuts the long notes and the loud and soft ones
    from their tails, which is why the presets truncate only the delta and pitch heads. `guidance` > 1 turns on
    classifier-free guidance against the "no style" vector. `harmony_weight` > 0 adds the context's pitch-class
    transitions to the pitch head (harmony.py; 0 = the network alone).
    `meter_weight` > 0 with a window's beat grid leans the delta head toward the grid's 16th and triplet positions
    (meter.py); `density` > 0 favours shorter onset gaps, < 0 longer ones (a bias, not a cap). `repeat_penalty`
    lowers the logit of the previous onset's top pitch for the notes of a new onset (a top line that re-strikes
    its last note is what free-running sampling overdoes; real players rarely do it); `repeat_onset_s` is how far
    after an onset's first note a note still belongs to it for that rule (0: the same 10 ms step only; a rolled
    chord, its notes 10-30 ms apart, is then several onsets, and its top is not the one penalised). `legato` > 0
    tilts the duration head toward longer notes, < 0 toward shorter ones (staccato): `legato * ln(duration / 0.1 s)`
    is added to each duration's logit (heads.py); free-running sampling drifts toward short notes, and this holds it.
    `chart_weight` > 0 with a window's changes (a tune's chart placed in time) adds the chord sounding at each note's
    onset to the pitch head: its tones, more weakly its tensions, and the next chord's approach (chart.py).
    """

    style: dict[str, float] = field(default_factory=lambda: {"Art Tatum": 1.0})
    temperature: float = 1.0
    head_temperature: tuple[float, float, float, float] = (1.0, 1.0, 1.0, 1.0)
    top_k: int = 0
    top_p: float = 1.0
    head_top_p: tuple[float, float, float, float] = (1.0, 1.0, 1.0, 1.0)
    min_p: float = 0.0
    guidance: float = 1.0
    harmony_weight: float = 0.0
    meter_weight: float = 0.0
    chart_weight: float = 0.0
    density: float = 0.0
    repeat_penalty: float = 0.0
    repeat_onset_s: float = 0.0
    legato: float = 0.0
    pitch_low: int = PIANO_LOW
    pitch_high: int = PIANO_HIGH
    max_duration_s: float = 8.0
    window_s: float = 2.0

    def __post_init__(self) -> None:
        if not isinstance(self.style, dict) or not self.style:
            raise ValueError(f"style must be a non-empty mapping of style name to weight, got {self.style!r}")
        weights = list(self.style.values())
        if not all(math.isfinite(w) and 0 <= w <= MAX_STYLE_WEIGHT for w in weights) or not sum(weights) > 0:
            raise ValueError(f"style weights must be in [0, {MAX_STYLE_WEIGHT}] with a positive sum, got "
                             f"{str(self.style)[:200]}")
        check_range("temperature", self.temperature, 1e-3, 10.0)
        if len(self.head_temperature) != 4:
            raise ValueError("head_temperature needs 4 values (delta, pitch, velocity, duration)")
        for t in self.head_temperature:
            check_range("head_temperature", t, 1e-3, 10.0)
        if not 0 <= self.top_k <= 10_000:
            raise ValueError(f"top_k must be in [0, 10000] (0 = off), got {self.top_k}")
        check_range("top_p", self.top_p, 1e-6, 1.0)
        if len(self.head_top_p) != 4:
            raise ValueError("head_top_p needs 4 values (delta, pitch, velocity, duration)")
        for p in self.head_top_p:
            check_range("head_top_p", p, 1e-6, 1.0)
        check_range("min_p", self.min_p, 0.0, 1.0)
        check_range("guidance", self.guidance, 0.0, 10.0)
        check_range("harmony_weight", self.harmony_weight, 0.0, 4.0)
        check_range("meter_weight", self.meter_weight, 0.0, 4.0)
        check_range("density", self.density, -3.0, 3.0)
        check_range("repeat_penalty", self.repeat_penalty, 0.0, 10.0)
        check_range("repeat_onset_s", self.repeat_onset_s, 0.0, 0.1)
        check_range("legato", self.legato, -LEGATO_LIMIT, LEGATO_LIMIT)
        check_range("chart_weight", self.chart_weight, 0.0, 8.0)
        check_range("pitch_low", self.pitch_low, PIANO_LOW, PIANO_HIGH)
        check_range("pitch_high", self.pitch_high, self.pitch_low, PIANO_HIGH)
        check_range("max_duration_s", self.max_duration_s, 0.01, 60.0)
        check_range("window_s", self.window_s, 0.05, 60.0)

    @property
    def greedy(self) -> bool:
        return self.top_k == 1

    def nucleus(self, head: int) -> float:
        """The top-p mass head `head` (delta, pitch, velocity, duration) samples from."""
        return min(self.top_p, self.head_top_p[head])

    @classmethod
    def field_names(cls) -> list[str]:
        return [f.name for f in fields(cls)]
