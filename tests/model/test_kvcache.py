"""The KV cache alone writes its tensors and length: host and device positions write the same, rollback, drop."""

import copy

import pytest
import torch

from tatumflow.model.kvcache import KVCache
from tatumflow.model.transformer import ModelConfig

CFG = ModelConfig(n_styles=2, d_model=16, n_layers=2, n_heads=2, context_steps=12)


def _kv(steps: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    shape = (1, CFG.n_heads, steps, CFG.head_dim)
    return torch.randn(shape, generator=g), torch.randn(shape, generator=g)


def test_update_at_a_host_position_equals_update_at_a_device_position():
    host, device = KVCache(CFG, 1), KVCache(CFG, 1)
    k, v = _kv(5)
    host.update(1, 0, k[:, :, :3], v[:, :, :3])
    k_all, v_all = host.update(1, 3, k[:, :, 3:], v[:, :, 3:])
    assert k_all.shape[2] == 5 and torch.equal(k_all, k) and torch.equal(v_all, v)
    for pos in range(5):
        k_layer, _ = device.update_at(1, torch.tensor([pos]), k[:, :, pos : pos + 1], v[:, :, pos : pos + 1])
        assert k_layer.shape[2] == CFG.context_steps
    assert torch.equal(host.k, device.k) and torch.equal(host.v, device.v)
    h = torch.randn(1, 5, CFG.d_model)
    host.write_hidden(0, h)
    for pos in range(5):
        device.write_hidden_at(torch.tensor([pos]), h[:, pos])
    assert torch.equal(host.hidden, device.hidden)
    assert host.length == device.length == 0  # writes never move the length


def test_length_advances_truncates_and_overflows():
    cache = KVCache(CFG, 2)
    assert (cache.lanes, cache.capacity, cache.length) == (2, CFG.context_steps, 0)
    cache.advance(7)
    cache.truncate(9)  # never grows
    assert cache.length == 7
    cache.truncate(3)
    assert cache.length == 3
    cache.truncate(-1)
    assert cache.length == 0
    with pytest.raises(ValueError, match="cache overflow"):
        cache.advance(CFG.context_steps + 1)


def test_drop_shifts_later_steps_down_and_copies_are_independent():
    cache = KVCache(CFG, 1)
    k, v = _kv(10, seed=1)
    for layer in range(CFG.n_layers):
        cache.update(layer, 0, k, v)
    cache.write_hidden(0, torch.arange(10.0)[None, :, None].expand(1, 10, CFG.d_model))
    cache.advance(10)
    saved = copy.deepcopy(cache)
    cache.drop(1, 4, rerotate=lambda keys: -keys)
    assert cache.length == 6
    assert cache.hidden[0, :6, 0].tolist() == [0.0, 5.0, 6.0, 7.0, 8.0, 9.0]
    assert torch.equal(cache.k[0, :, :, 1:6], -k[:, :, 5:10]) and torch.equal(cache.v[1, :, :, 1:6], v[:, :, 5:10])
    assert saved.length == 10 and torch.equal(saved.k[0, :, :, :10], k)
    cache.drop(1, 40, rerotate=lambda keys: keys)  # more than it holds: nothing
    assert cache.length == 6
    cache.wipe(0)
    assert not cache.k[:, :, :, 0].any() and not cache.hidden[:, 0].any()
