"""Driving the rounds (rounds.py): start or resume a state folder, run rounds, check the guards, write each round."""

from __future__ import annotations

import logging
import math
import shutil
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from ..eval.critic import Critic, CriticConfig, load_critic, save_critic
from ..eval.pianist import PianistClassifier
from ..model.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from .config import CRITIC, POLICY, TuneConfig, TuneState, append_log, base_path, load_state, save_state
from .rounds import TuneData, Tuner

log = logging.getLogger(__name__)


def guards(measures: dict[str, float], baseline: dict[str, float], cfg: TuneConfig) -> dict[str, bool]:
    """Which collapse guards hold (rounds.py's module docstring)."""

    def near(key: str, tolerance: float) -> bool:
        now, start = abs(measures[key] - 1), abs(baseline[key] - 1)
        return bool(now <= tolerance or now <= start + 1e-9)

    nll_ok = measures["nll_real"] <= baseline["nll_real"] * (1 + cfg.nll_rise)
    return {"guard_nll": bool(nll_ok), "guard_spread": near("spread_ratio", cfg.spread_tolerance),
            "guard_fourgram": near("fourgram_ratio", cfg.fourgram_tolerance)}


BASELINE_KEYS = ("nll_real", "spread_ratio", "fourgram_ratio")


def _policy(folder: Path, state: TuneState) -> Checkpoint:
    """The run's current model: `policy/`, or the start model while no round has changed it (round 0 does not, so a
    state folder copied without `policy/` after round 0 resumes from its base)."""
    if (folder / POLICY).is_dir() or state.round > 0:
        return load_checkpoint(folder / POLICY)
    return load_checkpoint(base_path(state.base))


def open_tuner(folder: Path, base: str | Path, cfg: TuneConfig, data: Callable[[TuneConfig, float], TuneData],
               pianist: PianistClassifier | None = None) -> Tuner:
    """A new run in `folder` from checkpoint `base` ("default": the embedded model), or the run already there (its
    own config and base kept)."""
    state = load_state(folder)
    if state is None:
        folder.mkdir(parents=True, exist_ok=True)
        ckpt = load_checkpoint(base_path(base))
        mcfg = ckpt.model.cfg
        critic = Critic(CriticConfig(vocab_sizes=mcfg.vocab_sizes, embed_dim=mcfg.d_model))
        critic.copy_embeddings(ckpt.model)
        state = TuneState(cfg, str(base))
    else:
        ckpt = _policy(folder, state)
        if state.round >= 0:
            critic, _ = load_critic(folder / CRITIC)
        else:
            mcfg = ckpt.model.cfg
            critic = Critic(CriticConfig(vocab_sizes=mcfg.vocab_sizes, embed_dim=mcfg.d_model))
            critic.copy_embeddings(ckpt.model)
        if state.config != cfg:
            log.info("resuming %s with the config it was started with", folder)
    return Tuner(folder, ckpt, critic, state, data(state.config, ckpt.tokenizer.config.grid_s), pianist)


def run_round(tuner: Tuner, r: int) -> dict[str, Any]:
    """Round r (0: the first critic and the baseline); the record written to the log."""
    t0 = time.time()
    record: dict[str, Any] = {"round": r}
    kept = {k: v.detach().clone() for k, v in tuner.ckpt.model.state_dict().items()}
    if r == 0:
        record |= tuner.retrain_critic(0, tuner.cfg.critic_epochs_first)
    else:
        record |= tuner.learn(r)
        record |= tuner.retrain_critic(r, tuner.cfg.critic_epochs)
    record |= tuner.heldout(r)
    if r == 0:
        tuner.state.baseline = {k: record[k] for k in BASELINE_KEYS}
        tuner.state.baseline_seeds = tuner.cfg.heldout_seeds
    checks = guards(record, tuner.state.baseline or record, tuner.cfg)
    record |= checks
    record["kept"] = all(checks.values())
    if not record["kept"]:
        tuner.ckpt.model.load_state_dict(kept)
        tuner.critic, _ = load_critic(tuner.folder / CRITIC)
    record["seconds"] = round(time.time() - t0, 1)
    return record


def _advance(tuner: Tuner, record: dict[str, Any]) -> None:
    """The stopping rules and the state after a round (not yet written)."""
    state, r = tuner.state, record["round"]
    if not record["kept"]:
        failed = ", ".join(k for k, v in record.items() if k.startswith("guard_") and not v)
        state.status = f"stopped: a guard failed in round {r} ({failed})"
        return
    state.round = r
    auc = record.get("critic_auc", math.nan)
    if r > 0 and state.best_critic_auc is not None and not auc < state.best_critic_auc:
        state.stale_rounds += 1
    else:
        state.stale_rounds = 0
    if math.isfinite(auc) and (state.best_critic_auc is None or auc < state.best_critic_auc):
        state.best_critic_auc = auc
    if r > 0 and state.stale_rounds >= tuner.cfg.patience:
        state.status = f"stopped: the held-out critic AUC did not fall for {state.stale_rounds} rounds"
    elif r >= tuner.cfg.max_rounds:
        state.status = f"done: {r} rounds"


def save_round(tuner: Tuner, record: dict[str, Any]) -> None:
    """The policy and critic (when the round was kept), the log line, then the state, each replaced whole."""
    folder = tuner.folder
    if record["kept"]:
        for name, write in ((POLICY, lambda p: save_checkpoint(p, tuner.ckpt)),
                            (CRITIC, lambda p: save_critic(tuner.critic, p, {"round": record["round"]}))):
            tmp = folder / (name + ".tmp")
            shutil.rmtree(tmp, ignore_errors=True)
            write(tmp)
            shutil.rmtree(folder / name, ignore_errors=True)
            tmp.rename(folder / name)
    append_log(folder, record)
    save_state(folder, tuner.state)


class _Deferred:
    """SIGTERM / SIGINT: stop at once, except while a round is being written (then right after it)."""

    def __init__(self) -> None:
        self.saving = False
        self.pending = False

    def __call__(self, signum: int, frame: object) -> None:
        if self.saving:
            self.pending = True
        else:
            raise SystemExit(f"stopped by signal {signum}; the state holds the last completed round")


def rejudge_baseline(tuner: Tuner) -> dict[str, Any] | None:
    """Where the held-out seeds changed since the baseline was judged, judge the start model again with the seeds
    now set, so that every guard compares measures taken alike (the spread across 8 seeds is not the spread across
    16). The record is logged; None when nothing changed."""
    state = tuner.state
    if state.baseline is None or state.baseline_seeds == tuner.cfg.heldout_seeds:
        return None
    log.info("judging the start model again with %d seeds a prompt (the baseline had %s)", tuner.cfg.heldout_seeds,
             state.baseline_seeds)
    t0, policy = time.time(), tuner.ckpt
    tuner.ckpt = load_checkpoint(base_path(state.base))
    try:
        measures = tuner.heldout(state.round)
    finally:
        tuner.ckpt = policy
    record = {"round": state.round, "baseline_rejudged": True, "heldout_seeds": tuner.cfg.heldout_seeds,
              "previous_baseline": state.baseline, "previous_seeds": state.baseline_seeds, **measures,
              "seconds": round(time.time() - t0, 1)}
    state.baseline = {k: measures[k] for k in BASELINE_KEYS}
    state.baseline_seeds = tuner.cfg.heldout_seeds
    append_log(tuner.folder, record)
    save_state(tuner.folder, state)
    return record


def resume_stopped(tuner: Tuner) -> None:
    """Let a stopped run go on (after its settings were changed): running again, the patience count afresh."""
    tuner.state.status, tuner.state.stale_rounds = "running", 0


def run_rounds(tuner: Tuner, rounds: int | None = None, on_round: Callable[[dict[str, Any]], None] | None = None
               ) -> TuneState:
    """Run rounds until the state stops (or `rounds` more are done); each round written when it ends."""
    handler = _Deferred()
    previous = {s: signal.signal(s, handler) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        if tuner.state.status == "running":
            rejudge_baseline(tuner)
        done = 0
        while tuner.state.status == "running" and (rounds is None or done < rounds):
            record = run_round(tuner, tuner.state.round + 1)
            _advance(tuner, record)
            handler.saving = True
            save_round(tuner, record)
            handler.saving = False
            done += 1
            if on_round:
                on_round(record)
            if handler.pending:
                raise SystemExit("stopped by a signal after writing the round")
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
    return tuner.state


def set_threads(threads: int) -> None:
    torch.set_num_threads(threads)
