"""Which model a committed result describes: the shipped default checkpoint's hash, and the commit.

A result that says it ran "the embedded default" is only true while that default is still the one shipped.
`stamp(commit)` is what a result records (`checkpoint_sha256` of the default's weights, the commit it was measured
at); `names_default(result)` says whether a result ran the embedded default. tests/test_benchmarks.py fails when a
committed result that ran the default carries no stamp, or a stamp of weights no longer shipped without being
marked `retired` (with the reason: what replaced it, what to re-run).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

DEFAULT_CHECKPOINT = Path(__file__).resolve().parent / "checkpoints"
WEIGHTS = "model.safetensors"
DEFAULT_NAMES = ("embedded default", "default", "tatumflow/checkpoints")  # how results have named the default
STAMP = "checkpoint_stamp"


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def default_checkpoint_sha256() -> str:
    """The hash of the weights shipped now."""
    return sha256_of((DEFAULT_CHECKPOINT / WEIGHTS).read_bytes())


def stamp(commit: str, sha256: str | None = None) -> dict[str, str]:
    """What a result of the default model records: the weights' hash (default: the shipped ones) and the commit."""
    return {"checkpoint": "embedded default", "checkpoint_sha256": sha256 or default_checkpoint_sha256(),
            "commit": commit}


def names_default(result: Any) -> bool:
    """Whether a result (a benchmark's or an evaluation's JSON object) ran the embedded default checkpoint: its
    `checkpoint` names it, or a benchmark's `config.checkpoint` is empty (the harness then loads the default)."""
    if not isinstance(result, dict):
        return False
    if result.get("checkpoint") in DEFAULT_NAMES:
        return True
    config = result.get("config")
    return isinstance(config, dict) and "checkpoint" in config and (
        config["checkpoint"] is None or config["checkpoint"] in DEFAULT_NAMES)
