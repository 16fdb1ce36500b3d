"""The live controls: every knob a musician can turn, defined once, in `KNOBS`.

A knob's row is its whole definition: name, kind, what it changes (a field of the sampling `Controls`, an
`EngineConfig` setting read at the next step, or an engine switch: mode, mute), range, default, keyboard step, the
CC it sits on in the built-in map, and its help. Everything else is derived from the table: the control surface
reads and applies each knob through its `field` (surface.py), the CC map's names and the built-in map (ccmap.py),
OSC addresses (osc.py), the terminal UI rows, `tatumflow controls` and the CLI help of the matching options
(`option_help`). Nothing is re-encoded: a change takes effect at the next window. A MIDI CC value 0..127 maps
linearly onto `min..max` (`from_cc`); a choice knob (mode) splits 0..127 into equal zones, a toggle (mute) is on
from 64. `surface.ControlSurface.set(name, value)` is the one entry point every input (CC, keyboard, OSC) calls.

A new sampling control touches two files: `generate/controls.py` (the `Controls` field, its check and its use by
the sampler) and this table (one row). An engine control: `realtime/engine/config.py` (the `EngineConfig` field)
and this table. tests/realtime/test_controls.py (`test_a_new_knob_is_one_row`) keeps it so.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ...notes import PIANO_HIGH, PIANO_LOW
from ..engine.config import MODES

CC_MAX = 127
NOTE_NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")


def note_name(pitch: int) -> str:
    """MIDI pitch as a name: 60 -> C4."""
    return f"{NOTE_NAMES[pitch % 12]}{pitch // 12 - 1}"


@dataclass(frozen=True)
class Knob:
    """One live control. `kind`: "float", "int", "choice" (`choices`, the value is a name) or "toggle" (a bool).
    `target`: "controls" (a `Controls` field, `field`), "engine" (an `EngineConfig` field) or "switch"."""

    name: str
    min: float
    max: float
    default: Any
    kind: str
    target: str
    field: str
    step: float
    help: str
    choices: tuple[str, ...] = ()
    cc: int | None = None  # where the built-in CC map puts it (None: on no CC until mapped)

    def parse(self, value: Any) -> Any:
        """A value from any input (a number, a string from OSC or the keyboard), checked against the range."""
        if self.kind == "choice":
            return self._parse_choice(value)
        if self.kind == "toggle":
            return self._parse_toggle(value)
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise ValueError(f"control {self.name}: {value!r} is not a number") from None
        if not self.min <= number <= self.max:
            raise ValueError(f"control {self.name}: {number:g} is out of range [{self.min:g}, {self.max:g}]")
        return int(round(number)) if self.kind == "int" else number

    def _parse_choice(self, value: Any) -> str:
        if isinstance(value, str) and value in self.choices:
            return value
        number = isinstance(value, int | float) and not isinstance(value, bool) and float(value).is_integer()
        if number and 0 <= int(value) < len(self.choices):
            return self.choices[int(value)]
        raise ValueError(f"control {self.name}: {value!r} is not one of {', '.join(self.choices)} "
                         f"(or 0..{len(self.choices) - 1})")

    def _parse_toggle(self, value: Any) -> bool:
        words = {"on": True, "off": False, "true": True, "false": False, "1": True, "0": False}
        if isinstance(value, bool):
            return value
        if isinstance(value, int | float) and value in (0, 1):
            return bool(value)
        if isinstance(value, str) and value.lower() in words:
            return words[value.lower()]
        raise ValueError(f"control {self.name}: {value!r} is not on/off (1/0)")

    def from_cc(self, cc_value: int) -> Any:
        """The value a CC value 0..127 stands for."""
        if not 0 <= cc_value <= CC_MAX:
            raise ValueError(f"control {self.name}: CC value {cc_value} is out of range 0..127")
        if self.kind == "toggle":
            return cc_value >= 64
        if self.kind == "choice":
            return self.choices[min(cc_value * len(self.choices) // (CC_MAX + 1), len(self.choices) - 1)]
        value = self.min + (self.max - self.min) * cc_value / CC_MAX
        return int(round(value)) if self.kind == "int" else value

    def nudge(self, value: Any, steps: int) -> Any:
        """`value` moved by `steps` keyboard steps, kept in range (a choice cycles, a toggle flips)."""
        if self.kind == "toggle":
            return not value if steps else value
        if self.kind == "choice":
            return self.choices[(self.choices.index(value) + steps) % len(self.choices)]
        moved = min(max(value + steps * self.step, self.min), self.max)
        return int(round(moved)) if self.kind == "int" else round(moved, 6)

    def format(self, value: Any) -> str:
        if self.kind == "toggle":
            return "on" if value else "off"
        if self.kind == "choice":
            return str(value)
        if self.name in ("pitch_low", "pitch_high"):
            return f"{value} {note_name(int(value))}"
        return f"{value:.2f}" if self.kind == "float" else str(value)

    def span(self) -> str:
        """The range as the UI and the CLI help write it."""
        if self.choices:
            return "/".join(self.choices)
        return "off/on" if self.kind == "toggle" else f"{self.min:g}..{self.max:g}"

    def describe(self, cc: int | None) -> dict[str, Any]:
        """The row of `tatumflow controls --json`."""
        row = {"name": self.name, "cc": cc, "min": self.min, "max": self.max, "default": self.default,
               "kind": self.kind, "applies_to": f"{self.target}.{self.field}" if self.field else self.target,
               "help": self.help}
        if self.choices:
            row["choices"] = list(self.choices)
        return row


def _k(name, lo, hi, default, kind, target, field, step, cc, text, choices=()) -> Knob:
    return Knob(name, lo, hi, default, kind, target, field, step, text, tuple(choices), cc)


# name, min, max, default, kind, target, field, keyboard step, CC in the built-in map, help (choices)
KNOBS: dict[str, Knob] = {k.name: k for k in (
    _k("temperature", 0.1, 2.0, 1.0, "float", "controls", "temperature", 0.05, 70, "sampling temperature, all heads"),
    _k("harmony", 0.0, 2.0, 0.1, "float", "controls", "harmony_weight", 0.1, 71,
       "weight of the harmony prior (what was heard); 0 = the network alone"),
    _k("style_mix", 0.0, 1.0, 0.0, "float", "controls", "style", 0.1, 72,
       "crossfade: 0 = the first style (Art Tatum), 1 = the second"),
    _k("guidance", 1.0, 3.0, 1.0, "float", "controls", "guidance", 0.1, 73, "style guidance; 1 = off"),
    _k("pitch_low", PIANO_LOW, PIANO_HIGH, PIANO_LOW, "int", "controls", "pitch_low", 1, 74, "lowest pitch played"),
    _k("pitch_high", PIANO_LOW, PIANO_HIGH, PIANO_HIGH, "int", "controls", "pitch_high", 1, 75,
       "highest pitch played"),
    _k("density", -3.0, 3.0, 0.0, "float", "controls", "density", 0.25, 76,
       "bias on the onset gaps: > 0 denser, < 0 sparser"),
    _k("legato", -2.0, 2.0, 0.0, "float", "controls", "legato", 0.05, 81,
       "note lengths: > 0 longer (legato), < 0 shorter (staccato)"),
    _k("chart", 0.0, 8.0, 0.0, "float", "controls", "chart_weight", 0.25, 83,
       "weight of the chart prior (jam --changes: the chord at each onset); 0 = off"),
    _k("reply_ratio", 0.25, 4.0, 1.0, "float", "engine", "reply_ratio", 0.25, 77, "reply length / phrase length"),
    _k("silence", 0.1, 3.0, 0.5, "float", "engine", "silence_threshold_s", 0.05, 78,
       "silence (s) after the human's last release before a reply"),
    _k("mode", 0, len(MODES) - 1, MODES[0], "choice", "switch", "mode", 1, 79,
       "call-response, duet, continue or trade (trade: with --changes)", MODES),
    _k("mute", 0, 1, False, "toggle", "switch", "", 1, 80, "TatumFlow silent (it still listens)"),
)}
PANIC = "panic"  # not a knob: a trigger (all notes off now), on a CC of the map and in every UI
PANIC_CC = 120  # MIDI's "all sound off"


def option_help(name: str, default: str = "the preset's", with_range: bool = True) -> str:
    """The CLI help of the option that sets knob `name` at start: its help (and range) from the table. `with_range`
    False where the option takes more than the knob turns (the knob is a musician's span of a wider setting)."""
    k = knob(name)
    span = f"{k.span()}; " if with_range else ""
    return f"{k.help[0].upper()}{k.help[1:]} ({span}default: {default})."


def knob(name: str) -> Knob:
    """The knob called `name`; a ValueError lists the valid names."""
    found = KNOBS.get(name)
    if found is None:
        raise ValueError(f"unknown control {name!r}; controls: {', '.join(KNOBS)}")
    return found
