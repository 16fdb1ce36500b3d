"""An ear's folder (the critic, the pianist classifier): a JSON config beside a safetensors file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..files import read_text_bounded

MAX_CONFIG_BYTES = 1 << 20  # a config is a few hundred bytes; a hostile file is refused before it is read


def read_config(path: Path, what: str, config: str, weights: str, fmt: str) -> dict[str, Any]:
    """The config of the folder `path` (its `format` checked, its weights file present); ValueError naming `what`."""
    if not (path / config).is_file() or not (path / weights).is_file():
        raise ValueError(f"{what} {path}: needs {config} and {weights}")
    try:
        loaded = json.loads(read_text_bounded(path / config, MAX_CONFIG_BYTES, f"{what} config"))
    except json.JSONDecodeError as err:
        raise ValueError(f"{what} {path}: cannot load ({str(err)[:200]})") from err
    if not isinstance(loaded, dict) or loaded.get("format") != fmt:
        found = loaded.get("format") if isinstance(loaded, dict) else type(loaded).__name__
        raise ValueError(f"{what} {path}: cannot load (format {found!r}, expected {fmt!r})")
    return loaded
