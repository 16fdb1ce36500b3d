"""Build the generator for a checkpoint folder (or the embedded default model)."""

from __future__ import annotations

from pathlib import Path

from ..model.checkpoint import WEIGHTS, default_checkpoint_dir, load_checkpoint, resolve_device
from .backend import TransformerBackend
from .generator import ChunkedGenerator


def load_generator(checkpoint: str | Path | None = None, device: str = "auto") -> ChunkedGenerator:
    """The generator for a checkpoint folder, or the embedded default model when `checkpoint` is None."""
    device = resolve_device(device)
    path = Path(checkpoint) if checkpoint is not None else default_checkpoint_dir()
    if checkpoint is None and not (path / WEIGHTS).is_file():
        raise FileNotFoundError(f"no embedded default model in {path}; pass --checkpoint")
    ckpt = load_checkpoint(path, device)
    return ChunkedGenerator(TransformerBackend(ckpt.model, ckpt.tokenizer, ckpt.styles, device))
