"""Training: one script for CPU runs, one GPU, and several GPUs or machines through `torchrun` (DDP).

Pretrain on the whole corpus with a style vector per pianist (style dropout to "none" for classifier-free
guidance), the focus pianist upweighted while the corpus is replayed, so the model does not collapse onto one
pianist. A run writes `RUN/last` (weights + optimizer state, every `ckpt_every` steps or `ckpt_minutes`, and on
SIGTERM/SIGINT) and `RUN/checkpoint` (best validation loss); it resumes from `RUN/last`.
"""

from __future__ import annotations

import json
import logging
import math
import signal
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..model.checkpoint import Checkpoint, load_checkpoint, resolve_device, save_checkpoint
from ..model.tokenizer import Tokenizer
from ..model.transformer import ModelConfig, NoteTransformer, factorised_heads
from ..signals import on_signals
from . import data
from .batches import Augment, StepDataset
from .config import TrainConfig, autocast, lr_at, resolve_precision
from .state import DistEnv, load_train_state, save_train_state

log = logging.getLogger(__name__)


def step_loss(
    model: torch.nn.Module, steps: torch.Tensor, style: torch.Tensor, mask: torch.Tensor,
    inputs: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean cross-entropy per field over unpadded steps, the context read from `inputs` when given (else `steps`);
    returns (total, per-field [4])."""
    logits = model(steps, style) if inputs is None else model(steps, style, inputs=inputs)
    per_field = []
    m = mask.reshape(-1).float()
    denom = m.sum().clamp(min=1)
    for k, lg in enumerate(logits):
        ce = F.cross_entropy(lg.float().reshape(-1, lg.shape[-1]), steps[..., k].reshape(-1), reduction="none")
        per_field.append((ce * m).sum() / denom)
    per = torch.stack(per_field)
    return per.sum(), per.detach()


@torch.no_grad()
def self_feed(model: NoteTransformer, steps: torch.Tensor, style: torch.Tensor, mask: torch.Tensor, share: float,
              fields: Sequence[int], generator: torch.Generator) -> torch.Tensor | None:
    """The context a batch is trained on when the model reads its own notes (parallel scheduled sampling).

    Free-running, the model's context fills with its own notes, whose small errors it then follows (its notes
    shortened window by window). Here `share` of the crops (chosen at random) read, from a random note on, the
    model's one-step samples of `fields` (each drawn at temperature 1 from its teacher-forced heads, given the
    real notes before it and the real fields before it in the step) in place of the real values; the loss still
    asks for the real notes, so the model learns to keep to the piece when its own notes drift. Returns the
    inputs [B, T, 4], or None when no crop was chosen.
    """
    B, T, _ = steps.shape
    dev = steps.device
    chosen = torch.rand(B, generator=generator, device=dev) < share
    if not bool(chosen.any()):
        return None
    rows = steps[chosen]
    h = model.hidden(rows, style[chosen])

    def draw(k: int, logits: torch.Tensor, before: list[torch.Tensor]) -> torch.Tensor:
        if k not in fields:
            return rows[..., k]
        probs = torch.softmax(logits.float(), dim=-1).reshape(-1, logits.shape[-1])
        return torch.multinomial(probs, 1, generator=generator).reshape(rows.shape[:2])

    own = torch.stack(factorised_heads(h, model.head_logits, model.cond_embed, draw), dim=-1)
    cut = (torch.rand(int(chosen.sum()), generator=generator, device=dev) * T).long()  # each crop's first note fed
    fed = (torch.arange(T, device=dev)[None, :] >= cut[:, None]) & mask[chosen]
    inputs = steps.clone()
    inputs[chosen] = torch.where(fed[..., None], own, rows)
    return inputs


@dataclass
class TrainSetup:
    index: data.CorpusIndex
    styles: list[str]
    style_ids: np.ndarray
    train_ids: list[int]
    val_ids: list[int]


def prepare_data(dirs: Sequence[Path], cache_dir: Path, tokenizer: Tokenizer, env: DistEnv) -> TrainSetup:
    """The corpus, tokenized into `cache_dir` or reused from there (with no `dirs`: the cache alone)."""
    if env.main:
        data.build_cache(dirs, cache_dir, tokenizer)
    env.barrier()
    index = data.build_cache(dirs, cache_dir, tokenizer)  # reuses what rank 0 built
    styles = data.style_vocab(index)
    style_ids = data.style_ids(index, styles)
    train_ids, val_ids = data.split_by_recording(index)
    if not len(train_ids):
        raise ValueError(f"no training data found in {[str(d) for d in dirs]}")
    if not len(val_ids):
        raise ValueError(f"too little data to hold any recording out for validation ({len(index)} pieces in "
                         f"{[str(d) for d in dirs]}): add more recordings")
    return TrainSetup(index, styles, style_ids, list(train_ids), list(val_ids))


def _batch(dataset: StepDataset, cfg: TrainConfig, rng: np.random.Generator, augment: Augment | None,
           dropout: float, device: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    b = dataset.sample(cfg.batch_size, cfg.seq_len, rng, augment, dropout)
    return (torch.from_numpy(b["steps"]).to(device), torch.from_numpy(b["style"]).to(device),
            torch.from_numpy(b["mask"]).to(device))


@torch.no_grad()
def validation_loss(model: torch.nn.Module, setup: TrainSetup, ids: Sequence[int], cfg: TrainConfig, device: str,
                    precision: str) -> float | None:
    """Mean loss on a fixed set of crops (same seed each time: comparable across steps); None without pieces."""
    if len(ids) == 0:
        return None
    model.eval()
    dataset = StepDataset(setup.index, ids, setup.style_ids)
    rng = np.random.default_rng(1234)
    losses = []
    for _ in range(cfg.val_batches):
        steps, style, mask = _batch(dataset, cfg, rng, None, 0.0, device)
        with autocast(device, precision):
            loss, _ = step_loss(model, steps, style, mask)
        losses.append(float(loss))
    model.train()
    return float(np.mean(losses))


def _build_model(cfg: TrainConfig, setup: TrainSetup, tokenizer: Tokenizer, init: Path | None,
                 device: str) -> tuple[NoteTransformer, dict]:
    """The model (fresh, or `init`'s weights) and `init`'s meta (empty for a fresh model)."""
    if init is None:
        mcfg = ModelConfig(vocab_sizes=tokenizer.config.vocab_sizes, n_styles=len(setup.styles), d_model=cfg.d_model,
                           n_layers=cfg.n_layers, n_heads=cfg.n_heads, context_steps=cfg.context_steps,
                           dropout=cfg.dropout)
        return NoteTransformer(mcfg).to(device), {}
    ckpt = load_checkpoint(init, device)
    if ckpt.styles != setup.styles:
        raise ValueError(f"--init checkpoint {init} knows other styles than this data"
                         f" ({len(ckpt.styles)} vs {len(setup.styles)})")
    if ckpt.tokenizer.config != tokenizer.config:
        raise ValueError(f"--init checkpoint {init} was trained with another tokenizer config")
    model = NoteTransformer(replace(ckpt.model.cfg, dropout=cfg.dropout))
    model.load_state_dict(ckpt.model.state_dict())
    return model.to(device), ckpt.meta


@contextmanager
def _stop_on_signals() -> Iterator[dict]:
    """Turn SIGTERM/SIGINT into a flag the loop checks after each step (then it saves `last` and returns)."""
    flag = {"stop": False}
    with on_signals(lambda signum: flag.update(stop=True), (signal.SIGTERM, signal.SIGINT)):
        yield flag


@dataclass
class _Run:
    """What one training run carries between steps."""

    cfg: TrainConfig
    run_dir: Path
    model: NoteTransformer
    opt: torch.optim.Optimizer
    setup: TrainSetup
    tokenizer: Tokenizer
    meta: dict
    precision: str
    device: str
    step: int = 0
    best: float = math.inf
    notes_seen: int = 0  # over this model's whole life (its --init's count included)
    saved_at: float = 0.0
    generator: torch.Generator | None = None  # self-feeding's draws (on the run's device)

    def save(self, name: str, extra: dict | None = None) -> None:
        meta = {**self.meta, "step": self.step, "notes_seen": self.notes_seen, **(extra or {})}
        save_checkpoint(self.run_dir / name, Checkpoint(self.model, self.tokenizer, self.setup.styles, meta))

    def save_last(self) -> None:
        self.save("last")
        save_train_state(self.run_dir / "last", self.opt, self.step, self.best, self.notes_seen)
        self.saved_at = time.monotonic()


def _start_run(dirs: Sequence[Path], run_dir: Path, cfg: TrainConfig, env: DistEnv, init: Path | None,
               cache_dir: Path | None) -> _Run:
    tokenizer = Tokenizer()
    run_dir.mkdir(parents=True, exist_ok=True)
    setup = prepare_data(dirs, cache_dir or run_dir / "cache", tokenizer, env)
    resume = run_dir / "last" if (run_dir / "last" / "train_state.json").is_file() else None
    model, init_meta = _build_model(cfg, setup, tokenizer, resume or init, env.device)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay, betas=(0.9, 0.95))
    precision = resolve_precision(cfg.precision, env.device)
    meta = {"train_config": asdict(cfg), "precision": precision, "data": [str(d) for d in dirs],
            "init": str(init) if init else None}
    run = _Run(cfg, run_dir, model, opt, setup, tokenizer, meta, precision, env.device,
               notes_seen=int(init_meta.get("notes_seen", 0)), saved_at=time.monotonic())
    source = resume or init
    if source is not None and (source / "train_state.json").is_file():
        state = load_train_state(source, opt)
        if state is None:
            log.warning("optimizer state in %s does not fit this model: AdamW starts afresh", source)
        else:
            run.notes_seen = state["notes_seen"] or run.notes_seen
            if resume is not None:  # continuing this run (an --init run's step and best stay its own)
                run.step, run.best = state["step"], state["best_val"]
            log.info("optimizer state restored from %s (step %d)", source, state["step"])
    return run


def _datasets(run: _Run) -> StepDataset:
    cfg, setup = run.cfg, run.setup
    focus_id = setup.styles.index(cfg.focus_style) if cfg.focus_style in setup.styles else -1
    train_ids = setup.train_ids
    if cfg.focus_only:
        train_ids = [i for i in train_ids if setup.style_ids[i] == focus_id]
    if not train_ids:
        raise ValueError(f"no training pieces for focus style {cfg.focus_style!r}")
    return StepDataset(setup.index, train_ids, setup.style_ids, {cfg.focus_style: cfg.focus_weight})


def _validate(run: _Run, record: dict) -> None:
    cfg, setup = run.cfg, run.setup
    focus_id = setup.styles.index(cfg.focus_style) if cfg.focus_style in setup.styles else -1
    focus_val = [i for i in setup.val_ids if setup.style_ids[i] == focus_id]
    val = validation_loss(run.model, setup, setup.val_ids, cfg, run.device, run.precision)
    if val is None or not math.isfinite(val):
        raise ValueError(f"validation loss is {val} at step {run.step}: the held-out data is too small or the "
                         "run diverged (try a lower --lr or more data)")
    record["val_loss"] = val
    record["val_loss_focus"] = validation_loss(run.model, setup, focus_val, cfg, run.device, run.precision)


def train(
    dirs: Sequence[Path],
    run_dir: Path,
    cfg: TrainConfig,
    device: str = "auto",
    init: Path | None = None,
    cache_dir: Path | None = None,
    max_steps: int | None = None,
    on_step: Callable[[dict], None] | None = None,
    max_minutes: float | None = None,
) -> Path:
    """Train; return `run_dir/checkpoint` (best validation loss). Resumes from `run_dir/last`. After `max_minutes`
    of wall time it stops as on SIGTERM (validates, saves `last`): a time budget, e.g. a lent GPU's minutes."""
    if max_minutes is not None and not max_minutes > 0:
        raise ValueError(f"max_minutes must be > 0, got {max_minutes}")
    if max_steps is not None:
        cfg = replace(cfg, max_steps=max_steps, warmup=min(cfg.warmup, max(max_steps // 10, 1)),
                      decay_steps=min(cfg.decay_steps, max_steps))
    env = DistEnv(resolve_device(device))
    torch.manual_seed(cfg.seed + env.rank)
    run = _start_run(dirs, run_dir, cfg, env, init, cache_dir)
    ddp = torch.nn.parallel.DistributedDataParallel(run.model) if env.world > 1 else run.model
    rng = np.random.default_rng(cfg.seed * 1000 + env.rank + run.step)
    augment = Augment(stretch_min=1 - cfg.tempo_stretch, stretch_max=1 + cfg.tempo_stretch,
                      articulation_bins=cfg.articulation_bins)
    dataset = _datasets(run)
    t_last, notes = time.perf_counter(), 0
    deadline = math.inf if max_minutes is None else time.monotonic() + 60 * max_minutes
    out_of_time = False
    run.model.train()
    with _stop_on_signals() as flag:
        while run.step < cfg.max_steps and not flag["stop"]:
            record = _train_step(run, ddp, dataset, rng, augment, env.world)
            notes += record.pop("notes")
            out_of_time = deadline < math.inf and env.agree(time.monotonic() >= deadline)
            if out_of_time:
                flag["stop"] = True
            if run.step % cfg.val_every == 0 or run.step == cfg.max_steps or out_of_time:
                record["notes_per_s"] = round(notes / (time.perf_counter() - t_last), 1)
                _validate(run, record)
                t_last, notes = time.perf_counter(), 0
            if env.main:
                _log_and_save(run, record)
            if on_step:
                on_step(record)
        if flag["stop"] and env.main:
            why = "its time budget" if out_of_time else "a signal"
            log.info("stopped by %s at step %d: saving %s", why, run.step, run_dir / "last")
            run.save_last()
    env.barrier()
    env.close()
    return run_dir / "checkpoint"


def _train_step(run: _Run, ddp: torch.nn.Module, dataset: StepDataset, rng: np.random.Generator, augment: Augment,
                world: int) -> dict:
    cfg = run.cfg
    lr = lr_at(run.step, cfg)
    for group in run.opt.param_groups:
        group["lr"] = lr
    steps, style, mask = _batch(dataset, cfg, rng, augment, cfg.style_dropout, run.device)
    with autocast(run.device, run.precision):
        inputs = None
        if cfg.self_feed:
            if run.generator is None:
                run.generator = torch.Generator(device=run.device).manual_seed(cfg.seed * 1000 + run.step)
            inputs = self_feed(run.model, steps, style, mask, cfg.self_feed, cfg.self_feed_heads, run.generator)
        loss, per = step_loss(ddp, steps, style, mask, inputs)
    if not torch.isfinite(loss):
        raise ValueError(f"training loss is {float(loss)} at step {run.step + 1}: the run diverged (try a lower lr)")
    run.opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(run.model.parameters(), cfg.grad_clip)
    run.opt.step()
    run.step += 1
    n = int(mask.sum()) * world
    run.notes_seen += n
    return {"step": run.step, "loss": round(float(loss.detach()), 5), "fields": [round(float(x), 4) for x in per],
            "lr": lr, "notes_seen": run.notes_seen, "notes": n}


def _log_and_save(run: _Run, record: dict) -> None:
    cfg = run.cfg
    with (run.run_dir / "metrics.jsonl").open("a") as f:
        f.write(json.dumps(record, allow_nan=False) + "\n")
    due = run.step % cfg.ckpt_every == 0 or run.step == cfg.max_steps
    if due or time.monotonic() - run.saved_at > 60 * cfg.ckpt_minutes:
        run.save_last()
    if "val_loss" in record and record["val_loss"] < run.best:
        run.best = record["val_loss"]
        run.save("checkpoint", {"val_loss": run.best, "val_loss_focus": record["val_loss_focus"]})
