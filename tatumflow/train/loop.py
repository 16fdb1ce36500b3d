"""Training: one script for CPU smoke runs, one GPU, and several GPUs or machines through `torchrun` (DDP).

Pretrain on the whole corpus with a style vector per pianist (style dropout to "none" for classifier-free
guidance), then specialise: `--init` the pretrained weights and train on a mix that upweights the target pianist
while still replaying the corpus (the `specialize` config), so the model does not collapse onto one pianist.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from safetensors.torch import load_file, save_file

from . import data
from ..model.checkpoint import Checkpoint, load_checkpoint, resolve_device, save_checkpoint
from ..model.tokenizer import Tokenizer
from ..model.transformer import ModelConfig, NoteTransformer

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainConfig:
    d_model: int = 256
    n_layers: int = 6
    n_heads: int = 4
    max_steps_context: int = 1024
    seq_len: int = 256
    batch_size: int = 16
    lr: float = 1e-3
    min_lr_ratio: float = 0.1
    warmup: int = 200
    max_steps: int = 4000
    weight_decay: float = 0.05
    grad_clip: float = 1.0
    dropout: float = 0.1
    style_dropout: float = 0.15
    focus_style: str = "Art Tatum"
    focus_weight: float = 2.0  # sampling weight of the focus style's pieces relative to the rest
    focus_only: bool = False  # train on the focus style's pieces alone (the collapse-prone recipe, for comparison)
    val_every: int = 250
    val_batches: int = 8
    ckpt_every: int = 250
    seed: int = 0

    def __post_init__(self) -> None:
        if self.seq_len < 8 or self.seq_len >= self.max_steps_context:
            raise ValueError(f"seq_len must be in [8, max_steps_context), got {self.seq_len}")
        if self.batch_size < 1 or self.max_steps < 1 or self.warmup < 0:
            raise ValueError("batch_size and max_steps must be >= 1, warmup >= 0")
        if not 0 <= self.style_dropout < 1 or self.focus_weight <= 0:
            raise ValueError("style_dropout must be in [0, 1) and focus_weight > 0")


CONFIGS: dict[str, TrainConfig] = {
    # A smoke run: seconds on a CPU.
    "tiny": TrainConfig(d_model=64, n_layers=2, n_heads=2, max_steps_context=128, seq_len=64, batch_size=4,
                        warmup=5, max_steps=20, val_every=10, val_batches=2, ckpt_every=10),
    # What two CPU cores can pretrain in about 1.5 hours; trained with the full context length (512 steps).
    "cpu": TrainConfig(d_model=192, n_layers=4, n_heads=4, max_steps_context=512, seq_len=511, batch_size=8, lr=2e-3,
                       warmup=100, max_steps=2000, focus_weight=3.0, val_every=200, ckpt_every=100),
    # More pretraining from a `cpu` run's weights (--init): a second, lower cosine.
    "cpu-continue": TrainConfig(d_model=192, n_layers=4, n_heads=4, max_steps_context=512, seq_len=511, batch_size=8,
                                lr=8e-4, warmup=50, max_steps=1200, focus_weight=3.0, val_every=200, ckpt_every=100),
    # Another long, lower cosine from a trained model's weights (--init, e.g. the shipped one) with the focus
    # pianist upweighted less than `specialize` does, so that the corpus keeps most of the batches.
    "cpu-more": TrainConfig(d_model=192, n_layers=4, n_heads=4, max_steps_context=512, seq_len=511, batch_size=8,
                            lr=6e-4, warmup=50, max_steps=3200, focus_weight=6.0, style_dropout=0.1, val_every=200,
                            ckpt_every=100),
    "default": TrainConfig(),
    # One GPU (or several through torchrun): the shipped-model recipe's pretraining.
    "gpu": TrainConfig(d_model=384, n_layers=8, n_heads=6, max_steps_context=1024, seq_len=1023, batch_size=64,
                       lr=6e-4, warmup=1000, max_steps=30000, focus_weight=3.0, val_every=1000, ckpt_every=1000),
    # Specialise a pretrained model (--init) to the focus pianist while replaying the corpus.
    "specialize": TrainConfig(max_steps_context=512, seq_len=511, batch_size=8, lr=5e-4, warmup=50, max_steps=400,
                              focus_weight=12.0, style_dropout=0.1,
                              val_every=100, ckpt_every=50),
}
# The recipe that collapses (fine-tuning on one pianist alone), kept to compare against `specialize`.
CONFIGS["focus-only"] = replace(CONFIGS["specialize"], focus_only=True)


def train_config(name: str) -> TrainConfig:
    if name not in CONFIGS:
        raise ValueError(f"unknown training config {name!r}; valid: {', '.join(CONFIGS)}")
    return CONFIGS[name]


def lr_at(step: int, cfg: TrainConfig) -> float:
    """Linear warm-up, then cosine decay to min_lr_ratio * lr."""
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    progress = min(1.0, (step - cfg.warmup) / max(1, cfg.max_steps - cfg.warmup))
    return cfg.lr * (cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress)))


def step_loss(model: torch.nn.Module, steps: torch.Tensor, style: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean cross-entropy per field over unpadded steps; returns (total, per-field [4])."""
    logits = model(steps, style)
    per_field = []
    m = mask.float()
    for k, lg in enumerate(logits):
        ce = F.cross_entropy(lg.float().reshape(-1, lg.shape[-1]), steps[..., k].reshape(-1), reduction="none")
        per_field.append((ce * m.reshape(-1)).sum() / m.sum().clamp(min=1))
    per = torch.stack(per_field)
    return per.sum(), per.detach()


class DistEnv:
    """Rank/world from torchrun's environment; a single process otherwise."""

    def __init__(self, device: str) -> None:
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        self.local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        self.device = device
        if self.world > 1:
            backend = "nccl" if device.startswith("cuda") else "gloo"
            if device.startswith("cuda"):
                self.device = f"cuda:{self.local_rank}"
                torch.cuda.set_device(self.device)
            dist.init_process_group(backend)

    @property
    def main(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        if self.world > 1:
            dist.barrier()

    def close(self) -> None:
        if self.world > 1:
            dist.destroy_process_group()


def _save_train_state(run_dir: Path, opt: torch.optim.Optimizer, step: int, best: float) -> None:
    tensors, layout = {}, {}
    for i, (pid, st) in enumerate(opt.state_dict()["state"].items()):
        for name, value in st.items():
            if torch.is_tensor(value):
                tensors[f"{pid}.{name}"] = value.detach().cpu().contiguous()
            else:
                layout[f"{pid}.{name}"] = value
    save_file(tensors, str(run_dir / "optimizer.safetensors"))
    (run_dir / "train_state.json").write_text(json.dumps({"step": step, "best_val": best, "scalars": layout}))


def _load_train_state(run_dir: Path, opt: torch.optim.Optimizer) -> tuple[int, float]:
    meta = json.loads((run_dir / "train_state.json").read_text())
    tensors = load_file(str(run_dir / "optimizer.safetensors"))
    sd = opt.state_dict()
    state: dict[int, dict] = {}
    for key, value in list(tensors.items()) + list(meta["scalars"].items()):
        pid, name = key.split(".", 1)
        state.setdefault(int(pid), {})[name] = value
    sd["state"] = state
    opt.load_state_dict(sd)
    return int(meta["step"]), float(meta["best_val"])


@dataclass
class TrainSetup:
    index: data.CorpusIndex
    styles: list[str]
    style_ids: np.ndarray
    train_ids: list[int]
    val_ids: list[int]


def prepare_data(dirs: Sequence[Path], cache_dir: Path, tokenizer: Tokenizer, env: DistEnv) -> TrainSetup:
    if env.main:
        data.build_cache(dirs, cache_dir, tokenizer)
    env.barrier()
    index = data.build_cache(dirs, cache_dir, tokenizer)  # reuses what rank 0 built
    styles = data.style_vocab(index)
    style_ids = data.style_ids(index, styles)
    train_ids, val_ids = data.split_by_recording(index)
    return TrainSetup(index, styles, style_ids, list(train_ids), list(val_ids))


def _batch(dataset: data.StepDataset, cfg: TrainConfig, rng, augment, dropout: float, device="cpu"):
    b = dataset.sample(cfg.batch_size, cfg.seq_len, rng, augment, dropout)
    return (torch.from_numpy(b["steps"]).to(device), torch.from_numpy(b["style"]).to(device), torch.from_numpy(b["mask"]).to(device))


@torch.no_grad()
def evaluate(model, setup: TrainSetup, ids, cfg: TrainConfig, device: str) -> float:
    """Mean validation loss on a fixed set of crops (same seed each time: comparable across steps)."""
    if len(ids) == 0:
        return float("nan")
    model.eval()
    dataset = data.StepDataset(setup.index, ids, setup.style_ids)
    rng = np.random.default_rng(1234)
    losses = []
    for _ in range(cfg.val_batches):
        steps, style, mask = _batch(dataset, cfg, rng, None, 0.0, device=device)
        with _autocast(device):
            loss, _ = step_loss(model, steps, style, mask)
        losses.append(float(loss))
    model.train()
    return float(np.mean(losses))


def _autocast(device: str):
    if device.startswith("cuda"):
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return torch.autocast("cpu", enabled=False)


def _build_model(cfg: TrainConfig, setup: TrainSetup, tokenizer: Tokenizer, init: Path | None, device: str) -> NoteTransformer:
    if init is None:
        mcfg = ModelConfig(vocab_sizes=tokenizer.config.vocab_sizes, n_styles=len(setup.styles), d_model=cfg.d_model,
                           n_layers=cfg.n_layers, n_heads=cfg.n_heads, max_steps=cfg.max_steps_context, dropout=cfg.dropout)
        return NoteTransformer(mcfg).to(device)
    ckpt = load_checkpoint(init, device)
    if ckpt.styles != setup.styles:
        raise ValueError(f"--init checkpoint {init} knows other styles than this data ({len(ckpt.styles)} vs {len(setup.styles)})")
    if ckpt.tokenizer.config != tokenizer.config:
        raise ValueError(f"--init checkpoint {init} was trained with another tokenizer config")
    model = NoteTransformer(replace(ckpt.model.cfg, dropout=cfg.dropout))
    model.load_state_dict(ckpt.model.state_dict())
    return model.to(device)


def train(
    dirs: Sequence[Path],
    run_dir: Path,
    cfg: TrainConfig,
    device: str = "auto",
    init: Path | None = None,
    cache_dir: Path | None = None,
    max_steps: int | None = None,
    on_step: Callable[[dict], None] | None = None,
) -> Path:
    """Train and write `run_dir/checkpoint` (best validation loss) and `run_dir/last`; resumes from `run_dir/last`."""
    if max_steps is not None:
        cfg = replace(cfg, max_steps=max_steps, warmup=min(cfg.warmup, max(max_steps // 10, 1)))
    env = DistEnv(resolve_device(device))
    device = env.device
    torch.manual_seed(cfg.seed + env.rank)
    tokenizer = Tokenizer()
    run_dir.mkdir(parents=True, exist_ok=True)
    setup = prepare_data(dirs, cache_dir or run_dir / "cache", tokenizer, env)
    if not setup.train_ids:
        raise ValueError(f"no training data found in {[str(d) for d in dirs]}")
    focus_id = setup.styles.index(cfg.focus_style) if cfg.focus_style in setup.styles else -1
    focus_val = [i for i in setup.val_ids if setup.style_ids[i] == focus_id]
    model = _build_model(cfg, setup, tokenizer, init, device)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay, betas=(0.9, 0.95))
    step, best = 0, float("inf")
    if (run_dir / "last" / "train_state.json").is_file():
        last = load_checkpoint(run_dir / "last", device)
        model.load_state_dict(last.model.state_dict())
        step, best = _load_train_state(run_dir / "last", opt)
        log.info("resumed from %s at step %d", run_dir / "last", step)
    ddp = torch.nn.parallel.DistributedDataParallel(model) if env.world > 1 else model
    rng = np.random.default_rng(cfg.seed * 1000 + env.rank + step)
    augment = data.Augment()
    train_ids = setup.train_ids
    if cfg.focus_only:
        train_ids = [i for i in train_ids if setup.style_ids[i] == focus_id]
    if not train_ids:
        raise ValueError(f"no training pieces for focus style {cfg.focus_style!r}")
    dataset = data.StepDataset(setup.index, train_ids, setup.style_ids, {cfg.focus_style: cfg.focus_weight})
    meta = {"train_config": asdict(cfg), "data": [str(d) for d in dirs], "init": str(init) if init else None}
    metrics_path = run_dir / "metrics.jsonl"
    t_last, tokens = time.perf_counter(), 0
    model.train()
    while step < cfg.max_steps:
        for group in opt.param_groups:
            group["lr"] = lr_at(step, cfg)
        steps, style, mask = _batch(dataset, cfg, rng, augment, cfg.style_dropout, device)
        with _autocast(device):
            loss, per = step_loss(ddp, steps, style, mask)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        opt.step()
        step += 1
        tokens += int(mask.sum()) * env.world
        record = {"step": step, "loss": float(loss.detach()), "fields": [round(float(x), 4) for x in per], "lr": lr_at(step - 1, cfg)}
        if step % cfg.val_every == 0 or step == cfg.max_steps:
            now = time.perf_counter()
            record["tokens_per_s"] = tokens / (now - t_last)
            record["val_loss"] = evaluate(model, setup, setup.val_ids, cfg, device)
            record["val_loss_focus"] = evaluate(model, setup, focus_val, cfg, device)
            t_last, tokens = time.perf_counter(), 0
        if env.main:
            _log_step(run_dir, metrics_path, record, model, tokenizer, setup, opt, step, cfg, meta, best)
            if "val_loss" in record and record["val_loss"] < best:
                best = record["val_loss"]
                _save(run_dir / "checkpoint", model, tokenizer, setup, {**meta, "step": step, "val_loss": best,
                                                                          "val_loss_focus": record["val_loss_focus"]})
        if on_step:
            on_step(record)
    env.barrier()
    env.close()
    return run_dir / "checkpoint"


def _save(path: Path, model, tokenizer, setup: TrainSetup, meta: dict) -> None:
    save_checkpoint(path, Checkpoint(model, tokenizer, setup.styles, meta))


def _log_step(run_dir, metrics_path, record, model, tokenizer, setup, opt, step, cfg, meta, best) -> None:
    with metrics_path.open("a") as f:
        f.write(json.dumps(record) + "\n")
    if step % cfg.ckpt_every == 0 or step == cfg.max_steps:
        _save(run_dir / "last", model, tokenizer, setup, {**meta, "step": step})
        _save_train_state(run_dir / "last", opt, step, best)
