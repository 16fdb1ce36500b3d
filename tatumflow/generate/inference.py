"""A decode path over prepared tensors: the `NoteTransformer`'s weights, rearranged once at load time.

Batch-1 decode on a CPU is overhead-bound (one step's arithmetic is a few million multiply-adds), so this path cuts
the per-op cost, not the arithmetic (measurements: benchmarks/decode/README.md):

- plain functions over plain tensors: no `nn.Module.__call__`, no `ModuleList` indexing;
- each RMSNorm weight folded into the matrix that reads the norm's output (`W @ (g * n) == (W * g) @ n`), and
  the norm itself computed from one `vector_norm` (a fused kernel) instead of pow/mean/add/rsqrt;
- weights stored transposed and contiguous for `mm`/`addmm`, with the residual add fused into `addmm`;
- RoPE for queries and keys in one rotation (a flip and one `addcmul`), tables pre-shaped for broadcasting.

One stack of blocks serves two forms of a step: `trunk` (positions on the host, shapes follow the context: the CPU
fast path, and every prefill) and `trunk_at` (the position a device tensor, static shapes: what graphs.py captures).
It computes the same numbers as `NoteTransformer.prefill` up to float rounding (tests/generate/test_inference.py)
and writes the same `KVCache` (keys, values, final hidden states), so the paths can be mixed freely. Parameter
names and shapes of the module are untouched; a checkpoint loads into the module and this copy is built from it.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..model.kvcache import KVCache
from ..model.transformer import ModelConfig, NoteTransformer, prefill_cache

KVWrite = Callable[[int, torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]  # layer, k, v -> all k, v


@functools.lru_cache(maxsize=1)
def fp16_weights_available() -> bool:
    """Whether this torch build can run fp32 activations against packed fp16 weights (fbgemm, x86 CPUs)."""
    try:
        packed = torch.ops.quantized.linear_prepack_fp16(torch.zeros(2, 2), None)
        torch.ops.quantized.linear_dynamic_fp16(torch.zeros(1, 2), packed)
    except (RuntimeError, AttributeError, NotImplementedError):
        return False
    return True


class _Dense:
    """y = x @ W^T + b (+ residual), fp32, the weight stored transposed for `mm`/`addmm`."""

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor | None) -> None:
        self.w_t = weight.t().contiguous()  # [in, out]
        self.b = None if bias is None else bias.clone()

    def __call__(self, x: torch.Tensor, residual: torch.Tensor | None = None) -> torch.Tensor:
        if residual is not None:  # the residual add fused into the matmul
            return torch.addmm(residual, x, self.w_t)
        return torch.mm(x, self.w_t) if self.b is None else torch.addmm(self.b, x, self.w_t)


class _Fp16Dense:
    """y = x @ W^T + b (+ residual) with W stored in fp16 (fbgemm-packed); activations and sums stay fp32.

    Batch-1 decode reads every weight once per step, so on a CPU its time is memory traffic: half the bytes, less
    matmul time. The only change to the numbers is W rounded to fp16 (relative error <= 2^-11).
    """

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor | None) -> None:
        self.packed = torch.ops.quantized.linear_prepack_fp16(weight.contiguous(), bias)
        op = torch.ops.quantized.linear_dynamic_fp16.default
        self._op = getattr(op, "_op", op)  # the C++ entry point: skips Python dispatch checks

    def __call__(self, x: torch.Tensor, residual: torch.Tensor | None = None) -> torch.Tensor:
        y: torch.Tensor = self._op(x, self.packed)
        return y if residual is None else y.add_(residual)


@dataclass
class _Layer:
    qkv: _Dense | _Fp16Dense  # norm1 gain and sqrt(D) folded in
    proj: _Dense | _Fp16Dense
    fc: _Dense | _Fp16Dense  # norm2 gain and sqrt(D) folded in
    out: _Dense | _Fp16Dense


@dataclass
class _Head:
    fc: _Dense | _Fp16Dense  # the head's norm gain and sqrt(D) folded in
    out: _Dense | _Fp16Dense


WEIGHTS = ("fp32", "fp16")
_SQRT_HALF = math.sqrt(0.5)


class InferenceModel:
    """Prepared tensors of a `NoteTransformer` for `prefill` and the factorised heads (no autograd, no modules).

    `weights` "fp32" keeps the numbers of the module up to float rounding; "fp16" stores the matrices in half
    precision (CPU with fbgemm only; see `_Fp16Dense`). Build it after moving the model to its device.
    """

    def __init__(self, model: NoteTransformer, weights: str = "fp32") -> None:
        if weights not in WEIGHTS:
            raise ValueError(f"weights must be one of {WEIGHTS}, got {weights!r}")
        self.cfg: ModelConfig = model.cfg
        self.weights = weights
        self.device = model.start.device
        if weights == "fp16" and (self.device.type != "cpu" or not fp16_weights_available()):
            raise ValueError("fp16 weights need a CPU torch build with fbgemm (x86); use weights='fp32'")
        D = self.cfg.d_model
        self._gelu = self._gelu_erf if self.device.type == "cpu" else F.gelu  # one fused kernel on a GPU
        self._eps_sum = D * model.norm.eps  # rsqrt(sum(x^2) + D*eps) * sqrt(D) == rsqrt(mean(x^2) + eps)
        # F.rms_norm is one kernel on a GPU; on a CPU, at this size, the vector_norm form costs less a call.
        self._fused_norm = self.device.type != "cpu"
        self._norm_shape, self._eps = (D,), model.norm.eps
        self._inv_root = torch.full((D,), 1.0 / math.sqrt(D), device=self.device)
        with torch.no_grad():
            self._prepare(model, _Fp16Dense if weights == "fp16" else _Dense)

    def _prepare(self, model: NoteTransformer, dense: type[_Dense] | type[_Fp16Dense]) -> None:
        """The module's parameters rearranged: norm gains folded into matrices, one field table, RoPE tables."""
        cfg, root = self.cfg, math.sqrt(self.cfg.d_model)
        p = {k: v.detach() for k, v in model.named_parameters()}

        def folded(name: str, norm: str) -> torch.Tensor:
            """The [out, in] weight `name` reading norm `norm`'s output, with the norm's gain folded in."""
            return p[name] * (p[norm + ".weight"] * root)[None, :]

        self.layers = [
            _Layer(
                qkv=dense(folded(f"blocks.{i}.qkv.weight", f"blocks.{i}.norm1"), None),
                proj=dense(p[f"blocks.{i}.proj.weight"], None),
                fc=dense(folded(f"blocks.{i}.fc.weight", f"blocks.{i}.norm2"), None),
                out=dense(p[f"blocks.{i}.out.weight"], None),
            )
            for i in range(cfg.n_layers)
        ]
        self.heads = [
            _Head(
                fc=dense(folded(f"heads.{k}.fc.weight", f"heads.{k}.norm"), p[f"heads.{k}.fc.bias"]),
                out=dense(p[f"heads.{k}.out.weight"], p[f"heads.{k}.out.bias"]),
            )
            for k in range(4)
        ]
        self.final_gain = p["norm.weight"] * root  # the final norm's output is what the cache keeps
        # One table for the four field embeddings: a step's input is table[fields + offsets].sum(-2).
        self.field_table = torch.cat([p[f"field_emb.{k}.weight"] for k in range(4)])
        self.field_offsets = torch.tensor([0, *itertools.accumulate(cfg.vocab_sizes[:3])], device=self.device)
        self.cond_emb = [p[f"cond_emb.{k}.weight"].clone() for k in range(3)]
        self.start = p["start"].clone()
        self.style_emb = p["style_emb.weight"].clone()
        cos, sin = model.rope_cos.detach(), model.rope_sin.detach()  # [T, hd/2]
        # Full-width tables [T, 1, 1, hd]: rot(x) = x * [cos, cos] + flip_halves(x) * [-sin, sin].
        self.rope_c = torch.cat([cos, cos], -1)[:, None, None, :].contiguous()
        self.rope_s = torch.cat([-sin, sin], -1)[:, None, None, :].contiguous()
        self.positions = torch.arange(cfg.context_steps, device=self.device)

    # -- pieces ------------------------------------------------------------------------------------------------
    def _unit_rms(self, x: torch.Tensor) -> torch.Tensor:
        """x / rms(x) / sqrt(D) for x [N, D] (the sqrt(D) is folded into the next matrix)."""
        if self._fused_norm:  # one kernel on a GPU: F.rms_norm with a constant gain of 1/sqrt(D)
            y: torch.Tensor = F.rms_norm(x, self._norm_shape, self._inv_root, self._eps)
            return y
        r: torch.Tensor = torch.linalg.vector_norm(x, dim=-1, keepdim=True)  # [N, 1]
        return x * r.square_().add_(self._eps_sum).rsqrt_()

    def _gelu_erf(self, x: torch.Tensor) -> torch.Tensor:
        """Exact (erf) GELU, mostly in place: in the CPU decode loop it costs less than `F.gelu` (the same function;
        benchmarks/decode/README.md has the profile)."""
        t = torch.mul(x, _SQRT_HALF).erf_().add_(1.0)
        return t.mul_(x).mul_(0.5)

    def embed(self, steps: torch.Tensor, style_vec: torch.Tensor) -> torch.Tensor:
        """steps [B, S, 4], style_vec [B, D] -> [B, S, D] (the same sum as `NoteTransformer.embed`)."""
        return F.embedding(steps + self.field_offsets, self.field_table).sum(-2) + style_vec[:, None, :]

    def _attention_inputs(self, w: _Layer, x: torch.Tensor, B: int, S: int, cos: torch.Tensor,
                          sin: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Queries, keys (RoPE applied, in one rotation) and values [B, S, H, hd] of layer `w` for x [B*S, D]."""
        H, hd = self.cfg.n_heads, self.cfg.head_dim
        qkv = w.qkv(self._unit_rms(x)).view(B, S, 3, H, hd)
        qk = qkv[:, :, :2]  # queries and keys, rotated together: [B, S, 2, H, hd]
        flipped = qk.reshape(B, S, 2, H, 2, hd // 2).flip(-2).reshape(B, S, 2, H, hd)
        qk = torch.addcmul(qk * cos, flipped, sin)
        return qk[:, :, 0], qk[:, :, 1], qkv[:, :, 2]

    def _after_attention(self, w: _Layer, y: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """The rest of a block: y [B, H, S, hd] from attention, x [B*S, D] the residual stream -> new x."""
        x = w.proj(y.transpose(1, 2).reshape(x.shape), residual=x)  # [B, H, S, hd] -> [B*S, D], + x
        return w.out(self._gelu(w.fc(self._unit_rms(x))), residual=x)

    def _blocks(self, x: torch.Tensor, B: int, S: int, cos: torch.Tensor, sin: torch.Tensor, write: KVWrite,
                mask: torch.Tensor | None, causal: bool) -> torch.Tensor:
        """x [B*S, D] through every block -> final hidden [B*S, D]. `write(layer, k, v)` stores the new keys and
        values [B, H, S, hd] in the cache and returns those that attention reads (under `mask` or `causal`)."""
        for i, w in enumerate(self.layers):
            q, k, v = self._attention_inputs(w, x, B, S, cos, sin)
            k_all, v_all = write(i, k.transpose(1, 2), v.transpose(1, 2))
            y = F.scaled_dot_product_attention(q.transpose(1, 2), k_all, v_all, attn_mask=mask, is_causal=causal)
            x = self._after_attention(w, y, x)
        return self._unit_rms(x) * self.final_gain

    # -- the two forms of a trunk step ---------------------------------------------------------------------------
    def trunk(self, x: torch.Tensor, cache: KVCache, start: int) -> torch.Tensor:
        """x [B, S, D] at positions start.. -> final hidden [B, S, D]; keys and values written to the cache."""
        B, S, D = x.shape
        end = start + S
        mask, causal = None, S > 1 and start == 0  # a prefill from empty: plain causal attention (the fast kernel)
        if S > 1 and start > 0:  # new step i sees everything before it: positions <= start + i
            mask = torch.ones(S, end, dtype=torch.bool, device=x.device).tril(diagonal=start)
        cos, sin = self.rope_c[start:end], self.rope_s[start:end]  # [S, 1, 1, hd]

        def write(layer: int, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            return cache.update(layer, start, k, v)

        return self._blocks(x.reshape(B * S, D), B, S, cos, sin, write, mask, causal).view(B, S, D)

    def trunk_at(self, x: torch.Tensor, cache: KVCache, pos: torch.Tensor) -> torch.Tensor:
        """One step x [B, D] at position `pos` (a 1-element long tensor on the device) -> final hidden [B, D].

        The same numbers as `trunk` for S = 1, with shapes that do not depend on the position: attention reads the
        whole cache under a mask, the cache is written with `index_copy_`, nothing reads a value back to the host.
        So a CUDA graph can capture it once and replay it at every position (graphs.py).
        """
        cos, sin = self.rope_c.index_select(0, pos), self.rope_s.index_select(0, pos)  # [1, 1, 1, hd]
        visible = (self.positions <= pos)[None]  # [1, T]: the steps up to this one

        def write(layer: int, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            return cache.update_at(layer, pos, k, v)

        return self._blocks(x, x.shape[0], 1, cos, sin, write, visible, False)

    # -- the `NoteTransformer` inference API ------------------------------------------------------------------------
    @torch.inference_mode()
    def prefill(self, cache: KVCache, steps: torch.Tensor | None, style_vec: torch.Tensor) -> None:
        """Append steps [B, S, 4] to the cache (None with an empty cache: only the start step)."""
        prefill_cache(self, cache, steps, style_vec)

    def step_at(self, cache: KVCache, fields: torch.Tensor, pos: torch.Tensor, style_vec: torch.Tensor) -> None:
        """One step, fields [4] (long, on the device), into the cache at `pos` (as `trunk_at`); the length is the
        caller's to advance, on the host."""
        x = self.embed(fields.view(1, 1, 4).expand(cache.lanes, 1, 4), style_vec)[:, 0]  # [lanes, D]
        cache.write_hidden_at(pos, self.trunk_at(x, cache, pos))

    def head_logits(self, k: int, h: torch.Tensor) -> torch.Tensor:
        """Head k on hidden states h [B, D] -> logits [B, V_k] (as `NoteTransformer.heads[k](h)`)."""
        w = self.heads[k]
        return w.out(self._gelu(w.fc(self._unit_rms(h))))

    def cond_table(self, k: int) -> torch.Tensor:
        """The embedding table [V_k, D] of field k, as the heads after it read it."""
        return self.cond_emb[k]

    def style_vector(self, weights: torch.Tensor) -> torch.Tensor:
        """weights [B, n_styles] -> [B, D]."""
        return weights @ self.style_emb
