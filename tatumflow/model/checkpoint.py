"""Checkpoints: a folder with `model.safetensors`, `config.json` (model, tokenizer, styles, training notes) and
`MODEL_CARD.md`. Loading never unpickles: safetensors holds only tensors, the config is JSON."""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from ..fieldcheck import check_fields
from ..files import atomic_path, clip, quote, read_text_bounded, write_atomic
from .tokenizer import Tokenizer, TokenizerConfig
from .transformer import ModelConfig, NoteTransformer

log = logging.getLogger(__name__)

WEIGHTS = "model.safetensors"
CONFIG = "config.json"
CARD = "MODEL_CARD.md"
FORMAT = "tatumflow-checkpoint-1"
MAX_CONFIG_BYTES = 2**20  # config.json is a few kB (the styles and the training notes)
MAX_STYLES = 100_000
MAX_PARAMETERS = 2_000_000_000  # 8 GB in float32; the shipped model has 3.9 M


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
    with atomic_path(path / WEIGHTS) as tmp:  # a full disk leaves the last whole checkpoint, never half of one
        save_file(state, str(tmp), metadata={"format": FORMAT})
    config = {
        "format": FORMAT,
        "model": ckpt.model.cfg.to_dict(),
        "tokenizer": ckpt.tokenizer.config.to_dict(),
        "styles": ckpt.styles,
        "meta": ckpt.meta,
    }
    write_atomic(path / CONFIG, json.dumps(config, indent=2))
    if card is not None:
        write_atomic(path / CARD, card)
    return path


def _read_config(path: Path) -> dict[str, Any]:
    cfg_path = path / CONFIG
    if not cfg_path.is_file():
        raise ValueError(f"checkpoint {path}: missing {CONFIG}")
    text = read_text_bounded(cfg_path, MAX_CONFIG_BYTES, "checkpoint config")
    try:
        config = json.loads(text)
    except json.JSONDecodeError as err:
        raise ValueError(f"checkpoint {path}: {CONFIG} is not valid JSON ({clip(str(err))})") from None
    except RecursionError:
        raise ValueError(f"checkpoint {path}: {CONFIG} is nested too deeply") from None
    if not isinstance(config, dict):
        raise ValueError(f"checkpoint {path}: {CONFIG} must be a JSON object, got a {type(config).__name__}")
    if config.get("format") != FORMAT:
        raise ValueError(f"checkpoint {path}: format {quote(config.get('format'))}, expected {FORMAT!r}")
    return config


def _configs(path: Path, config: dict[str, Any]) -> tuple[ModelConfig, TokenizerConfig, list[str]]:
    """The model and tokenizer configs and the style names, each checked for types and ranges (one-line errors)."""
    where = f"checkpoint {path}: {CONFIG}"
    raw_model = config.get("model")
    if isinstance(raw_model, dict) and "max_steps" in raw_model:  # the name before 2026-12: such checkpoints load
        raw_model = {("context_steps" if k == "max_steps" else k): v for k, v in raw_model.items()}
    styles = config.get("styles")
    if not isinstance(styles, list) or not all(isinstance(s, str) for s in styles) or len(styles) > MAX_STYLES:
        raise ValueError(f"{where}: styles must be a list of at most {MAX_STYLES:,} names")
    try:
        model_cfg = ModelConfig(**check_fields(ModelConfig, raw_model, f"{where} model"))
        tok_cfg = TokenizerConfig(**check_fields(TokenizerConfig, config.get("tokenizer"), f"{where} tokenizer"))
    except (TypeError, ValueError) as err:
        raise ValueError(f"{where}: bad config ({clip(str(err), 300)})") from None
    return model_cfg, tok_cfg, styles


def _check_header(path: Path, model_cfg: ModelConfig) -> None:
    """The weights' names and shapes (from the safetensors header, nothing loaded) against the config's model
    (built on the meta device: nothing allocated), and the parameter count against MAX_PARAMETERS."""
    try:
        with safe_open(str(path / WEIGHTS), framework="pt") as f:
            header = {name: tuple(f.get_slice(name).get_shape()) for name in f.keys()}  # noqa: SIM118
    except Exception as err:  # safetensors raises its own error types for corrupt files
        raise ValueError(f"checkpoint {path}: cannot read {WEIGHTS} ({clip(str(err))})") from None
    count = sum(math.prod(shape) for shape in header.values())
    if count > MAX_PARAMETERS:
        raise ValueError(f"checkpoint {path}: {count:,} parameters; at most {MAX_PARAMETERS:,} are loaded")
    with torch.device("meta"):
        expected = {k: tuple(v.shape) for k, v in NoteTransformer(model_cfg).state_dict().items()}
    missing, extra = sorted(set(expected) - set(header)), sorted(set(header) - set(expected))
    if missing or extra:
        raise ValueError(f"checkpoint {path}: weights do not match the config"
                         f" (missing {quote(missing[:5])}, unexpected {quote(extra[:5])})")
    for name, shape in expected.items():
        if header[name] != shape:
            raise ValueError(f"checkpoint {path}: {name} has shape {header[name]}, the config needs {shape}")


def load_checkpoint(path: str | Path, device: str = "cpu") -> Checkpoint:
    """Load a checkpoint folder (or its model.safetensors). Raises ValueError when anything does not match: the
    config's types and ranges, then the weights' shapes in the safetensors header, all before any tensor is made."""
    path = Path(path)
    if path.is_file() and path.name == WEIGHTS:
        path = path.parent
    if not path.is_dir():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    config = _read_config(path)
    model_cfg, tok_cfg, styles = _configs(path, config)
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
    _check_header(path, model_cfg)
    try:
        state = load_file(str(path / WEIGHTS), device="cpu")
    except Exception as err:  # safetensors raises its own error types for corrupt files
        raise ValueError(f"checkpoint {path}: cannot read {WEIGHTS} ({clip(str(err))})") from err
    model = NoteTransformer(model_cfg)
    _check_state(path, model, state)
    model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()})
    model.to(device).eval()
    meta = config.get("meta", {})
    return Checkpoint(model, Tokenizer(tok_cfg), styles, dict(meta) if isinstance(meta, dict) else {})


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
