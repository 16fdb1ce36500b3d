"""The fast sampler keeps what a readable reference filter keeps and samples with its probabilities."""

import numpy as np
import pytest
import torch

from tatumflow.generate.sampling import mask_bias, sample_field


def filter_logits(logits: torch.Tensor, top_k: int = 0, top_p: float = 1.0, min_p: float = 0.0) -> torch.Tensor:
    """The reference: -inf at what top-k, top-p (nucleus) and min-p exclude. logits: [V], temperature applied."""
    if top_k > 0 and top_k < logits.shape[-1]:
        kth = torch.topk(logits, top_k).values[-1]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if min_p > 0.0:
        probs = torch.softmax(logits, dim=-1)
        logits = logits.masked_fill(probs < min_p * probs.max(), float("-inf"))
    if top_p < 1.0:
        sorted_logits, order = torch.sort(logits, descending=True)
        probs = torch.softmax(sorted_logits, dim=-1)
        drop_sorted = (probs.cumsum(-1) - probs) >= top_p  # the mass before it already reaches top_p
        drop = torch.zeros_like(drop_sorted).scatter(0, order, drop_sorted)
        logits = logits.masked_fill(drop, float("-inf"))
    return logits


CASES = [dict(), dict(top_p=0.9), dict(top_k=5), dict(min_p=0.05), dict(top_k=8, top_p=0.7, min_p=0.02)]


@pytest.mark.parametrize("kw", CASES, ids=lambda kw: ",".join(f"{k}={v}" for k, v in kw.items()) or "plain")
def test_samples_follow_the_filtered_distribution(kw):
    logits = torch.randn(12, generator=torch.Generator().manual_seed(1)) * 2
    expected = torch.softmax(filter_logits(logits / 0.8, **kw), -1).numpy()
    rng = torch.Generator().manual_seed(0)
    n = 20000
    counts = np.bincount([sample_field(logits, 0.8, rng, **kw) for _ in range(n)], minlength=12) / n
    assert set(np.flatnonzero(counts)) <= set(np.flatnonzero(expected > 0))
    np.testing.assert_allclose(counts, expected, atol=0.015)


def test_mask_bias_greedy_and_errors():
    logits = torch.tensor([3.0, 1.0, 2.0, 0.0])
    mask = torch.tensor([False, True, True, True])
    assert sample_field(logits, 1.0, None, top_k=1, mask=mask) == 2
    assert sample_field(logits, 1.0, None, top_k=1, bias=mask_bias(mask)) == 2
    rng = torch.Generator().manual_seed(0)
    assert all(sample_field(logits, 1.0, rng, bias=mask_bias(mask)) != 0 for _ in range(200))
    with pytest.raises(ValueError, match="exclude every value"):
        sample_field(logits, 1.0, None, mask=torch.zeros(4, dtype=torch.bool))


def test_same_seed_same_draws():
    logits = torch.randn(400, generator=torch.Generator().manual_seed(2))
    a = [sample_field(logits, 1.0, g, top_p=0.95) for g in [torch.Generator().manual_seed(5)] for _ in range(50)]
    b = [sample_field(logits, 1.0, g, top_p=0.95) for g in [torch.Generator().manual_seed(5)] for _ in range(50)]
    assert a == b
