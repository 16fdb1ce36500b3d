"""The MIDI CC map: which CC turns which live control, read from TOML; the built-in map is the knob table's `cc`
column (knobs.py) plus the panic (`default_map`; `tatumflow controls --toml` prints it as a file to edit).

A map file has an optional `description`, a `channel` (0: any, 1..16: only that one) and a `[cc]` table of
`control = CC number` (the control names of knobs.py, plus `panic`). Checked field by field (fieldcheck.py); the
sustain pedal (CC 64) is playing and can be no control, and one CC turns one control. `write_map` writes one back
(MIDI learn).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from ...fieldcheck import check_fields, read_toml
from ...files import clip, quote, write_atomic
from ...notes import SUSTAIN_CC
from .knobs import KNOBS, PANIC, PANIC_CC

TARGETS = (*KNOBS, PANIC)
DEFAULT_DESCRIPTION = "the built-in map: 8 knobs on CC 70-77 (as on the Akai MPK mini, Arturia MiniLab and most " \
    "class-compliant knob boxes), silence/mode/mute on CC 78-80, legato on CC 81, panic on CC 120"


@dataclass(frozen=True)
class CcMapFile:
    """The TOML file's shape (for `check_fields`)."""

    description: str = ""
    channel: int = 0
    cc: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class CcMap:
    """control name -> CC number; `by_cc` is the reverse. `channel` None: any channel (0-based otherwise)."""

    controls: dict[str, int]
    channel: int | None = None
    description: str = ""

    def __post_init__(self) -> None:
        seen: dict[int, str] = {}
        for name, cc in self.controls.items():
            if name not in KNOBS and name != PANIC:  # read at each check: a knob added to KNOBS is known here
                raise ValueError(f"unknown control {quote(name)} in the CC map; controls: {', '.join(KNOBS)}, {PANIC}")
            if not 0 <= cc <= 127:
                raise ValueError(f"CC map: {name} = {cc}: a CC number is 0..127")
            if cc == SUSTAIN_CC:
                raise ValueError(f"CC map: {name} = 64: CC 64 is the sustain pedal (playing), not a control")
            if cc in seen:
                raise ValueError(f"CC map: CC {cc} is given to both {seen[cc]} and {name}")
            seen[cc] = name

    @property
    def by_cc(self) -> dict[int, str]:
        return {cc: name for name, cc in self.controls.items()}

    def cc_of(self, name: str) -> int | None:
        return self.controls.get(name)

    def target(self, channel: int, control: int) -> str | None:
        """The control a CC message turns (None: not a control CC, e.g. the pedal, or another channel)."""
        if self.channel is not None and channel != self.channel:
            return None
        return self.by_cc.get(control)

    def with_cc(self, name: str, cc: int) -> CcMap:
        """This map with `name` on `cc` (whatever had `cc` before loses it)."""
        controls = {n: c for n, c in self.controls.items() if c != cc and n != name}
        controls[name] = cc
        return CcMap(controls, self.channel, self.description)


def default_map() -> CcMap:
    """The built-in map: each knob on the CC its row names, the panic on `PANIC_CC`; controls on any channel."""
    controls = {name: k.cc for name, k in KNOBS.items() if k.cc is not None}
    return CcMap({**controls, PANIC: PANIC_CC}, None, DEFAULT_DESCRIPTION)


def load_map(path: str | Path | None = None) -> CcMap:
    """A CC map from TOML (None: the built-in map); one-line ValueErrors for anything wrong."""
    if path is None:
        return default_map()
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"controls file not found: {path}")
    data = read_toml(path, "controls file")
    raw = check_fields(CcMapFile, data, f"controls file {path}")
    parsed = CcMapFile(**raw)
    if not 0 <= parsed.channel <= 16:
        raise ValueError(f"controls file {path}: channel must be 0 (any) or 1..16, got {parsed.channel}")
    try:
        return CcMap(dict(parsed.cc), parsed.channel - 1 if parsed.channel else None, parsed.description)
    except ValueError as err:
        raise ValueError(f"controls file {path}: {clip(str(err), 300)}") from err


def map_toml(ccmap: CcMap) -> str:
    """The TOML text of a map (what `load_map` reads back)."""
    lines = [f"description = {json.dumps(ccmap.description or 'learned with tatumflow jam --learn')}",
             f"channel = {0 if ccmap.channel is None else ccmap.channel + 1}  # 0: any channel", "", "[cc]"]
    order = {name: i for i, name in enumerate((*KNOBS, PANIC))}
    for name, cc in sorted(ccmap.controls.items(), key=lambda kv: order[kv[0]]):
        lines.append(f"{name} = {cc}")
    return "\n".join(lines) + "\n"


def write_map(ccmap: CcMap, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_atomic(path, map_toml(ccmap))
