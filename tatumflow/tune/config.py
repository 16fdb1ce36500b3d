"""The preference tuning's settings and its state folder (safetensors + JSON; nothing is pickled).

State folder: `tune.json` (format, the config, the round last completed, the baseline guards, the status), `policy/`
(the current generator, a checkpoint folder), `critic/` (the current critic), `log.jsonl` (one line per round).
A round is written at its end (policy, critic, then `tune.json` last, each by rename), so a run stopped mid-round
resumes by redoing that round.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

STATE, LOG, POLICY, CRITIC = "tune.json", "log.jsonl", "policy", "critic"
FORMAT = "tatumflow-tune-1"
DEFAULT_BASE = "default"  # the embedded default model, wherever the package lies


def base_path(base: str | Path) -> Path:
    """The folder of a run's start model (`DEFAULT_BASE`: the embedded default)."""
    from ..model.checkpoint import default_checkpoint_dir

    return default_checkpoint_dir() if str(base) == DEFAULT_BASE else Path(base)


@dataclass(frozen=True)
class TuneConfig:
    prompts_per_round: int = 48  # training-split prompts continued per round (DPO pairs: one per prompt)
    samples_per_prompt: int = 4  # lanes sampled at once per prompt; the critic's best and worst make the pair
    critic_prompts: int = 48  # prompts the critic is retrained on each round (the new model's samples)
    heldout_prompts: int = 10  # tuning-split prompts the round is judged on
    heldout_seeds: int = 4
    preset_seeds: int = 2  # held-out continuations a prompt also played through the `tatum` preset (0: none)
    prompt_seconds: float = 20.0
    continue_seconds: float = 15.0
    prompts_every_s: float = 30.0
    beta: float = 0.1
    chosen: str = "critic"  # a pair's preferred side: the critic's favourite sample, or "real": Tatum's own notes
    # its other side: the sample the critic finds least like him, or (with "real") "best", its favourite, or
    # "random", a lane drawn at random (the critic's ranking unused: self-play fine-tuning's negative)
    rejected: str = "worst"
    lr: float = 1e-5
    sft_weight: float = 0.0  # > 0: the chosen side's NLL per step added to DPO's loss, so weighted (learn.py)
    per_step: bool = False  # DPO's log-ratios as means per step, not sums (learn.py)
    anchor_kl: float = 0.0  # > 0: KL(reference || model) per step added to DPO's loss, so weighted (learn.py)
    anchor_to: str = "round"  # that reference: the model that sampled the round's pairs, or "start": the run's base
    objective: str = "dpo"  # the generator's step: "dpo" on pairs, or "rloo": a policy gradient on every sample
    diversity: float = 0.0  # RLOO: > 0 adds each sample's texture distance to its prompt's others, so weighted
    harmony: float = 0.0  # RLOO: > 0 adds how closely each sample follows the harmony that really came, so weighted
    dpo_epochs: int = 1  # passes over a round's pairs (or groups)
    critic_epochs_first: int = 8
    critic_epochs: int = 3
    critic_lr: float = 1e-3
    max_rounds: int = 20
    nll_rise: float = 0.03  # guard: Tatum's real continuations' NLL may rise at most this much over the start's
    spread_tolerance: float = 0.10  # guard: texture spread within this of Tatum's (or no further than at the start)
    fourgram_tolerance: float = 0.10  # guard: distinct pitch 4-grams likewise
    patience: int = 2  # stop after this many rounds in a row without the held-out critic AUC falling
    style: str = "Art Tatum"
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("prompts_per_round", "critic_prompts", "heldout_prompts", "heldout_seeds", "dpo_epochs",
                     "critic_epochs_first", "critic_epochs", "max_rounds", "patience"):
            if not 1 <= getattr(self, name) <= 100_000:
                raise ValueError(f"tune: {name} must be in 1..100000, got {getattr(self, name)}")
        if not 0 <= self.preset_seeds <= 100:
            raise ValueError(f"tune: preset_seeds must be in 0..100, got {self.preset_seeds}")
        if not 2 <= self.samples_per_prompt <= 64:
            raise ValueError(f"tune: samples_per_prompt must be in 2..64, got {self.samples_per_prompt}")
        for name in ("prompt_seconds", "continue_seconds", "prompts_every_s"):
            if not 0 < getattr(self, name) <= 120:
                raise ValueError(f"tune: {name} must be in (0, 120], got {getattr(self, name)}")
        if self.chosen not in ("critic", "real"):
            raise ValueError(f"tune: chosen must be critic or real, got {self.chosen!r}")
        if self.objective not in ("dpo", "rloo"):
            raise ValueError(f"tune: objective must be dpo or rloo, got {self.objective!r}")
        for name in ("diversity", "harmony"):
            if getattr(self, name) > 0 and self.objective != "rloo":
                raise ValueError(f"tune: {name} is a reward of the rloo objective (give --objective rloo)")
        if self.anchor_to not in ("round", "start"):
            raise ValueError(f"tune: anchor_to must be round or start, got {self.anchor_to!r}")
        if self.rejected not in ("worst", "best", "random") or (self.rejected != "worst" and self.chosen != "real"):
            raise ValueError(f"tune: rejected must be worst, or best or random with chosen real; got {self.rejected!r}")
        for name in ("sft_weight", "anchor_kl", "diversity", "harmony"):
            if not 0 <= getattr(self, name) <= 100:
                raise ValueError(f"tune: {name} must be in [0, 100], got {getattr(self, name)}")
        for name in ("beta", "lr", "critic_lr", "nll_rise", "spread_tolerance", "fourgram_tolerance"):
            if not 0 < getattr(self, name) <= 10:
                raise ValueError(f"tune: {name} must be in (0, 10], got {getattr(self, name)}")

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TuneConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"tune: unknown settings {unknown[:5]}")
        return cls(**d)


# A config small enough for the unit tests (seconds on one thread with a tiny model).
TINY = TuneConfig(prompts_per_round=3, samples_per_prompt=2, critic_prompts=3, heldout_prompts=2, heldout_seeds=2,
                  prompt_seconds=4.0, continue_seconds=3.0, prompts_every_s=5.0, critic_epochs_first=2,
                  critic_epochs=1, max_rounds=2, lr=1e-4, preset_seeds=1)


@dataclass
class TuneState:
    config: TuneConfig
    base: str  # the checkpoint the run started from
    round: int = -1  # the last round completed (0: the first critic and the baseline)
    status: str = "running"
    baseline: dict[str, float] | None = None
    baseline_seeds: int | None = None  # the held-out seeds a prompt the baseline was judged with
    best_critic_auc: float | None = None
    stale_rounds: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"format": FORMAT, **asdict(self), "config": asdict(self.config)}


def write_json_atomic(path: Path, value: Any) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(value, indent=1), encoding="utf-8")
    os.replace(tmp, path)


def save_state(folder: Path, state: TuneState) -> None:
    write_json_atomic(folder / STATE, state.to_dict())


def load_state(folder: Path) -> TuneState | None:
    """The state of a run in `folder`, or None when none was started there."""
    path = folder / STATE
    if not path.is_file():
        return None
    try:
        d = json.loads(path.read_text(encoding="utf-8"))
        if d.pop("format", None) != FORMAT:
            raise ValueError("not a tune state")
        d["config"] = TuneConfig.from_dict(d["config"])
        if d.get("baseline") and "baseline_seeds" not in d:  # a state from before the field: judged as configured
            d["baseline_seeds"] = d["config"].heldout_seeds
        return TuneState(**d)
    except (KeyError, TypeError, ValueError, json.JSONDecodeError) as err:
        raise ValueError(f"{path}: cannot resume ({str(err)[:200]})") from err


def append_log(folder: Path, record: dict[str, Any]) -> None:
    with open(folder / LOG, "a", encoding="utf-8") as f:
        f.write(json.dumps(record) + "\n")
