"""Checkpoints: a folder with `model.safetensors`, `config.json` (model, tokenizer, styles, training notes) and
`MODEL_CARD.md`. Loading never unpickles: safetensors holds only tensors, the config is JSON."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from .tokenizer import Tokenizer, TokenizerConfig
from .transformer import ModelConfig, NoteTransformer

log = logging.getLogger(__name__)

WEIGHTS = "model.safetensors"
CONFIG = "config.json"
CARD = "MODEL_CARD.md"
FORMAT = "tatumflow-checkpoint-1"


@dataclass
class Checkpoint:
    model: NoteTransformer
    tokenizer: Tokenizer
    styles: list[str]
    meta: dict[str, Any] = field(default_factory=dict)


def default_checkpoint_dir() -> Path:
    return Path(str(resources.files("tatumflow"))) / "checkpoints"


def resolve_device(device: str = "auto") -> str:
    if device not in ("auto", "cpu", "cuda") and not device.startswith("cuda:"):
        raise ValueError(f"device must be auto, cpu or cuda, got {device!r}")
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError("device cuda was asked for but torch sees no CUDA GPU")
    return device


def save_checkpoint(
    path: str | Path, ckpt: Checkpoint, dtype: torch.dtype = torch.float32, card: str | None = None
) -> Path:
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().to("cpu", dtype if v.is_floating_point() else v.dtype).contiguous()
             for k, v in ckpt.model.state_dict().items()}
    tmp = path / (WEIGHTS + ".tmp")
    save_file(state, str(tmp), metadata={"format": FORMAT})
    tmp.replace(path / WEIGHTS)
    config = {
        "format": FORMAT,
        "model": ckpt.model.cfg.to_dict(),
        "tokenizer": ckpt.tokenizer.config.to_dict(),
        "styles": ckpt.styles,
        "meta": ckpt.meta,
    }
    (path / CONFIG).write_text(json.dumps(config, indent=2), encoding="utf-8")
    if card is not None:
        (path / CARD).write_text(card, encoding="utf-8")
    return path


def _read_config(path: Path) -> dict[str, Any]:
    cfg_path = path / CONFIG
    if not cfg_path.is_file():
        raise ValueError(f"checkpoint {path}: missing {CONFIG}")
    try:
        config: dict[str, Any] = json.loads(cfg_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ValueError(f"checkpoint {path}: {CONFIG} is not valid JSON ({err})") from err
    if config.get("format") != FORMAT:
        raise ValueError(f"checkpoint {path}: format {config.get('format')!r}, expected {FORMAT!r}")
    return config


def load_checkpoint(path: str | Path, device: str = "cpu") -> Checkpoint:
    """Load a checkpoint folder (or its model.safetensors). Raises ValueError when anything does not match."""
    path = Path(path)
    if path.is_file() and path.name == WEIGHTS:
        path = path.parent
    if not path.is_dir():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    config = _read_config(path)
    try:
        tok_cfg = TokenizerConfig(**config["tokenizer"])
        model_cfg = ModelConfig.from_dict(config["model"])
        styles = list(config["styles"])
    except (KeyError, TypeError, ValueError) as err:
        raise ValueError(f"checkpoint {path}: bad config ({err})") from err
    if tuple(model_cfg.vocab_sizes) != tok_cfg.vocab_sizes:
        raise ValueError(
            f"checkpoint {path}: model vocab sizes {model_cfg.vocab_sizes} do not match its tokenizer "
            f"{tok_cfg.vocab_sizes} (delta, pitch, velocity, duration)"
        )
    if len(styles) != model_cfg.n_styles or not styles or styles[0] != "none":
        raise ValueError(f"checkpoint {path}: {len(styles)} style names for n_styles={model_cfg.n_styles}"
                         " (first must be 'none')")
    if not (path / WEIGHTS).is_file():
        raise ValueError(f"checkpoint {path}: missing {WEIGHTS}")
    try:
        state = load_file(str(path / WEIGHTS), device="cpu")
    except Exception as err:  # safetensors raises its own error types for corrupt files
        raise ValueError(f"checkpoint {path}: cannot read {WEIGHTS} ({err})") from err
    model = NoteTransformer(model_cfg)
    _check_state(path, model, state)
    model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()})
    model.to(device).eval()
    return Checkpoint(model, Tokenizer(tok_cfg), styles, dict(config.get("meta", {})))


def _check_state(path: Path, model: NoteTransformer, state: dict[str, torch.Tensor]) -> None:
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    extra = sorted(set(state) - set(expected))
    if missing or extra:
        raise ValueError(f"checkpoint {path}: weights do not match the config"
                         f" (missing {missing[:5]}, unexpected {extra[:5]})")
    for name, tensor in expected.items():
        if tuple(state[name].shape) != tuple(tensor.shape):
            raise ValueError(
                f"checkpoint {path}: {name} has shape {tuple(state[name].shape)},"
                f" the config needs {tuple(tensor.shape)}"
            )
    broken = [name for name, t in state.items() if t.is_floating_point() and not bool(torch.isfinite(t).all())]
    if broken:
        raise ValueError(f"checkpoint {path}: non-finite weights (NaN or infinity) in {', '.join(broken[:3])}"
                         f"{' and more' if len(broken) > 3 else ''}: the training run diverged; use another checkpoint")


def export_checkpoint(src: str | Path, dst: str | Path, dtype: torch.dtype = torch.float16, card: str | None = None,
                      meta: dict[str, Any] | None = None) -> Path:
    """Copy a checkpoint with its weights stored in `dtype` (16-bit halves the size; loading gives float32)."""
    ckpt = load_checkpoint(src)
    if meta:
        ckpt.meta.update(meta)
    return save_checkpoint(dst, ckpt, dtype=dtype, card=card)
