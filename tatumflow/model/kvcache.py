"""The KV cache: keys, values and final hidden states of every step, preallocated to the context length.

As in gpt-fast, the cache alone writes its tensors and its length; the trunk passes positions explicitly. Two forms
of write: at a host position (`update`, `write_hidden`: shapes follow the position, the CPU fast path) and at a
device position (`update_at`, `write_hidden_at`: a 1-element long tensor, static shapes, so that a CUDA graph can
capture the step once). Writes never move the length; `advance` does, once the step is complete.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import torch


class CacheShape(Protocol):
    """The sizes a cache needs (`ModelConfig` has them)."""

    @property
    def n_layers(self) -> int: ...
    @property
    def n_heads(self) -> int: ...
    @property
    def head_dim(self) -> int: ...
    @property
    def d_model(self) -> int: ...
    @property
    def context_steps(self) -> int: ...


class KVCache:
    """k, v [L, B, H, T, hd] per layer and lane; hidden [B, T, D] is the final hidden state at each position (what
    the heads read), kept so that a rollback can resume without recompute. Positions >= `length` are stale."""

    def __init__(self, cfg: CacheShape, lanes: int, device: torch.device | str = "cpu",
                 dtype: torch.dtype = torch.float32) -> None:
        shape = (cfg.n_layers, lanes, cfg.n_heads, cfg.context_steps, cfg.head_dim)
        self.k = torch.zeros(shape, device=device, dtype=dtype)
        self.v = torch.zeros(shape, device=device, dtype=dtype)
        self.hidden = torch.zeros((lanes, cfg.context_steps, cfg.d_model), device=device, dtype=dtype)
        self._length = 0
        self._lanes, self._capacity = lanes, cfg.context_steps  # the shapes, as ints: read every step

    def __deepcopy__(self, memo: dict[int, object]) -> KVCache:
        new = object.__new__(KVCache)
        new.k, new.v, new.hidden = self.k.clone(), self.v.clone(), self.hidden.clone()
        new._length, new._lanes, new._capacity = self._length, self._lanes, self._capacity
        return new

    # -- sizes -------------------------------------------------------------------------------------------------
    @property
    def length(self) -> int:
        """Steps held (the start step included)."""
        return self._length

    @property
    def lanes(self) -> int:
        return self._lanes

    @property
    def capacity(self) -> int:
        return self._capacity

    def storage_key(self) -> tuple[int, int, int, int]:
        """Where the tensors live, and the lanes: a captured graph serves every cache with this key."""
        return (self.k.data_ptr(), self.v.data_ptr(), self.hidden.data_ptr(), self.lanes)

    # -- writes at host positions ----------------------------------------------------------------------------
    def update(self, layer: int, start: int, k: torch.Tensor,
               v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Write k, v [B, H, S, hd] of `layer` at positions start..start+S-1; return the layer's keys and values
        up to there, [B, H, start+S, hd] (views: what attention reads)."""
        end = start + k.shape[2]
        k_all, v_all = self.k[layer].narrow(2, 0, end), self.v[layer].narrow(2, 0, end)
        k_all.narrow(2, start, k.shape[2]).copy_(k)
        v_all.narrow(2, start, v.shape[2]).copy_(v)
        return k_all, v_all

    def write_hidden(self, start: int, hidden: torch.Tensor) -> None:
        """The final hidden states [B, S, D] of positions start..start+S-1."""
        self.hidden[:, start : start + hidden.shape[1]] = hidden

    # -- writes at a device position (static shapes, no host reads) ------------------------------------------
    def update_at(self, layer: int, pos: torch.Tensor, k: torch.Tensor,
                  v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Write one step's k, v [B, H, 1, hd] at `pos` (a 1-element long tensor on the device); return the whole
        layer [B, H, T, hd] (stale positions included: attention masks them)."""
        self.k[layer].index_copy_(2, pos, k)
        self.v[layer].index_copy_(2, pos, v)
        return self.k[layer], self.v[layer]

    def write_hidden_at(self, pos: torch.Tensor, hidden: torch.Tensor) -> None:
        """One step's final hidden state [B, D] at `pos`."""
        self.hidden.index_copy_(1, pos, hidden[:, None])

    def wipe(self, pos: int) -> None:
        """Zero position `pos` everywhere (to check that a captured step rewrites it)."""
        self.k[:, :, :, pos] = 0.0
        self.v[:, :, :, pos] = 0.0
        self.hidden[:, pos] = 0.0

    # -- the length ----------------------------------------------------------------------------------------------
    def advance(self, steps: int) -> None:
        """Count `steps` more positions as held (after their keys, values and hidden states were written)."""
        if self._length + steps > self.capacity:
            raise ValueError(f"cache overflow: {self._length} + {steps} > context_steps {self.capacity}")
        self._length += steps

    def truncate(self, length: int) -> None:
        """Roll back to `length` steps (no recompute: later positions just become stale)."""
        self._length = min(self._length, max(length, 0))

    def drop(self, first: int, count: int, rerotate: Callable[[torch.Tensor], torch.Tensor]) -> None:
        """Remove positions [first, first + count) and shift the later ones down by `count`; `rerotate` turns keys
        made `count` positions later into keys at their new positions (RoPE composes: a rotation by -count)."""
        end = self._length
        if count <= 0 or first + count > end:
            return
        n = end - first - count
        src, dst = slice(first + count, end), slice(first, first + n)
        self.k[:, :, :, dst] = rerotate(self.k[:, :, :, src].clone())
        self.v[:, :, :, dst] = self.v[:, :, :, src].clone()
        self.hidden[:, dst] = self.hidden[:, src].clone()
        self._length = first + n
