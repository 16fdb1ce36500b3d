"""The control surface: the current value of every live control, and the one `set(name, value)` that every input
(MIDI CC, the terminal UI's keys, OSC) calls.

A change is validated by its `Knob` (knobs.py), then applied to the engine at once; the engine uses it from the next
window: sampling controls through `engine.set_controls(replace(...))`, engine settings through
`engine.update_config`, mode and mute through `engine.switch`, the panic through `engine.panic`. An accompany
`Split` bounds the register the model may use whatever the pitch knobs say. Any thread may call `set`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from ...generate.controls import Controls
from ..engine.config import MODES
from .knobs import KNOBS, Knob, knob, note_name

DEFAULT_STYLE_A = "Art Tatum"
STYLE_B_PREFERENCE = ("Bill Evans", "Oscar Peterson", "Thelonious Monk", "Bud Powell")
SIDES = ("below", "above")


@dataclass(frozen=True)
class Split:
    """The accompany split: the model plays `side` of `note` (below: pitches < note; above: pitches >= note)."""

    note: int
    side: str = "below"

    def __post_init__(self) -> None:
        if not 22 <= self.note <= 108:
            raise ValueError(f"split note must be a MIDI pitch 22..108, got {self.note}")
        if self.side not in SIDES:
            raise ValueError(f"split side must be below or above, got {self.side!r}")

    def bound(self, low: int, high: int) -> tuple[int, int]:
        """The model's register (low, high) kept to its side."""
        if self.side == "below":
            high = min(high, self.note - 1)
            return min(low, high), high
        low = max(low, self.note)
        return low, max(high, low)

    def describe(self) -> str:
        return f"TatumFlow {self.side} {note_name(self.note)} ({self.note}), the human {SIDES[self.side == 'below']}"


def style_pair(controls: Controls, available: Sequence[str] = (), style_b: str | None = None) -> tuple[str, str]:
    """The two pianists `style_mix` crossfades: the preset's main style (default Art Tatum) and `style_b`, else a
    known other one from the checkpoint's styles."""
    a = max(controls.style, key=controls.style.__getitem__) if controls.style else DEFAULT_STYLE_A
    if style_b is not None:
        if available and style_b not in available:
            raise ValueError(f"unknown style {style_b!r}; the checkpoint knows e.g. {', '.join(available[1:9])}")
        return a, style_b
    others = [s for s in available if s not in (a, "none")]
    preferred = [s for s in STYLE_B_PREFERENCE if s != a and (not available or s in available)]
    return a, (preferred or others or ["none"])[0]


class ControlSurface:
    """Live values of the `KNOBS`, applied to `engine`. `on_change(name, value, source)` is told of each change."""

    def __init__(self, engine, styles: tuple[str, str] | None = None, split: Split | None = None,
                 on_change: Callable[[str, Any, str], None] | None = None) -> None:
        self.engine, self.split, self.on_change = engine, split, on_change
        self.styles = styles or style_pair(engine.controls)
        self._lock = threading.RLock()
        self.values: dict[str, Any] = self._initial(engine.controls, engine.config)
        self.last: tuple[str, str, str] | None = None  # (name, formatted value, source)
        self.panics = 0
        if split is not None:
            self._apply_controls()

    def _initial(self, c: Controls, config) -> dict[str, Any]:
        """Each knob's value now, read through its field (clamped to the knob's range)."""
        values: dict[str, Any] = {}
        for name, k in KNOBS.items():
            if k.target == "switch":
                values[name] = config.mode if name == "mode" else bool(getattr(engine_snapshot(self.engine),
                                                                                "muted", False))
            elif k.field == "style":
                a, b = self.styles
                values[name] = c.style.get(b, 0.0) / max(c.style.get(a, 0.0) + c.style.get(b, 0.0), 1e-9)
            else:
                value = getattr(c if k.target == "controls" else config, k.field)
                values[name] = min(max(value, k.min), k.max)
        return values

    # -- the one entry point ----------------------------------------------------------------------------------
    def set(self, name: str, value: Any, source: str = "api") -> Any:
        """Set control `name` to `value` (validated; a ValueError names the control and the range)."""
        k = knob(name)
        parsed = k.parse(value)
        self._set(k, parsed, source)
        return parsed

    def set_cc(self, name: str, cc_value: int, source: str = "cc") -> Any:
        """A CC value 0..127 for control `name`, mapped linearly onto its range."""
        k = knob(name)
        value = k.from_cc(cc_value)
        self._set(k, value, source)
        return value

    def nudge(self, name: str, steps: int, source: str = "key") -> Any:
        k = knob(name)
        with self._lock:
            value = k.nudge(self.values[name], steps)
            self._set(k, value, source)
        return value

    def panic(self, source: str = "api") -> None:
        """All notes off now; the reply under way ends."""
        self.engine.panic()
        with self._lock:
            self.panics += 1
            self.last = ("panic", "all notes off", source)

    def _set(self, k: Knob, value: Any, source: str) -> None:
        with self._lock:
            if value == self.values[k.name] and k.target == "switch":
                return  # a knob resending its value: no restart of the mode
            self.values[k.name] = value
            self._follow_pitch(k.name, value)
            if k.target == "controls":
                self._apply_controls()
            elif k.target == "engine":
                self.engine.update_config(**{k.field: value})
            elif k.name == "mode":
                self.engine.switch(mode=value)
            else:
                self.engine.switch(muted=value)
            self.last = (k.name, k.format(value), source)
        if self.on_change is not None:
            self.on_change(k.name, value, source)

    def _follow_pitch(self, name: str, value: Any) -> None:
        """The other end of the register follows when one crosses it (the knob moved wins)."""
        if name == "pitch_low" and self.values["pitch_high"] < value:
            self.values["pitch_high"] = value
        elif name == "pitch_high" and self.values["pitch_low"] > value:
            self.values["pitch_low"] = value

    def register(self) -> tuple[int, int]:
        """The pitch range the model may use now (the knobs, bounded by the split)."""
        low, high = self.values["pitch_low"], self.values["pitch_high"]
        return self.split.bound(low, high) if self.split is not None else (low, high)

    def controls_now(self) -> Controls:
        """The engine's controls with the knob values applied, each through its field (the style pair from the mix,
        the register bounded by the split)."""
        v = self.values
        fields = {k.field: v[name] for name, k in KNOBS.items() if k.target == "controls"}
        a, b = self.styles
        mix = fields.pop("style")
        fields["style"] = {a: 1.0 - mix, b: mix} if 0 < mix < 1 else {b if mix >= 1 else a: 1.0}
        fields["pitch_low"], fields["pitch_high"] = self.register()
        return replace(self.engine.controls, **fields)

    def _apply_controls(self) -> None:
        self.engine.set_controls(self.controls_now())

    def rows(self) -> list[tuple[Knob, str]]:
        """(knob, formatted value) for every control, in registry order (for the UI)."""
        with self._lock:
            return [(k, k.format(self.values[name])) for name, k in KNOBS.items()]


def engine_snapshot(engine) -> Any:
    snap = getattr(engine, "snapshot", None)
    return snap() if callable(snap) else None


assert set(MODES) == set(KNOBS["mode"].choices)
