"""Sampling one field from its logits, in two arithmetic forms that draw the same index from the same uniform.

- `sample_field`, on the host in numpy: a head has a few hundred logits, where a numpy call costs less than a torch
  op; a sort only when top-p/top-k need one, then inverse-CDF sampling on the cumulative probabilities with one
  uniform drawn from the torch generator. The CPU path samples with it.
- `sample_index`, on the device in torch: the same arithmetic with static shapes and no host reads, the uniform
  passed in. The static/CUDA-graph path samples with it, fed the uniforms `sample_field` would have drawn, so a
  seed plays the same notes on both paths (tests/generate/test_graphs.py).

Both keep exactly what top-k, top-p (nucleus) and min-p keep (tests/generate/test_sampling.py holds a readable
reference filter and checks the distribution).
"""

from __future__ import annotations

import numpy as np
import torch

GREEDY, PLAIN, SORTED = "greedy", "plain", "sorted"  # the shape of a head's sampling work


def mask_bias(mask: torch.Tensor) -> torch.Tensor:
    """A bool mask (True = allowed) as an additive float bias: 0 where allowed, -inf elsewhere."""
    if not bool(mask.any()):
        raise ValueError("sampling constraints exclude every value")
    return torch.zeros(mask.shape).masked_fill_(~mask, float("-inf"))


def sampling_mode(top_k: int, top_p: float, vocab: int) -> str:
    """How a head of `vocab` values samples: greedy, plain, or sorted (a sort only when top-k/top-p need one)."""
    if top_k == 1:
        return GREEDY
    if 0 < top_k < vocab or top_p < 1.0:
        return SORTED
    return PLAIN


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
    The one random draw comes from the torch `generator`, so a seed gives the same notes.
    """
    if mask is not None:
        bias = mask_bias(mask) if bias is None else bias + mask_bias(mask)
    x = logits.detach().float().numpy().astype(np.float64)  # a copy: the caller's logits stay untouched
    if bias is not None:
        x += bias.numpy()
    if top_k == 1:
        return int(np.argmax(x))
    u = float(torch.rand((), dtype=torch.float64, generator=generator))
    return sample_row(x, temperature, top_k, top_p, min_p, u)


def sample_row(x: np.ndarray, temperature: float, top_k: int, top_p: float, min_p: float, u: float) -> int:
    """The index `sample_field` draws from float64 logits x [V] (biases added; overwritten) and its uniform u in
    [0, 1): greedy when top_k == 1, else inverse-CDF sampling within top-k, top-p and min-p."""
    if top_k == 1:
        return int(np.argmax(x))
    x /= temperature
    x -= x.max()
    p = np.exp(x, out=x)  # unnormalised probabilities: the cumulative sums below are scaled by their total
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
    i = min(int(np.searchsorted(cum[:n], u * cum[n - 1], side="right")), n - 1)
    return int(order[i]) if order is not None else i


def sample_index(x: torch.Tensor, mode: str, temperature: torch.Tensor, top_k: torch.Tensor, top_p: torch.Tensor,
                 min_p: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """`sample_field` on the device: x [V] float64 logits with the bias added, the controls as 0-d tensors, u the
    uniform in [0, 1) -> the index, a 1-element long tensor. Static shapes, no host reads.

    Where `sample_field` cuts the sorted list to top-k it zeroes the tail instead: the cumulative sums over the
    kept values, and so every comparison and search, are the same.
    """
    if mode == GREEDY:
        return x.argmax().reshape(1)
    x = x / temperature
    p = (x - x.max()).exp()
    V = x.shape[0]
    order = None
    kept = torch.full((1,), V, dtype=torch.long, device=x.device)
    if mode == SORTED:
        p, order = torch.sort(p, descending=True, stable=True)  # ties in index order, as numpy's stable argsort
        kept = torch.where((top_k > 0) & (top_k < V), top_k, kept)
        p = torch.where(torch.arange(V, device=x.device) < kept, p, 0.0)
    p = torch.where(p >= min_p * p.max(), p, 0.0)
    cum = p.cumsum(0)
    last = kept - 1
    if mode == SORTED:  # top-p: keep a value while the mass before it is below top_p (always the best one)
        nucleus = torch.searchsorted(cum, top_p * cum.index_select(0, last), side="left")
        last = torch.where(top_p < 1.0, torch.minimum(nucleus, last), last)
    i = torch.minimum(torch.searchsorted(cum, u * cum.index_select(0, last), side="right"), last)
    return order.index_select(0, i) if order is not None else i


class Draws:
    """A window's uniform numbers from its seeded generator, drawn `block` at a time (one torch call per block, not
    one per note). torch draws float64 uniforms one after another, so the numbers and their order are those of
    drawing them one by one (tests/generate/test_heads.py). Whoever draws from `rng` directly (the device path's
    `ParamLayout.pack`, the mock) never takes from the block, so it draws what it always drew."""

    def __init__(self, rng: torch.Generator, block: int = 64) -> None:
        self.rng, self.block = rng, block
        self._left: list[float] = []

    @classmethod
    def of(cls, rng: torch.Generator | Draws) -> Draws:
        """`rng` as `Draws` (a plain generator: four at a time, a note's worth)."""
        return rng if isinstance(rng, Draws) else cls(rng, block=4)

    @staticmethod
    def generator(rng: torch.Generator | Draws) -> torch.Generator:
        """The torch generator behind `rng`, for whoever draws from it directly."""
        return rng.rng if isinstance(rng, Draws) else rng

    def take(self) -> float:
        if not self._left:
            self._left = torch.rand(self.block, dtype=torch.float64, generator=self.rng).tolist()[::-1]
        return self._left.pop()
