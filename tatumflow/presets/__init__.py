"""Presets: TOML files that load into `Controls` (style, sampling, window) plus engine settings.

A preset file has a `description`, a `[controls]` table whose keys are `Controls` fields (`style` is a table of
style weights) and an optional `[engine]` table (mode, latency budget, silence threshold), kept as a table: the
real-time engine checks it (`realtime.engine.config.EngineConfig.from_table`; presets sit below the engine and know
nothing of it). `load_preset("name")` raises a `ValueError` listing the valid names for an unknown one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from ..fieldcheck import check_fields, read_toml
from ..files import clip, quote
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


NOT_PRESETS = ("controls",)  # the name of the CC-map files users write (`tatumflow controls --toml`)


def preset_names() -> list[str]:
    return sorted(p.stem for p in _preset_dir().glob("*.toml") if p.stem not in NOT_PRESETS)


def _parse(name: str, data: dict[str, Any]) -> Preset:
    unknown = set(data) - {"description", "controls", "engine"}
    if unknown:
        raise ValueError(f"preset {name!r}: unknown tables {quote(sorted(unknown))}; allowed: description, "
                         "controls, engine")
    if not isinstance(data.get("description", ""), str):
        raise ValueError(f"preset {name!r}: description must be a string")
    raw = check_fields(Controls, data.get("controls", {}), f"preset {name!r} [controls]")
    try:
        controls = Controls(**raw)
    except (TypeError, ValueError) as err:
        raise ValueError(f"preset {name!r} [controls]: {clip(str(err), 300)}") from err
    engine = _engine_table(name, data.get("engine", {}))
    return Preset(name, str(data.get("description", "")), controls, engine)


def _engine_table(name: str, raw: Any) -> dict[str, Any]:
    """The `[engine]` table as written (the engine checks its settings: `EngineConfig.from_table`)."""
    if not isinstance(raw, dict):
        raise ValueError(f"preset {name!r} [engine] must be a table of settings, got {raw!r}")
    return dict(raw)


def load_preset(name_or_path: str = DEFAULT_PRESET) -> Preset:
    """A preset by name (from this package) or by path to a TOML file."""
    path = Path(name_or_path)
    if path.suffix != ".toml":
        path = _preset_dir() / f"{name_or_path}.toml"
        if not path.is_file() or name_or_path in NOT_PRESETS:
            raise ValueError(f"unknown preset {quote(name_or_path)}; valid presets: {', '.join(preset_names())}")
    elif not path.is_file():
        raise ValueError(f"preset file not found: {path}")
    return _parse(path.stem, read_toml(path, "preset"))


def controls_from(preset_name: str = DEFAULT_PRESET, **overrides: Any) -> Controls:
    """The preset's controls with the given overrides (None values are ignored). Raises ValueError."""
    from dataclasses import replace

    preset = load_preset(preset_name)
    changes = {k: v for k, v in overrides.items() if v is not None}
    bad = set(changes) - set(Controls.field_names())
    if bad:
        raise ValueError(f"unknown controls {sorted(bad)}; allowed: {Controls.field_names()}")
    return replace(preset.controls, **changes)
