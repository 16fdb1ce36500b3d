"""Sampling one field from logits, with masks for the live constraints."""

from __future__ import annotations

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


def sample_field(
    logits: torch.Tensor,
    temperature: float,
    generator: torch.Generator | None,
    top_k: int = 0,
    top_p: float = 1.0,
    min_p: float = 0.0,
    mask: torch.Tensor | None = None,
) -> int:
    """Sample an index from 1-D logits. `mask` (bool, True = allowed) is applied first; greedy when top_k == 1."""
    logits = logits.float()
    if mask is not None:
        if not bool(mask.any()):
            raise ValueError("sampling constraints exclude every value")
        logits = logits.masked_fill(~mask, float("-inf"))
    if top_k == 1:
        return int(torch.argmax(logits))
    logits = filter_logits(logits / temperature, top_k, top_p, min_p)
    probs = torch.softmax(logits, dim=-1)
    return int(torch.multinomial(probs, 1, generator=generator))
