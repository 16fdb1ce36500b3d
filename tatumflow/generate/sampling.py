"""Sampling one field from logits, with masks for the live constraints.

`sample_field` is the hot path (four calls per note): in numpy (a few hundred floats; numpy calls cost ~1 us where
torch ops cost several), a sort only when top-p/top-k need one, then inverse-CDF sampling on the cumulative
probabilities with one uniform draw from the torch generator. It keeps exactly the values `filter_logits` keeps and
samples them with the same probabilities; `filter_logits` stays as the readable reference
(tests/model/test_sampling.py checks the two agree).
"""

from __future__ import annotations

import numpy as np
import torch


def filter_logits(logits: torch.Tensor, top_k: int = 0, top_p: float = 1.0, min_p: float = 0.0) -> torch.Tensor:
    """Set to -inf what top-k, top-p (nucleus) and min-p exclude. logits: [V], already temperature-scaled."""
    if top_k > 0 and top_k < logits.shape[-1]:
        kth = torch.topk(logits, top_k).values[-1]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if min_p > 0.0:
        probs = torch.softmax(logits, dim=-1)
        logits = logits.masked_fill(probs < min_p * probs.max(), float("-inf"))
    if top_p < 1.0:
        sorted_logits, order = torch.sort(logits, descending=True)
        cum = torch.softmax(sorted_logits, dim=-1).cumsum(-1)
        # Drop a token when the mass before it already reaches top_p (always keeps the best one).
        drop_sorted = (cum - torch.softmax(sorted_logits, dim=-1)) >= top_p
        drop = torch.zeros_like(drop_sorted).scatter(0, order, drop_sorted)
        logits = logits.masked_fill(drop, float("-inf"))
    return logits


def mask_bias(mask: torch.Tensor) -> torch.Tensor:
    """A bool mask (True = allowed) as an additive float bias: 0 where allowed, -inf elsewhere."""
    if not bool(mask.any()):
        raise ValueError("sampling constraints exclude every value")
    return torch.zeros(mask.shape).masked_fill_(~mask, float("-inf"))


def sample_field(
    logits: torch.Tensor,
    temperature: float,
    generator: torch.Generator | None,
    top_k: int = 0,
    top_p: float = 1.0,
    min_p: float = 0.0,
    mask: torch.Tensor | None = None,
    bias: torch.Tensor | None = None,
) -> int:
    """Sample an index from 1-D CPU logits; greedy when top_k == 1.

    `mask` (bool, True = allowed) or `bias` (0 / -inf, see `mask_bias`; cheaper when reused) is applied first.
    The work is a handful of numpy calls on a few hundred floats (cheaper than torch ops at this size); the one
    random draw comes from the torch `generator`, so a seed gives the same notes.
    """
    if mask is not None:
        bias = mask_bias(mask) if bias is None else bias + mask_bias(mask)
    x = logits.detach().float().numpy().astype(np.float64)  # a copy: the caller's logits stay untouched
    if bias is not None:
        x += bias.numpy()
    if top_k == 1:
        return int(np.argmax(x))
    x /= temperature
    x -= x.max()
    p = np.exp(x)  # unnormalised probabilities: the cumulative sums below are scaled by their total
    order = None
    if 0 < top_k < p.shape[-1]:
        order = np.argsort(-p, kind="stable")[:top_k]  # largest first
    elif top_p < 1.0:
        order = np.argsort(-p, kind="stable")
    if order is not None:
        p = p[order]
    if min_p > 0.0:
        p = np.where(p >= min_p * p.max(), p, 0.0)
    cum = np.cumsum(p)
    n = len(cum)
    if top_p < 1.0:  # keep a value while the mass before it is below top_p (always the best one)
        n = min(1 + int(np.searchsorted(cum, top_p * cum[-1], side="left")), n)
    u = float(torch.rand((), dtype=torch.float64, generator=generator)) * cum[n - 1]
    i = min(int(np.searchsorted(cum[:n], u, side="right")), n - 1)
    return int(order[i]) if order is not None else i
