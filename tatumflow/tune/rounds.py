"""Preference tuning against a learned critic, in rounds that resume across sessions (`tatumflow tune`).

Round 0: the start model continues `critic_prompts` training-split prompts `samples_per_prompt` times; the critic
(critic.py) is trained from scratch on Tatum's real continuations against them; the start model is judged on the
held-out prompts (heldout.py): the baseline of the guards. Round r >= 1:

1. the current model continues `prompts_per_round` fresh training-split prompts, `samples_per_prompt` lanes each
   (sampler.py), and the critic ranks them: per prompt the sample it finds most like Tatum against the one it finds
   least like him is a preference pair (with `chosen="real"`, Tatum's own continuation of the prompt against the
   sample the critic finds least like him: a preference for his notes, as self-play fine-tuning does; with
   `rejected="best"`, against the sample it finds most like him: the hardest negative; with `rejected="random"`,
   against a lane drawn at random, so that the pairs do not push on the critic's extremes alone);
2. DPO (learn.py) against the model as it was (the frozen reference that sampled the pairs), with `anchor_kl` > 0
   plus a KL leash per step to that reference or (`anchor_to="start"`) to the run's start model; or, with
   `objective="rloo"`, no pairs: a policy gradient on every lane, its reward the critic's log-odds that it is
   Tatum's against the prompt's other lanes (learn.py's RLOO), under the same leash, and with `diversity` > 0
   how far each lane's textures lie from its prompt's other lanes' added to it, with `harmony` > 0 how closely it
   follows the harmony of Tatum's real continuation;
3. the new model continues `critic_prompts` other prompts and the critic is trained on, further, against them (so it
   is never a fixed target to game);
4. the new model is judged on the held-out prompts by the new critic, the texture discriminator and the pianist
   classifier (and, reported, through the `tatum` preset as the engine plays it: heldout.py), and the guards:
   the real continuations' NLL may not rise more than `nll_rise` over the baseline's,
   the texture spread and the distinct pitch 4-grams must stay within their tolerance of Tatum's, or no further from
   his than at the start. A round that breaks a guard is not kept and the run stops; so does one after `patience`
   rounds in a row whose held-out critic AUC did not fall below the best so far.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..eval.critic import Critic, critic_scores, critic_steps
from ..eval.pianist import PianistClassifier
from ..eval.prompts import prompt_splits
from ..model.checkpoint import Checkpoint, load_checkpoint
from ..model.transformer import NoteTransformer
from ..notes import PIANO_HIGH, PIANO_LOW, read_midi
from .config import TuneConfig, TuneState, base_path
from .heldout import (
    Prompt,
    Samples,
    harmony_measures,
    judge,
    real_nll,
    sample_prompts,
    spread_measures,
    through_preset,
)
from .learn import (
    Group,
    Pair,
    dpo_epoch,
    frozen_copy,
    lane_diversity,
    lane_harmony,
    reference_logprobs,
    rloo_epoch,
    standardised,
    train_critic,
)
from .sampler import prompt_notes, sample_config
from .splits import Recording

log = logging.getLogger(__name__)


@dataclass
class TuneData:
    train: list[Prompt]  # training-split prompts
    heldout: list[Prompt]  # the tuning split's prompts the rounds are judged on


def recording_prompts(recordings: Sequence[Recording], cfg: TuneConfig, grid_s: float) -> list[Prompt]:
    """Every prompt / real-continuation pair of the recordings' first file (a prompt every `prompts_every_s`)."""
    out: list[Prompt] = []
    for rec in recordings:
        try:
            notes = read_midi(rec.files[0])
        except ValueError as err:
            log.warning("skipping %s", err)
            continue
        for s in prompt_splits(notes, cfg.prompt_seconds, cfg.continue_seconds, grid_s, cfg.prompts_every_s):
            out.append(Prompt(rec.key, s.prompt, s.real, s.start_s))
    return out


def heldout_prompts(heldout: Sequence[Recording], cfg: TuneConfig, grid_s: float) -> list[Prompt]:
    """The `heldout_prompts` a run is judged on: evenly spread over the tuning recordings' prompts."""
    held = recording_prompts(heldout, cfg, grid_s)
    if not held:
        raise ValueError("no held-out prompts: the tuning recordings are too short or unreadable")
    pick = np.linspace(0, len(held) - 1, min(cfg.heldout_prompts, len(held))).round().astype(int)
    return [held[i] for i in sorted(set(pick.tolist()))]


def tune_data(train: Sequence[Recording], heldout: Sequence[Recording], cfg: TuneConfig, grid_s: float) -> TuneData:
    held = heldout_prompts(heldout, cfg, grid_s)
    prompts = recording_prompts(train, cfg, grid_s)
    if len(prompts) < 2:
        raise ValueError("fewer than 2 training prompts: the training recordings are too short or unreadable")
    return TuneData(prompts, held)


def _pick(prompts: Sequence[Prompt], n: int, *key: int) -> list[Prompt]:
    rng = np.random.default_rng(list(key))
    return [prompts[i] for i in rng.choice(len(prompts), size=min(n, len(prompts)), replace=False)]


class Tuner:
    """One run's model, critic and state (see the module)."""

    def __init__(self, folder: Path, ckpt: Checkpoint, critic: Critic, state: TuneState, data: TuneData,
                 pianist: PianistClassifier | None = None) -> None:
        self.folder, self.ckpt, self.critic, self.state, self.data = folder, ckpt, critic, state, data
        self.pianist = pianist
        cfg = state.config
        if cfg.style not in ckpt.styles:
            raise ValueError(f"tune: the model knows no style {cfg.style!r}")
        self.style = ckpt.styles.index(cfg.style)
        self.sample_cfg = sample_config(ckpt.model.cfg.context_steps, cfg.continue_seconds)

    @property
    def cfg(self) -> TuneConfig:
        return self.state.config

    def _sample(self, prompts: Sequence[Prompt], lanes: int, seed: int) -> tuple[Samples, list[list[np.ndarray]]]:
        return sample_prompts(self.ckpt.model, self.ckpt.tokenizer, self.style, prompts, lanes, self.sample_cfg, seed)

    def _critic_items(self, samples: Samples) -> tuple[list[tuple[np.ndarray, int]], list[tuple[np.ndarray, int]]]:
        tok, seconds, ccfg = self.ckpt.tokenizer, self.cfg.continue_seconds, self.critic.cfg
        real = [critic_steps(tok, ccfg, p.prompt, p.real, p.start_s, seconds) for p in samples.prompts]
        fake = [critic_steps(tok, ccfg, p.prompt, n, p.start_s, seconds)
                for p, seeds in zip(samples.prompts, samples.generated) for n in seeds]
        return real, fake

    def retrain_critic(self, r: int, epochs: int) -> dict[str, float]:
        prompts = _pick(self.data.train, self.cfg.critic_prompts, self.cfg.seed, r, 1)
        samples, _ = self._sample(prompts, self.cfg.samples_per_prompt, self.cfg.seed * 1_000_003 + 2 * r + 1)
        real, fake = self._critic_items(samples)
        gen = torch.Generator().manual_seed(self.cfg.seed + r)
        log.info("round %d: critic training on %d real and %d generated continuations", r, len(real), len(fake))
        loss = train_critic(self.critic, real, fake, epochs, self.cfg.critic_lr, gen)
        return {"critic_loss": loss, "critic_examples": float(len(real) + len(fake))}

    def _ranked(self, r: int) -> tuple[Samples, list[list[np.ndarray]], np.ndarray]:
        """Round r's fresh prompts continued by the current model (notes, and each lane's steps), and the critic's
        scores [prompts, lanes] (log-odds that a sample is generated: lower is more like Tatum)."""
        prompts = _pick(self.data.train, self.cfg.prompts_per_round, self.cfg.seed, r, 0)
        samples, steps = self._sample(prompts, self.cfg.samples_per_prompt, self.cfg.seed * 1_000_003 + 2 * r)
        _, fake = self._critic_items(samples)
        return samples, steps, critic_scores(self.critic, fake).reshape(len(prompts), self.cfg.samples_per_prompt)

    def pairs(self, r: int) -> list[Pair]:
        samples, steps, scores = self._ranked(r)
        prompts = samples.prompts
        drawn = np.random.default_rng([self.cfg.seed, r]).integers(0, self.cfg.samples_per_prompt, len(prompts))
        out = []
        for p, lane_steps, row, lane in zip(prompts, steps, scores, drawn):
            best, worst = int(np.argmin(row)), int(np.argmax(row))
            head, real = self._real_steps(p)
            chosen = real if self.cfg.chosen == "real" else lane_steps[best]
            rejected = lane_steps[{"best": best, "worst": worst, "random": int(lane)}[self.cfg.rejected]]
            if (best == worst and self.cfg.chosen == "critic") or not len(chosen) or not len(rejected):
                continue
            out.append(Pair(head, chosen, rejected))
        return out

    def groups(self, r: int) -> tuple[list[Group], dict[str, float]]:
        """RLOO's groups: each fresh prompt's lanes with their rewards, minus the critic's scores (with `diversity`
        or `harmony` > 0, that standardised over the round, and the lanes' texture diversity and how closely they
        follow the harmony of his real continuation, each standardised, added so weighted); a prompt with an empty
        lane is left out (a group needs all its samples for the leave-one-out baseline)."""
        samples, steps, scores = self._ranked(r)
        rewards = -scores.astype(np.float64)
        stats: dict[str, float] = {"pg_critic_reward": float(rewards.mean())}
        terms = []
        if self.cfg.diversity > 0:
            end = self.cfg.continue_seconds
            variety = lane_diversity(np.array([[spread_measures(n, p.start_s + end) for n in lanes]
                                               for p, lanes in zip(samples.prompts, samples.generated)]))
            terms.append(self.cfg.diversity * standardised(variety))
            stats["pg_lane_diversity"] = float(variety.mean())
        if self.cfg.harmony > 0:
            measures = np.array([[harmony_measures(p.real, n) for n in lanes]
                                 for p, lanes in zip(samples.prompts, samples.generated)])
            terms.append(self.cfg.harmony * standardised(lane_harmony(measures)))
            stats["pg_pitch_class_kl"] = -float(measures[..., 0].mean())
            stats["pg_pctm_cosine"] = float(measures[..., 1].mean())
        if terms:
            rewards = standardised(rewards) + sum(terms)
        out = [Group(self._real_steps(p)[0], list(lanes), row)
               for p, lanes, row in zip(samples.prompts, steps, rewards) if all(len(s) for s in lanes)]
        return out, stats

    def _real_steps(self, p: Prompt) -> tuple[np.ndarray, np.ndarray]:
        """(the prompt's steps as the model reads them, Tatum's real continuation's steps after them)."""
        head = prompt_notes(p.prompt, self.sample_cfg)
        tail = sorted((n for n in p.real if PIANO_LOW <= n.pitch <= PIANO_HIGH), key=lambda n: (n.onset_s, n.pitch))
        steps = self.ckpt.tokenizer.steps_after(None, head + tail[: self.sample_cfg.max_notes])
        return steps[: len(head)], steps[len(head) :]

    def learn(self, r: int) -> dict[str, float]:
        """Round r's step on the generator: DPO on pairs, or RLOO on every sample (`objective`)."""
        model = self.ckpt.model
        optimizer = torch.optim.AdamW(model.parameters(), lr=self.cfg.lr, weight_decay=0.0)
        gen = torch.Generator().manual_seed(self.cfg.seed + 7919 * r)
        anchor = (self._anchor_model(), self.cfg.anchor_kl) if self.cfg.anchor_kl > 0 else None
        if self.cfg.objective == "rloo":
            groups, stats = self.groups(r)
            log.info("round %d: %d prompts x %d samples; RLOO", r, len(groups), self.cfg.samples_per_prompt)
            stats["groups"] = float(len(groups))
            for _ in range(self.cfg.dpo_epochs):
                stats |= rloo_epoch(model, self.style, groups, optimizer, gen, anchor=anchor)
            return stats
        pairs = self.pairs(r)
        log.info("round %d: %d pairs; DPO", r, len(pairs))
        reference_logprobs(model, self.style, pairs)
        stats = {"pairs": float(len(pairs))}
        for _ in range(self.cfg.dpo_epochs):
            stats |= dpo_epoch(model, self.style, pairs, optimizer, self.cfg.beta, gen, sft_weight=self.cfg.sft_weight,
                               per_step=self.cfg.per_step, anchor=anchor)
        return stats

    def _anchor_model(self) -> NoteTransformer:
        """The anchor KL's reference, frozen: the model that sampled this round's pairs, or the run's start model (a
        leash on the whole run's drift, not on each round's)."""
        if self.cfg.anchor_to == "start":
            return frozen_copy(load_checkpoint(base_path(self.state.base)).model)
        return frozen_copy(self.ckpt.model)

    def heldout(self, r: int) -> dict[str, float]:
        log.info("round %d: judging on %d held-out prompts", r, len(self.data.heldout))
        samples, _ = self._sample(self.data.heldout, self.cfg.heldout_seeds, self.cfg.seed + 104_729)
        out = judge(samples, self.ckpt.tokenizer, self.cfg.continue_seconds, self.critic, self.pianist)
        out["nll_real"] = real_nll(self.ckpt.model, self.ckpt.tokenizer, self.style, self.data.heldout,
                                   self.sample_cfg)
        if self.cfg.preset_seeds:
            out |= through_preset(self.ckpt, self.data.heldout, self.cfg.continue_seconds, self.cfg.preset_seeds,
                                  self.pianist)
        return out
