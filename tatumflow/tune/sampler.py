"""Several continuations of one prompt at once: the network's own lanes, batched, for the preference rounds.

One prefill of the prompt into a cache of `lanes` lanes, then every lane samples a note per step through the model's
factorised heads (`transformer.factorised_heads`), each head from its own nucleus (`SampleConfig.top_p`: the
`tatum` preset's 0.98 on timing and pitch, the touch heads whole). Only the network: none of the generator's priors
(harmony, meter, repeat penalty), so that what is sampled is what DPO's log-probabilities score. Two rules of the
generator are kept: a note never re-strikes a pitch already struck at its onset, and an onset holds at most
`MAX_ONSET_NOTES`. A lane stops at the first note past the window (that step is never kept).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import torch

from ..generate.continuation import continuation_start_s
from ..generate.generator import MAX_ONSET_NOTES
from ..model.kvcache import KVCache
from ..model.tokenizer import Tokenizer
from ..model.transformer import NoteTransformer, factorised_heads
from ..notes import MIN_DURATION_S, PIANO_HIGH, PIANO_LOW, Note, cut_overlaps


@dataclass(frozen=True)
class SampleConfig:
    seconds: float = 15.0
    top_p: tuple[float, float, float, float] = (0.98, 0.98, 1.0, 1.0)
    prompt_steps: int = 511  # the prompt's last notes fed (the context holds them and max_notes)
    max_notes: int = 400  # per continuation

    def __post_init__(self) -> None:
        if not 0 < self.seconds <= 120:
            raise ValueError(f"seconds must be in (0, 120], got {self.seconds}")
        if len(self.top_p) != 4 or not all(0 < p <= 1 for p in self.top_p):
            raise ValueError(f"top_p needs 4 values in (0, 1], got {self.top_p}")
        if self.prompt_steps < 1 or self.max_notes < 1:
            raise ValueError("prompt_steps and max_notes must be >= 1")


def sample_config(context_steps: int, seconds: float) -> SampleConfig:
    """The rounds' sampling for a model with this context: up to 511 prompt steps, the rest (<= 400) for notes."""
    prompt_steps = min(511, context_steps // 2 - 1)
    notes = min(400, context_steps - prompt_steps - 2)
    return SampleConfig(seconds=seconds, prompt_steps=prompt_steps, max_notes=notes)


@dataclass
class Continuation:
    notes: list[Note]  # from `continuation_start_s(prompt)`, clipped at the window's end, overlaps cut
    steps: np.ndarray  # [N, 4] the steps sampled (what the log-probabilities score), after the prompt's steps


def prompt_notes(prompt: Sequence[Note], cfg: SampleConfig) -> list[Note]:
    """The prompt's notes the model reads: in piano range, time order, the last `prompt_steps`."""
    kept = sorted((n for n in prompt if PIANO_LOW <= n.pitch <= PIANO_HIGH), key=lambda n: (n.onset_s, n.pitch))
    return kept[-cfg.prompt_steps :]


def nucleus_sample(logits: torch.Tensor, top_p: float, gen: torch.Generator) -> torch.Tensor:
    """One draw per row of `logits` [B, V] from its top-p nucleus (the most likely value always kept)."""
    probs = torch.softmax(logits.float(), dim=-1)
    if top_p < 1:
        sorted_p, order = probs.sort(dim=-1, descending=True)
        outside = sorted_p.cumsum(-1) - sorted_p >= top_p
        sorted_p = sorted_p.masked_fill(outside, 0.0)
        probs = torch.zeros_like(probs).scatter(-1, order, sorted_p)
    return torch.multinomial(probs, 1, generator=gen)[:, 0]


class _Lanes:
    """Per-lane bookkeeping: onset (grid steps), the pitches at it, whether the lane is done."""

    def __init__(self, lanes: int, last_q: int, end_q: int, pitches: set[int]) -> None:
        self.q = np.full(lanes, last_q, dtype=np.int64)
        self.end_q = end_q
        self.at_onset = [set(pitches) for _ in range(lanes)]
        self.done = np.zeros(lanes, dtype=bool)
        self.steps: list[list[tuple[int, int, int, int]]] = [[] for _ in range(lanes)]
        self.first = np.ones(lanes, dtype=bool)

    def min_delta(self) -> torch.Tensor:
        full = np.array([len(s) >= MAX_ONSET_NOTES for s in self.at_onset])
        return torch.as_tensor((self.first | full).astype(np.int64))

    def pitch_mask(self, delta: torch.Tensor, n_pitch: int) -> torch.Tensor:
        mask = torch.zeros(len(self.q), n_pitch, dtype=torch.bool)
        for lane in np.flatnonzero(delta.numpy() == 0):
            mask[lane, list(self.at_onset[lane])] = True
        return mask

    def record(self, step: torch.Tensor) -> None:
        for lane, (d, p, v, u) in enumerate(step.tolist()):
            if self.done[lane]:
                continue
            q = self.q[lane] + d
            if q >= self.end_q:
                self.done[lane] = True
                continue
            if d:
                self.at_onset[lane] = set()
            self.at_onset[lane].add(p)
            self.q[lane], self.first[lane] = q, False
            self.steps[lane].append((d, p, v, u))


@torch.no_grad()
def continue_lanes(model: NoteTransformer, tokenizer: Tokenizer, style: int, prompt: Sequence[Note], lanes: int,
                   cfg: SampleConfig, gen: torch.Generator) -> list[Continuation]:
    """`lanes` independent continuations of `prompt` by the network conditioned on style id `style`."""
    notes = prompt_notes(prompt, cfg)
    if not notes:
        raise ValueError("the prompt has no notes in piano range")
    grid = tokenizer.config.grid_s
    steps = torch.as_tensor(tokenizer.steps_after(None, notes))
    if len(notes) + cfg.max_notes + 2 > model.cfg.context_steps:
        raise ValueError(f"prompt_steps + max_notes must fit the context ({model.cfg.context_steps} steps)")
    model.eval()
    cache = KVCache(model.cfg, lanes)
    style_vec = model.style_emb.weight[style][None].expand(lanes, -1)
    model.prefill(cache, steps[None].expand(lanes, -1, -1), style_vec)
    last_q = round(notes[-1].onset_s / grid)
    start_s = continuation_start_s(notes, grid)
    end_s = start_s + cfg.seconds
    state = _Lanes(lanes, last_q, round(end_s / grid), {n.pitch - PIANO_LOW for n in notes
                                                         if round(n.onset_s / grid) == last_q})
    n_delta, n_pitch = tokenizer.config.n_delta, tokenizer.config.n_pitch

    def choose(k: int, logits: torch.Tensor, chosen: list[torch.Tensor]) -> torch.Tensor:
        if k == 0:
            logits = logits.masked_fill(torch.arange(n_delta)[None] < state.min_delta()[:, None], -torch.inf)
        elif k == 1:
            logits = logits.masked_fill(state.pitch_mask(chosen[0], n_pitch), -torch.inf)
        return nucleus_sample(logits, cfg.top_p[k], gen)

    for _ in range(cfg.max_notes):
        h = cache.hidden[:, cache.length - 1]
        step = torch.stack(factorised_heads(h, model.head_logits, model.cond_embed, choose), dim=-1)
        state.record(step)
        if state.done.all() or cache.length + 1 >= model.cfg.context_steps:
            break
        model.prefill(cache, step[:, None, :], style_vec)
    return [_continuation(tokenizer, np.array(s, dtype=np.int64).reshape(-1, 4), last_q * grid, end_s)
            for s in state.steps]


def _continuation(tokenizer: Tokenizer, steps: np.ndarray, prev_s: float, end_s: float) -> Continuation:
    notes = tokenizer.decode(steps, prev_s) if len(steps) else []
    clipped = [replace(n, duration_s=max(min(n.duration_s, end_s - n.onset_s), MIN_DURATION_S)) for n in notes]
    return Continuation(cut_overlaps(clipped), steps)
