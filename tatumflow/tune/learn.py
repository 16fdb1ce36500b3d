"""The two learners of a preference round: the critic (real against generated) and DPO on the generator.

DPO (Rafailov et al. 2023): for a prompt x, a preferred continuation y+ and a dispreferred y-, minimise
-log sigmoid(beta * ((log pi(y+|x) - log ref(y+|x)) - (log pi(y-|x) - log ref(y-|x)))), where log pi(y|x) is the
sum over the continuation's steps of the four fields' log-probabilities, teacher-forced in one forward pass over
prompt + continuation (`sequence_logprob`), and `ref` is the frozen model that sampled them (its log-probabilities
computed once, before training). With `sft_weight` > 0 the chosen side's negative log-likelihood per step is added,
weighted (as RPO does, Pang et al. 2024): a mass-covering term beside DPO's contrast, which on its own narrowed how
much the textures vary (benchmarks/training/v3/README.md, runs d-h). With `per_step`, each side's log-ratio is
divided by its number of steps (a mean per note, as length-normalised DPO variants do), so that how long his
continuation and the model's are does not weigh in. With `anchor_kl` > 0, the forward KL from the frozen reference
to the model, per step of both continuations and summed over the four fields, is added, so weighted: DPO's contrast
moves the sequences' log-ratios, and this keeps each step's distribution covering what the reference's covered (the
spread of textures across seeds is what every round so far lost).

The other objective, RLOO (Ahmadian et al. 2024; REINFORCE with a leave-one-out baseline): every sample of a prompt
is used, not one pair. Each of a prompt's K samples has a reward (the critic's log-odds that it is Tatum's); its
advantage is its reward minus the mean of the other K-1, divided by the round's reward spread; the loss is minus the
advantage times the sample's mean log-probability per step, averaged over the K, plus the same anchor KL. A policy
gradient on the critic's score, on the samples the model itself drew (on-policy), under the same leash. With a
diversity weight, each sample's reward also counts how far its textures lie from its prompt's other samples
(`lane_diversity`), as diversity-aware preference methods do (DivPO, Lanchantin et al. 2025): every step that moved
an ear so far also narrowed how much the textures vary, and this rewards the variety the spread guard measures.
With a harmony weight, each sample's reward also counts how closely it follows the harmony of Tatum's own
continuation of the prompt (`lane_harmony`: its pitch-class distribution and their order, the measures `tatumflow
eval` reports): the critic rewards texture and touch far more than harmony, and the tuned models followed the
harmony less well than the start.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from ..eval.critic import Critic, collate
from ..eval.discriminator import standardise
from ..model.transformer import NoteTransformer


def _forward(model: NoteTransformer, style: int, prompts: Sequence[np.ndarray], continuations: Sequence[np.ndarray]
             ) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor]]:
    """(steps [B, T, 4], the continuations' mask [B, T], the four heads' log-probabilities) of one padded forward."""
    lengths = [len(p) + len(c) for p, c in zip(prompts, continuations)]
    width = max(lengths)
    steps = torch.zeros(len(lengths), width, 4, dtype=torch.long)
    mask = torch.zeros(len(lengths), width)
    for i, (p, c) in enumerate(zip(prompts, continuations)):
        steps[i, : lengths[i]] = torch.as_tensor(np.concatenate([p, c]).reshape(-1, 4))
        mask[i, len(p) : lengths[i]] = 1.0
    logits = model(steps, torch.full((len(lengths),), style, dtype=torch.long))
    return steps, mask, [F.log_softmax(head.float(), dim=-1) for head in logits]


def _sequence_sum(steps: torch.Tensor, mask: torch.Tensor, logps: Sequence[torch.Tensor]) -> torch.Tensor:
    total = torch.zeros(steps.shape[:2])
    for k, logp in enumerate(logps):
        total = total + logp.gather(-1, steps[..., k : k + 1])[..., 0]
    return (total * mask).sum(dim=1)


def sequence_logprob(model: NoteTransformer, style: int, prompts: Sequence[np.ndarray],
                     continuations: Sequence[np.ndarray]) -> torch.Tensor:
    """log p(continuation | prompt) [B] under `model` (grad flows when enabled): one padded forward."""
    return _sequence_sum(*_forward(model, style, prompts, continuations))


def anchor_kl(logps: Sequence[torch.Tensor], ref_logps: Sequence[torch.Tensor], mask: torch.Tensor) -> torch.Tensor:
    """KL(reference || model) per continuation step, summed over the fields, averaged over the masked steps."""
    kl = sum((ref.exp() * (ref - logp)).sum(-1) for logp, ref in zip(logps, ref_logps))
    return (kl * mask).sum() / mask.sum().clamp(min=1.0)


def frozen_copy(model: NoteTransformer) -> NoteTransformer:
    ref = copy.deepcopy(model).eval()
    for p in ref.parameters():
        p.requires_grad_(False)
    return ref


def _step(model: NoteTransformer, style: int, sides: tuple[list[np.ndarray], list[np.ndarray]],
          forward: tuple[list[torch.Tensor], torch.Tensor], loss: torch.Tensor, optimizer: torch.optim.Optimizer,
          grad_clip: float, anchor: tuple[NoteTransformer, float] | None, kls: list[float]) -> torch.Tensor:
    """`loss` plus, with `anchor`, its weighted KL over the continuations' steps (appended to `kls`); one clipped
    optimiser step on it. `forward`: the model's (log-probabilities, continuation mask) for `sides`."""
    if anchor is not None:
        with torch.no_grad():
            ref_logps = _forward(anchor[0], style, *sides)[2]
        kl = anchor_kl(forward[0], ref_logps, forward[1])
        loss = loss + anchor[1] * kl
        kls.append(kl.item())
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    optimizer.step()
    return loss


@dataclass
class Pair:
    prompt: np.ndarray  # [P, 4] steps
    chosen: np.ndarray  # [N, 4] steps of the preferred continuation
    rejected: np.ndarray
    ref_chosen: float = 0.0  # log ref(chosen | prompt)
    ref_rejected: float = 0.0


@torch.no_grad()
def reference_logprobs(model: NoteTransformer, style: int, pairs: Sequence[Pair]) -> None:
    model.eval()
    for pair in pairs:
        lp = sequence_logprob(model, style, [pair.prompt] * 2, [pair.chosen, pair.rejected])
        pair.ref_chosen, pair.ref_rejected = float(lp[0]), float(lp[1])


def dpo_epoch(model: NoteTransformer, style: int, pairs: Sequence[Pair], optimizer: torch.optim.Optimizer,
              beta: float, gen: torch.Generator, grad_clip: float = 1.0, sft_weight: float = 0.0,
              per_step: bool = False, anchor: tuple[NoteTransformer, float] | None = None) -> dict[str, float]:
    """One pass over the pairs in a random order, one pair per step; mean loss, reward accuracy and margin (and the
    chosen side's NLL per step; with `anchor`, (the frozen reference, its weight), the mean anchor KL)."""
    model.train()
    losses, correct, margins, nlls = [], [], [], []
    kls: list[float] = []
    for i in torch.randperm(len(pairs), generator=gen).tolist():
        pair = pairs[i]
        sides = ([pair.prompt] * 2, [pair.chosen, pair.rejected])
        steps, mask, logps = _forward(model, style, *sides)
        lp = _sequence_sum(steps, mask, logps)
        n_chosen, n_rejected = (len(pair.chosen), len(pair.rejected)) if per_step else (1, 1)
        margin = beta * ((lp[0] - pair.ref_chosen) / n_chosen - (lp[1] - pair.ref_rejected) / n_rejected)
        loss = -F.logsigmoid(margin)
        nll = -lp[0] / max(1, len(pair.chosen))
        if sft_weight > 0:
            loss = loss + sft_weight * nll
        loss = _step(model, style, sides, (logps, mask), loss, optimizer, grad_clip, anchor, kls)
        losses.append(loss.item())
        correct.append(float(margin.item() > 0))
        margins.append(margin.item())
        nlls.append(nll.item())
    model.eval()
    out = {"dpo_loss": _mean(losses), "dpo_reward_accuracy": _mean(correct), "dpo_margin": _mean(margins),
           "dpo_chosen_nll": _mean(nlls)}
    return out | ({"dpo_anchor_kl": _mean(kls)} if anchor is not None else {})


@dataclass
class Group:
    prompt: np.ndarray  # [P, 4] steps
    samples: list[np.ndarray]  # K continuations' steps, drawn by the model from this prompt
    rewards: np.ndarray  # [K] the critic's log-odds that each is Tatum's


def leave_one_out(rewards: np.ndarray, scale: float) -> np.ndarray:
    """Each reward minus the mean of the others (RLOO's baseline), divided by `scale`."""
    k = len(rewards)
    return (rewards - (rewards.sum() - rewards) / (k - 1)) / scale


def lane_diversity(measures: np.ndarray) -> np.ndarray:
    """[prompts, K] each sample's mean distance to its prompt's other samples over the texture measures
    [prompts, K, M], each measure standardised over the whole round (`standardise`: undefined values count as the
    mean)."""
    flat = measures.reshape(-1, measures.shape[-1])
    z = standardise(flat, flat)[0].reshape(measures.shape)
    dist = np.linalg.norm(z[:, :, None, :] - z[:, None, :, :], axis=-1)  # [prompts, K, K]
    return dist.sum(axis=-1) / (measures.shape[1] - 1)


def lane_harmony(measures: np.ndarray) -> np.ndarray:
    """[prompts, K] how closely each sample follows the harmony of the music that really came, over the harmony
    measures [prompts, K, H] (each higher when closer), each standardised over the round, summed."""
    flat = measures.reshape(-1, measures.shape[-1])
    return standardise(flat, flat)[0].sum(axis=-1).reshape(measures.shape[:-1])


def standardised(values: np.ndarray) -> np.ndarray:
    """`values` (any shape) less their mean, over their standard deviation (all 0 when they are constant)."""
    column = values.reshape(-1, 1)
    return standardise(column, column)[0].reshape(values.shape)


def rloo_epoch(model: NoteTransformer, style: int, groups: Sequence[Group], optimizer: torch.optim.Optimizer,
               gen: torch.Generator, grad_clip: float = 1.0, anchor: tuple[NoteTransformer, float] | None = None
               ) -> dict[str, float]:
    """One pass over the prompts in a random order, one prompt's K samples per step (the module's RLOO); the mean
    policy-gradient loss, the advantages' mean size, the samples' NLL per step (and with `anchor`, the anchor KL)."""
    scale = float(np.std(np.concatenate([g.rewards for g in groups]))) if groups else 1.0
    scale = scale if scale > 1e-6 else 1.0
    model.train()
    losses, sizes, nlls = [], [], []
    kls: list[float] = []
    for i in torch.randperm(len(groups), generator=gen).tolist():
        group = groups[i]
        sides = ([group.prompt] * len(group.samples), group.samples)
        steps, mask, logps = _forward(model, style, *sides)
        per_step = _sequence_sum(steps, mask, logps) / mask.sum(dim=1).clamp(min=1.0)
        advantage = torch.as_tensor(leave_one_out(group.rewards, scale), dtype=per_step.dtype)
        loss = -(advantage * per_step).mean()
        loss = _step(model, style, sides, (logps, mask), loss, optimizer, grad_clip, anchor, kls)
        losses.append(loss.item())
        sizes.append(float(advantage.abs().mean()))
        nlls.append(-float(per_step.detach().mean()))
    model.eval()
    out = {"pg_loss": _mean(losses), "pg_advantage": _mean(sizes), "pg_sample_nll": _mean(nlls),
           "pg_reward_scale": scale}
    return out | ({"pg_anchor_kl": _mean(kls)} if anchor is not None else {})


def train_critic(critic: Critic, real: Sequence[tuple[np.ndarray, int]], fake: Sequence[tuple[np.ndarray, int]],
                 epochs: int, lr: float, gen: torch.Generator, batch: int = 16) -> float:
    """Binary cross-entropy, real 0 and generated 1, the classes weighted to count equally; the last epoch's loss."""
    items = list(real) + list(fake)
    labels = torch.cat([torch.zeros(len(real)), torch.ones(len(fake))])
    weights = torch.cat([torch.full((len(real),), 0.5 / max(1, len(real))),
                         torch.full((len(fake),), 0.5 / max(1, len(fake)))]) * len(items)
    params = [p for p in critic.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=0.01)
    last = math.nan
    for _ in range(epochs):
        critic.train()
        total, count = 0.0, 0
        order = torch.randperm(len(items), generator=gen).tolist()
        for start in range(0, len(order), batch):
            chunk = order[start : start + batch]
            logits = critic(*collate([items[i] for i in chunk]))
            loss = F.binary_cross_entropy_with_logits(logits, labels[chunk], weight=weights[chunk])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total, count = total + loss.item() * len(chunk), count + len(chunk)
        last = total / max(1, count)
    critic.eval()
    return last


def _mean(values: Sequence[float]) -> float:
    return float(np.mean(values)) if values else math.nan
