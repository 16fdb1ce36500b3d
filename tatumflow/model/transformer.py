"""Decoder-only transformer over note steps: RoPE, pre-norm, a preallocated KV cache (kvcache.py), factorised heads.

A step's input is the sum of its four field embeddings plus the style vector. Position 0 of every sequence is a
learned start step (it doubles as the attention sink when old steps are dropped). The output is factorised inside
the step: p(delta) p(pitch | delta) p(velocity | delta, pitch) p(duration | delta, pitch, velocity); head k reads
the hidden state plus embeddings of the fields already chosen.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, Protocol, TypeVar, cast

import torch
import torch.nn.functional as F
from torch import nn

from .kvcache import KVCache
from .tokenizer import TokenizerConfig

Field = TypeVar("Field")  # one chosen field: an int on the host, a 1-element tensor on the device, ids in training


# Far beyond any model of this project (v2: d_model 256, 4 layers, a 1,024-step context) and small enough that no
# config from a file can make the constructor allocate more than a few GB before its weights are checked.
MODEL_LIMITS = {"n_styles": (1, 100_000), "d_model": (8, 8192), "n_layers": (1, 256), "n_heads": (1, 256),
                "mlp_ratio": (1, 16), "context_steps": (8, 65_536), "dropout": (0.0, 0.99),
                "rope_base": (2.0, 1e9)}
MAX_VOCAB = 100_000


@dataclass(frozen=True)
class ModelConfig:
    vocab_sizes: tuple[int, int, int, int] = TokenizerConfig().vocab_sizes
    n_styles: int = 2  # index 0 is "none" (unconditional)
    d_model: int = 256
    n_layers: int = 6
    n_heads: int = 4
    mlp_ratio: int = 4
    context_steps: int = 1024  # KV cache / context length, start step included
    dropout: float = 0.0
    rope_base: float = 10000.0

    def __post_init__(self) -> None:
        for name, (low, high) in MODEL_LIMITS.items():
            if not low <= getattr(self, name) <= high:  # also refuses nan
                raise ValueError(f"{name} must be in [{low:g}, {high:g}], got {getattr(self, name)!r}")
        if any(not 2 <= v <= MAX_VOCAB for v in self.vocab_sizes):
            raise ValueError(f"vocab_sizes must be in [2, {MAX_VOCAB}], got {self.vocab_sizes}")
        if self.d_model % self.n_heads or (self.d_model // self.n_heads) % 2:
            raise ValueError(f"d_model {self.d_model} must split into n_heads {self.n_heads} of even size")
        if len(self.vocab_sizes) != 4 or min(self.vocab_sizes) < 2:
            raise ValueError(f"vocab_sizes needs 4 sizes >= 2, got {self.vocab_sizes}")
        if self.n_styles < 1 or self.n_layers < 1 or self.context_steps < 8:
            raise ValueError("need n_styles >= 1, n_layers >= 1, context_steps >= 8")

    @property
    def head_dim(self) -> int:
        return self.d_model // self.n_heads

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ModelConfig:
        d = dict(d)
        d["vocab_sizes"] = tuple(d["vocab_sizes"])
        if "max_steps" in d:  # the name before 2026-12: checkpoints written then still load
            d["context_steps"] = d.pop("max_steps")
        return cls(**d)


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float = 1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.rms_norm(x, (x.shape[-1],), self.weight, self.eps)


def rope_tables(cfg: ModelConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """cos, sin: [context_steps, hd/2]."""
    inv = 1.0 / cfg.rope_base ** (torch.arange(0, cfg.head_dim, 2).float() / cfg.head_dim)
    angles = torch.outer(torch.arange(cfg.context_steps).float(), inv)
    return angles.cos(), angles.sin()


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate pairs (i, i + hd/2) of x [B, H, S, hd] by the angles in cos/sin [S, hd/2]."""
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat((x1 * cos - x2 * sin, x1 * sin + x2 * cos), dim=-1)


class Block(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        self.norm1 = RMSNorm(cfg.d_model)
        self.qkv = nn.Linear(cfg.d_model, 3 * cfg.d_model, bias=False)
        self.proj = nn.Linear(cfg.d_model, cfg.d_model, bias=False)
        self.norm2 = RMSNorm(cfg.d_model)
        self.fc = nn.Linear(cfg.d_model, cfg.mlp_ratio * cfg.d_model, bias=False)
        self.out = nn.Linear(cfg.mlp_ratio * cfg.d_model, cfg.d_model, bias=False)
        self.drop = nn.Dropout(cfg.dropout)

    def attend(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, cache: KVCache | None, layer: int,
               start: int) -> torch.Tensor:
        B, S, D = x.shape
        H, hd = self.cfg.n_heads, self.cfg.head_dim
        q, k, v = self.qkv(x).view(B, S, 3, H, hd).permute(2, 0, 3, 1, 4)  # each [B, H, S, hd]
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        if cache is None:  # training: the whole sequence at once
            # No attention dropout: on the CPU it forces the unfused path (a much slower forward); residual
            # dropout stays.
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        else:
            k_all, v_all = cache.update(layer, start, k, v)  # [B, H, start + S, hd]
            mask = None
            if S > 1:  # new step i sees everything before it: positions <= start + i
                mask = torch.ones(S, start + S, dtype=torch.bool, device=x.device).tril(diagonal=start)
            y = F.scaled_dot_product_attention(q, k_all, v_all, attn_mask=mask)
        out: torch.Tensor = self.proj(y.transpose(1, 2).reshape(B, S, D))  # nn.Module.__call__ is typed Any
        return out

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, cache: KVCache | None = None,
                layer: int = 0, start: int = 0) -> torch.Tensor:
        x = x + self.drop(self.attend(self.norm1(x), cos, sin, cache, layer, start))
        x = x + self.drop(self.out(F.gelu(self.fc(self.norm2(x)))))
        return x


class FieldHead(nn.Module):
    def __init__(self, d: int, vocab: int):
        super().__init__()
        self.norm = RMSNorm(d)
        self.fc = nn.Linear(d, d)
        self.out = nn.Linear(d, vocab)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        logits: torch.Tensor = self.out(F.gelu(self.fc(self.norm(h))))
        return logits


class NoteTransformer(nn.Module):
    rope_cos: torch.Tensor  # buffers (register_buffer): typed here, not Tensor | Module
    rope_sin: torch.Tensor

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        D = cfg.d_model
        self.field_emb = nn.ModuleList(nn.Embedding(v, D) for v in cfg.vocab_sizes)
        self.start = nn.Parameter(torch.zeros(D))
        self.style_emb = nn.Embedding(cfg.n_styles, D)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layers))
        self.norm = RMSNorm(D)
        # cond_emb[k] embeds the field k already sampled, for the heads of the fields after it.
        self.cond_emb = nn.ModuleList(nn.Embedding(v, D) for v in cfg.vocab_sizes[:3])
        self.heads = nn.ModuleList(FieldHead(D, v) for v in cfg.vocab_sizes)
        cos, sin = rope_tables(cfg)
        self.register_buffer("rope_cos", cos, persistent=False)
        self.register_buffer("rope_sin", sin, persistent=False)
        self.apply(self._init)

    @staticmethod
    def _init(m: nn.Module) -> None:
        if isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, std=0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Embedding):
            nn.init.normal_(m.weight, std=0.02)

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    # -- embedding and trunk -------------------------------------------------------------------------------------
    def embed(self, steps: torch.Tensor, style_vec: torch.Tensor) -> torch.Tensor:
        """steps [B, S, 4], style_vec [B, D] -> [B, S, D]."""
        x: torch.Tensor = self.field_emb[0](steps[..., 0])
        for k in range(1, 4):
            x = x + self.field_emb[k](steps[..., k])
        return x + style_vec[:, None, :]

    def style_vector(self, weights: torch.Tensor) -> torch.Tensor:
        """weights [B, n_styles] (rows sum to 1) -> [B, D]."""
        return weights @ self.style_emb.weight

    def trunk(self, x: torch.Tensor, cache: KVCache | None = None, start: int = 0) -> torch.Tensor:
        S = x.shape[1]
        cos, sin = self.rope_cos[start : start + S], self.rope_sin[start : start + S]
        for i, block in enumerate(self.blocks):
            x = block(x, cos, sin, cache, i, start)
        x = self.norm(x)
        return x

    # -- training --------------------------------------------------------------------------------------------------
    def forward(self, steps: torch.Tensor, style: torch.Tensor, inputs: torch.Tensor | None = None
                ) -> list[torch.Tensor]:
        """Teacher-forced logits for every field of every step. steps [B, T, 4], style ids [B].

        Position 0 is the start step; the hidden state at position t predicts step t (fields of step t embedded
        into the later heads from the ground truth). `inputs` [B, T, 4], when given, is the context the trunk
        reads in place of `steps` (the model's own notes mixed in: `train.loop.self_feed`); the targets stay
        `steps`. Returns 4 tensors [B, T, V_k].
        """
        h = self.hidden(steps if inputs is None else inputs, style)
        return self.heads_teacher_forced(h, steps)

    def hidden(self, steps: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        """The trunk's output [B, T, D] over the start step and steps[:, :-1]: position t predicts step t."""
        style_vec = self.style_emb(style)  # [B, D]
        x = torch.cat([(self.start + style_vec)[:, None, :], self.embed(steps[:, :-1], style_vec)], dim=1)
        return self.trunk(x)

    def heads_teacher_forced(self, h: torch.Tensor, steps: torch.Tensor) -> list[torch.Tensor]:
        """The four heads' logits with the ground-truth fields of `steps` [B, T, 4] as the fields chosen."""
        logits: list[torch.Tensor] = []

        def teacher(k: int, head_logits: torch.Tensor, chosen: list[torch.Tensor]) -> torch.Tensor:
            logits.append(head_logits)
            return steps[..., k]

        factorised_heads(h, self.head_logits, self.cond_embed, teacher)
        return logits

    def head_logits(self, k: int, h: torch.Tensor) -> torch.Tensor:
        """Head k on hidden states h [..., D] -> logits [..., V_k]."""
        logits: torch.Tensor = self.heads[k](h)
        return logits

    def cond_table(self, k: int) -> torch.Tensor:
        """The embedding table [V_k, D] of field k, as the heads after it read it."""
        return cast(nn.Embedding, self.cond_emb[k]).weight

    def cond_embed(self, k: int, field: torch.Tensor) -> torch.Tensor:
        """The embeddings [..., D] of field k's values `field` (the ground truth in training)."""
        e: torch.Tensor = self.cond_emb[k](field)
        return e

    # -- inference ---------------------------------------------------------------------------------------------------
    @torch.inference_mode()
    def prefill(self, cache: KVCache, steps: torch.Tensor | None, style_vec: torch.Tensor) -> None:
        """Append steps [B, S, 4] to the cache (None with an empty cache: only the start step)."""
        prefill_cache(self, cache, steps, style_vec)

    @torch.inference_mode()
    def drop_steps(self, cache: KVCache, first: int, count: int) -> None:
        """Remove positions [first, first + count) and shift later ones down, re-rotating their keys."""

        def rerotate(k: torch.Tensor) -> torch.Tensor:  # RoPE composes: a rotation by -count moves p to p - count
            n = k.shape[-2]
            return apply_rope(k, self.rope_cos[count].expand(n, -1), -self.rope_sin[count].expand(n, -1))

        cache.drop(first, count, rerotate)


def factorised_heads(h: torch.Tensor, head: Callable[[int, torch.Tensor], torch.Tensor],
                     embed: Callable[[int, Field], torch.Tensor],
                     choose: Callable[[int, torch.Tensor, list[Field]], Field]) -> list[Field]:
    """The factorised output of a step, p(delta) p(pitch | delta) p(velocity | ..) p(duration | ..): head k reads
    the hidden state h plus `embed` of each field chosen before it; `choose` picks field k from head k's logits
    (a sampler when decoding, the ground truth in training). Returns the four fields chosen."""
    chosen: list[Field] = []
    for k in range(4):
        chosen.append(choose(k, head(k, h), chosen))
        if k < 3:
            h = h + embed(k, chosen[k])  # the field just chosen conditions the next heads
    return chosen


class Trunk(Protocol):
    """What `prefill_cache` needs of a model (the module, or the prepared inference copy)."""

    @property
    def start(self) -> torch.Tensor: ...
    def embed(self, steps: torch.Tensor, style_vec: torch.Tensor) -> torch.Tensor: ...
    def trunk(self, x: torch.Tensor, cache: KVCache, start: int) -> torch.Tensor: ...


def prefill_cache(model: Trunk, cache: KVCache, steps: torch.Tensor | None, style_vec: torch.Tensor) -> None:
    """Append steps [B, S, 4] to the cache through `model`'s start, embed and trunk (the start step first when the
    cache is empty)."""
    parts = []
    if cache.length == 0:
        parts.append((model.start + style_vec)[:, None, :])
    if steps is not None and steps.shape[1]:
        parts.append(model.embed(steps, style_vec))
    if not parts:
        return
    x = torch.cat(parts, dim=1) if len(parts) > 1 else parts[0]
    start = cache.length
    if start + x.shape[1] > cache.capacity:
        raise ValueError(f"cache overflow: {start} + {x.shape[1]} > context_steps {cache.capacity}")
    cache.write_hidden(start, model.trunk(x, cache, start))
    cache.advance(x.shape[1])
