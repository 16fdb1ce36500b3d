"""Training configs, the learning-rate schedules and the choice of precision.

Schedules:
- `cosine`: linear warm-up, then cosine decay to `min_lr_ratio * lr` over `max_steps`.
- `wsd` (warmup-stable-decay): linear warm-up, then the stable `lr` until `max_steps - decay_steps`, then a linear
  decay to `min_lr_ratio * lr`. A long run sits at the stable rate, so a resumed run (next session, from the
  committed weights) continues the same schedule; the decay is a short separate run before each export.
- `decay`: the decay alone, from `lr` to `min_lr_ratio * lr` over `max_steps` (the export run of a `wsd` run).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

import torch

from ..model.tokenizer import FIELDS

SCHEDULES = ("cosine", "wsd", "decay")
PRECISIONS = ("auto", "fp32", "bf16")


@dataclass(frozen=True)
class TrainConfig:
    d_model: int = 256
    n_layers: int = 6
    n_heads: int = 4
    context_steps: int = 1024  # the model's context (KV cache length), start step included
    seq_len: int = 256  # notes per training crop
    batch_size: int = 16
    lr: float = 1e-3
    min_lr_ratio: float = 0.1
    warmup: int = 200
    max_steps: int = 4000  # optimiser steps
    schedule: str = "cosine"
    decay_steps: int = 0  # wsd: the final steps that decay
    precision: str = "auto"
    weight_decay: float = 0.05
    grad_clip: float = 1.0
    dropout: float = 0.1
    style_dropout: float = 0.15
    focus_style: str = "Art Tatum"
    focus_weight: float = 2.0  # sampling weight of the focus style's pieces relative to the rest
    focus_only: bool = False  # train on the focus style's pieces alone (the collapse-prone recipe, for comparison)
    tempo_stretch: float = 0.05  # augmentation: each crop's tempo scaled by 1 +- up to this
    articulation_bins: int = 0  # augmentation: each crop's durations moved by up to this many bins (batches.Augment)
    # Self-feeding (loop.self_feed): this share of the crops reads, from a random note on, the model's own samples
    # of the fields named in `self_feed_fields` in place of the real ones; the targets stay the real notes.
    self_feed: float = 0.0
    self_feed_fields: str = "delta,velocity,duration"
    val_every: int = 250
    val_batches: int = 8
    ckpt_every: int = 250
    ckpt_minutes: float = 15.0  # also save `last` when this much wall time has passed since the previous save
    seed: int = 0

    def __post_init__(self) -> None:
        if self.seq_len < 8 or self.seq_len >= self.context_steps:
            raise ValueError(f"seq_len must be in [8, context_steps), got {self.seq_len}")
        if self.batch_size < 1 or self.max_steps < 1 or self.warmup < 0:
            raise ValueError("batch_size and max_steps must be >= 1, warmup >= 0")
        if not 0 <= self.style_dropout < 1 or self.focus_weight <= 0:
            raise ValueError("style_dropout must be in [0, 1) and focus_weight > 0")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"schedule must be one of {', '.join(SCHEDULES)}, got {self.schedule!r}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}")
        if not 0 <= self.decay_steps <= self.max_steps or self.ckpt_minutes <= 0:
            raise ValueError("need 0 <= decay_steps <= max_steps and ckpt_minutes > 0")
        if not 0 <= self.tempo_stretch < 1 or self.articulation_bins < 0:
            raise ValueError(f"need 0 <= tempo_stretch < 1 and articulation_bins >= 0, got {self.tempo_stretch}, "
                             f"{self.articulation_bins}")
        if not 0 <= self.self_feed <= 1:
            raise ValueError(f"self_feed must be in [0, 1], got {self.self_feed}")
        fields = self.self_feed_fields.split(",")
        if any(f not in FIELDS for f in fields) or len(set(fields)) != len(fields):
            raise ValueError(f"self_feed_fields must name distinct fields of {', '.join(FIELDS)} separated by "
                             f"commas, got {self.self_feed_fields!r}")

    @property
    def self_feed_heads(self) -> list[int]:
        """The field indices `self_feed_fields` names."""
        return [FIELDS.index(f) for f in self.self_feed_fields.split(",")]


_CPU: dict[str, Any] = {"context_steps": 512, "seq_len": 511, "batch_size": 8}
# Model v2 (2026-12): d_model 256, 4 layers of 4 heads of 64, a 1,024-note context; chosen from the live budget and
# a fixed-time size comparison (benchmarks/training/README.md).
_V2: dict[str, Any] = {
    "d_model": 256, "n_layers": 4, "n_heads": 4, "context_steps": 1024, "seq_len": 1023, "batch_size": 8,
    "dropout": 0.0, "focus_weight": 6.0, "style_dropout": 0.1, "val_every": 500, "val_batches": 16, "ckpt_every": 500,
}

# One GPU's size (the `gpu` config's, and the large checkpoint's): 15.5 M parameters, 31 MB in 16 bits.
_GPU_SIZE: dict[str, Any] = {"d_model": 384, "n_layers": 8, "n_heads": 6, "context_steps": 1024, "seq_len": 1023,
                             "batch_size": 64}
_LARGE: dict[str, Any] = {**_V2, **_GPU_SIZE, "ckpt_every": 1000}

CONFIGS: dict[str, TrainConfig] = {
    # A smoke run: seconds on a CPU.
    "tiny": TrainConfig(d_model=64, n_layers=2, n_heads=2, context_steps=128, seq_len=64, batch_size=4,
                        warmup=5, max_steps=20, val_every=10, val_batches=2, ckpt_every=10),
    # What two CPU cores pretrained in about 1.5 hours for the first default (d_model 192, 4 layers).
    "cpu": TrainConfig(d_model=192, n_layers=4, n_heads=4, **_CPU, lr=2e-3, warmup=100, max_steps=2000,
                       focus_weight=3.0, val_every=200, ckpt_every=100),
    # More pretraining from a `cpu` run's weights (--init): a second, lower cosine.
    "cpu-continue": TrainConfig(d_model=192, n_layers=4, n_heads=4, **_CPU, lr=8e-4, warmup=50, max_steps=1200,
                                focus_weight=3.0, val_every=200, ckpt_every=100),
    # Another long, lower cosine from a trained model's weights with the focus pianist upweighted x6.
    "cpu-more": TrainConfig(d_model=192, n_layers=4, n_heads=4, **_CPU, lr=6e-4, warmup=50, max_steps=3200,
                            focus_weight=6.0, style_dropout=0.1, val_every=200, ckpt_every=100),
    # Model v2's long run: warm-up, then the stable rate for as long as sessions allow (stop it with SIGTERM or
    # Ctrl-C: it saves `last`); resumed runs continue the same stable rate.
    "v2": TrainConfig(**_V2, lr=1e-3, warmup=200, max_steps=1_000_000, schedule="wsd"),
    # Model v2's stable phase with the corpus replayed more (Art Tatum x2, not x6), from a v2 run's `last` (--init,
    # optimizer state restored, no second warm-up): after ~115 M notes the Tatum validation loss rose while the
    # corpus's held (benchmarks/training/v2/STATUS.md, stretch 6).
    "v2-replay": TrainConfig(**{**_V2, "focus_weight": 2.0}, lr=1e-3, warmup=0, max_steps=1_000_000, schedule="wsd"),
    # Model v2 taught to read a piece's touch from its context: v2-replay with every crop's note lengths moved by
    # up to 2 duration bins (~ +-25 %) and its tempo by up to 10 %, from `stable/` (--init, AdamW afresh): free-running,
    # v2 played ballads too short and a fast piece too long (benchmarks/eval/README.md, seventh session).
    "v2-touch": TrainConfig(**{**_V2, "focus_weight": 2.0}, lr=1e-3, warmup=200, max_steps=1_000_000, schedule="wsd",
                            tempo_stretch=0.1, articulation_bins=2),
    "v2-touch-decay": TrainConfig(**_V2, lr=1e-3, warmup=0, max_steps=600, schedule="decay", min_lr_ratio=0.05,
                                  tempo_stretch=0.1, articulation_bins=2),
    # Model v2 fed its own notes: v2-replay where half the crops read, from a random note on, the model's own
    # one-step samples of each note's timing and touch (delta, velocity, duration; pitch stays real) while the
    # targets stay the real notes, from `stable/` (--init, AdamW afresh). Free-running, v2's notes shortened window
    # by window (exposure: it reads its own notes), and every way of lengthening them at sampling time thickened
    # its chords (benchmarks/eval/README.md, seventh session).
    "v2-self": TrainConfig(**{**_V2, "focus_weight": 2.0}, lr=1e-3, warmup=200, max_steps=1_000_000, schedule="wsd",
                           self_feed=0.5),
    "v2-self-decay": TrainConfig(**_V2, lr=1e-3, warmup=0, max_steps=600, schedule="decay", min_lr_ratio=0.05,
                                 self_feed=0.5),
    # Model v2's export: the decay alone, from a v2 run's `last` (--init RUN/last, optimizer state restored).
    "v2-decay": TrainConfig(**_V2, lr=1e-3, warmup=0, max_steps=600, schedule="decay", min_lr_ratio=0.05),
    # The large checkpoint for GPU users (one GPU's minutes, `benchmarks/training/gpu/`): the `gpu` size with v2's
    # recipe, warmup-stable-decay stopped by --max-minutes; then `large-decay` from its `last` (--init RUN/last).
    "large": TrainConfig(**_LARGE, lr=8e-4, warmup=200, max_steps=1_000_000, schedule="wsd"),
    "large-decay": TrainConfig(**_LARGE, lr=8e-4, warmup=0, max_steps=600, schedule="decay", min_lr_ratio=0.05),
    "default": TrainConfig(),
    # One GPU (or several through torchrun): bf16, a bigger model, the full context.
    "gpu": TrainConfig(**_GPU_SIZE, lr=6e-4, warmup=1000, max_steps=30000, focus_weight=3.0, val_every=1000,
                       ckpt_every=1000),
    # Specialise a pretrained model (--init) to the focus pianist while replaying the corpus.
    "specialize": TrainConfig(**_CPU, lr=5e-4, warmup=50, max_steps=400, focus_weight=12.0, style_dropout=0.1,
                              val_every=100, ckpt_every=50),
}
# Model v3's adaptation stage (issue 28): the shipped v2 (--init tatumflow/checkpoints, AdamW afresh) specialised to
# Art Tatum while the corpus is replayed (Tatum's pieces x24: about half the crops), a short low cosine: it moves
# the shared weights (the voicings, the register) toward his, where the style token alone did not.
CONFIGS["v3-adapt"] = TrainConfig(**{**_V2, "focus_weight": 24.0, "val_every": 100, "ckpt_every": 50}, lr=2e-4,
                                  warmup=20, max_steps=300, schedule="cosine", min_lr_ratio=0.1)
# The recipe that collapses (fine-tuning on one pianist alone), kept to compare against `specialize`.
CONFIGS["focus-only"] = replace(CONFIGS["specialize"], focus_only=True)


def train_config(name: str) -> TrainConfig:
    if name not in CONFIGS:
        raise ValueError(f"unknown training config {name!r}; valid: {', '.join(CONFIGS)}")
    return CONFIGS[name]


def lr_at(step: int, cfg: TrainConfig) -> float:
    """The learning rate of optimiser step `step` (0-based) under `cfg.schedule`."""
    floor = cfg.lr * cfg.min_lr_ratio
    if cfg.schedule == "decay":
        return cfg.lr + (floor - cfg.lr) * min(1.0, (step + 1) / cfg.max_steps)
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    if cfg.schedule == "wsd":
        decay_start = cfg.max_steps - cfg.decay_steps
        if step < decay_start:
            return cfg.lr
        return cfg.lr + (floor - cfg.lr) * min(1.0, (step + 1 - decay_start) / max(cfg.decay_steps, 1))
    progress = min(1.0, (step - cfg.warmup) / max(1, cfg.max_steps - cfg.warmup))
    return floor + (cfg.lr - floor) * 0.5 * (1 + math.cos(math.pi * progress))


def cpu_has_bf16() -> bool:
    """Whether this CPU has bf16 matrix instructions (AVX512-BF16 or AMX) that oneDNN uses under autocast."""
    return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())


def resolve_precision(precision: str, device: str) -> str:
    """`fp32` or `bf16`. `auto`: bf16 on CUDA and on CPUs with bf16 instructions (where autocast pays: 1.7-2.3x
    measured), fp32 elsewhere (autocast is slower there)."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if precision != "auto":
        return precision
    if device.startswith("cuda"):
        return "bf16"
    return "bf16" if cpu_has_bf16() else "fp32"


def autocast(device: str, precision: str) -> torch.autocast:
    """The autocast context of a resolved precision (`fp32`: disabled)."""
    kind = "cuda" if device.startswith("cuda") else "cpu"
    return torch.autocast(kind, dtype=torch.bfloat16, enabled=precision == "bf16")
