"""Presets: TOML files that load into `Controls` (style, sampling, window) plus engine settings.

A preset file has a `description`, a `[controls]` table whose keys are `Controls` fields (`style` is a table of
style weights) and an optional `[engine]` table (mode, latency budget, silence threshold) that the real-time engine
validates. `load_preset("name")` raises a `ValueError` listing the valid names for an unknown one.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from ..generate.controls import Controls

DEFAULT_PRESET = "tatum"


@dataclass(frozen=True)
class Preset:
    name: str
    description: str
    controls: Controls
    engine: dict[str, Any] = field(default_factory=dict)


def _preset_dir() -> Path:
    return Path(str(resources.files(__package__)))


def preset_names() -> list[str]:
    return sorted(p.stem for p in _preset_dir().glob("*.toml"))


def _parse(name: str, data: dict[str, Any]) -> Preset:
    unknown = set(data) - {"description", "controls", "engine"}
    if unknown:
        raise ValueError(f"preset {name!r}: unknown tables {sorted(unknown)}; allowed: description, controls, engine")
    raw = dict(data.get("controls", {}))
    bad = set(raw) - set(Controls.field_names())
    if bad:
        raise ValueError(f"preset {name!r}: unknown controls {sorted(bad)}; allowed: {Controls.field_names()}")
    if "head_temperature" in raw:
        raw["head_temperature"] = tuple(raw["head_temperature"])
    try:
        controls = Controls(**raw)
    except (TypeError, ValueError) as err:
        raise ValueError(f"preset {name!r}: {err}") from err
    return Preset(name, str(data.get("description", "")), controls, dict(data.get("engine", {})))


def load_preset(name_or_path: str = DEFAULT_PRESET) -> Preset:
    """A preset by name (from this package) or by path to a TOML file."""
    path = Path(name_or_path)
    if path.suffix != ".toml":
        path = _preset_dir() / f"{name_or_path}.toml"
        if not path.is_file():
            raise ValueError(f"unknown preset {name_or_path!r}; valid presets: {', '.join(preset_names())}")
    elif not path.is_file():
        raise ValueError(f"preset file not found: {path}")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as err:
        raise ValueError(f"preset {path}: invalid TOML ({err})") from err
    return _parse(path.stem, data)


def controls_from(preset_name: str = DEFAULT_PRESET, **overrides: Any) -> Controls:
    """The preset's controls with the given overrides (None values are ignored). Raises ValueError."""
    from dataclasses import replace

    preset = load_preset(preset_name)
    changes = {k: v for k, v in overrides.items() if v is not None}
    bad = set(changes) - set(Controls.field_names())
    if bad:
        raise ValueError(f"unknown controls {sorted(bad)}; allowed: {Controls.field_names()}")
    return replace(preset.controls, **changes)
