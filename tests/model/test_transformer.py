"""The transformer's cache: incremental = full forward, rollback = fresh, dropping steps re-rotates keys."""

import torch

from tatumflow.model.kvcache import KVCache
from tatumflow.model.transformer import apply_rope

from ..tiny import random_steps, tiny_model


def full_hidden(model, steps, style_vec):
    x = torch.cat([(model.start + style_vec)[:, None], model.embed(steps, style_vec)], dim=1)
    with torch.no_grad():
        return model.trunk(x)


def test_incremental_decode_equals_full_forward(model):
    steps = random_steps(20)
    style = model.style_vector(torch.tensor([[0.0, 1.0, 0.0]]))
    full = full_hidden(model, steps, style)  # [1, 21, D]
    cache = KVCache(model.cfg, 1)
    model.prefill(cache, steps[:, :7], style)  # a prefill, then single steps
    for i in range(7, 20):
        model.prefill(cache, steps[:, i : i + 1], style)
    assert cache.length == 21
    torch.testing.assert_close(cache.hidden[:, :21], full, rtol=1e-4, atol=1e-5)


def test_teacher_forced_logits_match_cache(model):
    steps = random_steps(12, seed=3)
    style_ids = torch.tensor([1])
    logits = model(steps, style_ids)
    cache = KVCache(model.cfg, 1)
    model.prefill(cache, steps[:, :-1], model.style_emb(style_ids))
    delta_logits = model.heads[0](cache.hidden[:, :12])
    torch.testing.assert_close(delta_logits, logits[0].detach(), rtol=1e-4, atol=1e-5)


def test_rollback_and_reprefill_equals_fresh(model):
    a, b = random_steps(30, seed=1), random_steps(10, seed=2)
    style = model.style_vector(torch.tensor([[0.0, 0.5, 0.5]]))
    cache = KVCache(model.cfg, 1)
    model.prefill(cache, a, style)
    cache.truncate(1 + 20)  # roll back to after step 20: no recompute
    model.prefill(cache, b, style)
    fresh = KVCache(model.cfg, 1)
    model.prefill(fresh, torch.cat([a[:, :20], b], dim=1), style)
    assert cache.length == fresh.length == 31
    torch.testing.assert_close(cache.hidden[:, :31], fresh.hidden[:, :31], rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(cache.k[:, :, :, :31], fresh.k[:, :, :, :31], rtol=1e-4, atol=1e-5)


def test_drop_steps_rerotates_keys(model):
    """Layer-0 keys depend only on a step's own input: after dropping, they equal keys made at the new position."""
    steps = random_steps(40, seed=4)
    style = model.style_vector(torch.tensor([[1.0, 0.0, 0.0]]))
    cache = KVCache(model.cfg, 1)
    model.prefill(cache, steps, style)
    model.drop_steps(cache, 1, 15)
    assert cache.length == 26
    kept = torch.cat([steps[:, :0], steps[:, 15:]], dim=1)
    fresh = KVCache(model.cfg, 1)
    model.prefill(fresh, kept, style)
    torch.testing.assert_close(cache.k[0, :, :, :26], fresh.k[0, :, :, :26], rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(cache.v[0, :, :, :26], fresh.v[0, :, :, :26], rtol=1e-4, atol=1e-5)


def test_rope_composes():
    x = torch.randn(1, 1, 3, 8)
    ang = torch.tensor([0.3, 0.1, 0.7, 0.2])
    once = apply_rope(x, (2 * ang).cos().expand(3, -1), (2 * ang).sin().expand(3, -1))
    cos, sin = ang.cos().expand(3, -1), ang.sin().expand(3, -1)
    twice = apply_rope(apply_rope(x, cos, sin), cos, sin)
    torch.testing.assert_close(once, twice)


def test_cache_overflow_is_an_error():
    model = tiny_model(context_steps=16)
    cache = KVCache(model.cfg, 1)
    style = model.style_vector(torch.tensor([[1.0, 0.0, 0.0]]))
    try:
        model.prefill(cache, random_steps(20), style)
    except ValueError as err:
        assert "overflow" in str(err)
    else:
        raise AssertionError("expected a ValueError")
