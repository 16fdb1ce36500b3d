"""The critic: a small network that reads a prompt and a continuation and says whether the continuation is Art
Tatum's own (label 0) or generated (label 1).

Input: both parts snapped to one 10 ms grid, the continuation clipped at its window's end and its re-struck notes
cut (`eval.texture.snap_to_grid`, `notes.cut_overlaps`), then through the tokenizer's round trip (one step per note,
`Tokenizer.steps_after`), so that real and generated music reach it in the same form and it cannot win on
quantisation. Its last `prompt_steps` prompt notes and first `continuation_steps` continuation notes are read.

Network (`CriticConfig`): the generator's four field embeddings, copied and frozen (256 wide: what the model itself
knows of a delta, a pitch, a velocity, a duration), summed, projected to `d_model` and layer-normed, plus a learned
position and a segment (prompt / continuation) embedding; `n_layers` pre-norm transformer encoder layers over the
whole sequence (the continuation attends to the prompt, so register, density, key and touch carried over are
visible to it); the prompt's and the continuation's positions mean-pooled apart, concatenated, and a linear layer
gives the logit. Saved as safetensors (16-bit) + JSON; loaded without pickles.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import nn

from ..generate.continuation import Pick
from ..model.tokenizer import Tokenizer, TokenizerConfig
from ..model.transformer import NoteTransformer
from ..notes import PIANO_HIGH, PIANO_LOW, Note, cut_overlaps
from .folder import read_config
from .texture import snap_to_grid

WEIGHTS, CONFIG, FORMAT = "critic.safetensors", "critic.json", "tatumflow-critic-1"


@dataclass(frozen=True)
class CriticConfig:
    vocab_sizes: tuple[int, int, int, int] = TokenizerConfig().vocab_sizes
    embed_dim: int = 256  # the generator's d_model (its field embeddings are copied)
    d_model: int = 64
    n_layers: int = 2
    n_heads: int = 4
    prompt_steps: int = 128
    continuation_steps: int = 256
    dropout: float = 0.1

    def __post_init__(self) -> None:
        if self.d_model % self.n_heads or self.n_layers < 1 or self.d_model < 8:
            raise ValueError(f"critic: d_model {self.d_model} must split into n_heads {self.n_heads}; n_layers >= 1")
        if not (1 <= self.prompt_steps <= 4096 and 1 <= self.continuation_steps <= 4096):
            raise ValueError("critic: prompt_steps and continuation_steps must be in 1..4096")
        if len(self.vocab_sizes) != 4 or not 0 <= self.dropout < 1:
            raise ValueError("critic: 4 vocab sizes and dropout in [0, 1) needed")

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> CriticConfig:
        return cls(**{**d, "vocab_sizes": tuple(d["vocab_sizes"])})


class Critic(nn.Module):
    def __init__(self, cfg: CriticConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.field_emb = nn.ModuleList(nn.Embedding(v, cfg.embed_dim) for v in cfg.vocab_sizes)
        for emb in self.field_emb:
            emb.weight.requires_grad_(False)
        self.proj = nn.Linear(cfg.embed_dim, cfg.d_model)
        self.in_norm = nn.LayerNorm(cfg.d_model)  # the notes at unit scale whatever the copied tables' scale
        self.pos = nn.Embedding(cfg.prompt_steps + cfg.continuation_steps, cfg.d_model)
        self.segment = nn.Embedding(2, cfg.d_model)
        for table in (self.pos, self.segment):  # small beside the notes, so that position does not drown them
            nn.init.normal_(table.weight, std=0.02)
        layer = nn.TransformerEncoderLayer(cfg.d_model, cfg.n_heads, 4 * cfg.d_model, cfg.dropout,
                                           batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, cfg.n_layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(cfg.d_model)
        self.out = nn.Linear(2 * cfg.d_model, 1)

    def copy_embeddings(self, model: NoteTransformer) -> None:
        with torch.no_grad():
            for k in range(4):
                cast(nn.Embedding, self.field_emb[k]).weight.copy_(cast(nn.Embedding, model.field_emb[k]).weight)

    def forward(self, steps: torch.Tensor, segment: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        """steps [B, T, 4], segment [B, T] (0 prompt, 1 continuation), valid [B, T] bool -> logits [B]."""
        x = self.field_emb[0](steps[..., 0])
        for k in range(1, 4):
            x = x + self.field_emb[k](steps[..., k])
        x = self.in_norm(self.proj(x)) + self.pos(torch.arange(steps.shape[1]))[None] + self.segment(segment)
        h = self.norm(self.encoder(x, src_key_padding_mask=~valid))
        pooled = []
        for side in (0, 1):
            w = ((segment == side) & valid).float()[..., None]
            pooled.append((h * w).sum(1) / w.sum(1).clamp(min=1.0))
        logits: torch.Tensor = self.out(torch.cat(pooled, dim=-1))[:, 0]
        return logits


def critic_steps(tokenizer: Tokenizer, cfg: CriticConfig, prompt: Sequence[Note], continuation: Sequence[Note],
                 start_s: float, seconds: float) -> tuple[np.ndarray, int]:
    """(steps [P + C, 4], P): the prompt's last notes and the continuation's first, snapped, clipped and through
    the tokenizer (see the module)."""
    grid = tokenizer.config.grid_s
    end_s = start_s + seconds
    keep = [n for n in prompt if PIANO_LOW <= n.pitch <= PIANO_HIGH]
    head = sorted(snap_to_grid(keep, grid), key=lambda n: (n.onset_s, n.pitch))[-cfg.prompt_steps :]
    body = [n for n in continuation if PIANO_LOW <= n.pitch <= PIANO_HIGH and start_s - 1e-9 <= n.onset_s < end_s]
    tail = sorted(cut_overlaps(snap_to_grid(body, grid, end_s)), key=lambda n: (n.onset_s, n.pitch))
    tail = tail[: cfg.continuation_steps]
    return tokenizer.steps_after(None, head + tail), len(head)


def collate(items: Sequence[tuple[np.ndarray, int]]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Pad a batch of `critic_steps` results: steps [B, T, 4], segment [B, T], valid [B, T]."""
    width = max(1, max(len(s) for s, _ in items))
    steps = torch.zeros(len(items), width, 4, dtype=torch.long)
    segment = torch.zeros(len(items), width, dtype=torch.long)
    valid = torch.zeros(len(items), width, dtype=torch.bool)
    for i, (s, p) in enumerate(items):
        steps[i, : len(s)] = torch.as_tensor(s)
        segment[i, p : len(s)] = 1
        valid[i, : len(s)] = True
    valid[:, 0] = True  # an empty example still attends to something
    return steps, segment, valid


@torch.no_grad()
def critic_scores(critic: Critic, items: Sequence[tuple[np.ndarray, int]], batch: int = 32) -> np.ndarray:
    """Log-odds that each example is generated."""
    critic.eval()
    out = [critic(*collate(items[i : i + batch])).numpy() for i in range(0, len(items), batch)]
    return np.concatenate(out) if out else np.zeros(0)


def save_critic(critic: Critic, path: str | Path, meta: dict[str, Any] | None = None) -> Path:
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().to(torch.float16).contiguous() for k, v in critic.state_dict().items()}
    save_file(state, str(path / (WEIGHTS + ".tmp")), metadata={"format": FORMAT})
    (path / (WEIGHTS + ".tmp")).replace(path / WEIGHTS)
    config = {"format": FORMAT, "critic": asdict(critic.cfg), "meta": meta or {}}
    (path / CONFIG).write_text(json.dumps(config, indent=1), encoding="utf-8")
    return path


def load_critic(path: str | Path) -> tuple[Critic, dict[str, Any]]:
    """(critic, meta) from a folder written by `save_critic`; ValueError when anything does not match."""
    path = Path(path)
    config = read_config(path, "critic", CONFIG, WEIGHTS, FORMAT)
    try:
        critic = Critic(CriticConfig.from_dict(config["critic"]))
        state = load_file(str(path / WEIGHTS))
        critic.load_state_dict({k: v.float() for k, v in state.items()})
    except (KeyError, TypeError, ValueError, RuntimeError, json.JSONDecodeError) as err:
        raise ValueError(f"critic {path}: cannot load ({str(err)[:200]})") from err
    return critic.eval(), dict(config.get("meta", {}))


def critic_pick(critic: Critic, tokenizer: Tokenizer) -> Pick:
    """A `continuation.Pick`: of a window's candidates, the one the critic finds most like Tatum (lowest log-odds
    generated), each read after the context as the critic reads a continuation after its prompt."""

    def pick(context: Sequence[Note], candidates: Sequence[Sequence[Note]], start_s: float, end_s: float) -> int:
        items = [critic_steps(tokenizer, critic.cfg, context, c, start_s, end_s - start_s) for c in candidates]
        return int(np.argmin(critic_scores(critic, items)))

    return pick
