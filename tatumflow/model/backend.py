"""The transformer as a `StepBackend`: KV-cached feed, factorised sampling, guidance lanes."""

from __future__ import annotations

import numpy as np
import torch

from .controls import Controls
from .generator import ChunkedGenerator, StepConstraints
from .sampling import sample_field
from .tokenizer import DELTA, DURATION, PITCH, Tokenizer
from .transformer import KVCache, NoteTransformer


class TransformerBackend:
    """Lane 0 is conditioned on the controls' style mix; lane 1 (when guidance is on) on "none"."""

    def __init__(self, model: NoteTransformer, tokenizer: Tokenizer, styles: list[str], device: str = "cpu"):
        if tuple(model.cfg.vocab_sizes) != tokenizer.config.vocab_sizes:
            raise ValueError(
                f"model vocab sizes {model.cfg.vocab_sizes} do not match the tokenizer's {tokenizer.config.vocab_sizes}"
            )
        if len(styles) != model.cfg.n_styles or styles[0] != "none":
            raise ValueError(f"styles must list {model.cfg.n_styles} names starting with 'none', got {len(styles)}")
        self.model = model.eval().to(device)
        self.tokenizer = tokenizer
        self.styles = list(styles)
        self.device = torch.device(device)
        self.max_steps = model.cfg.max_steps
        self._style_cache: tuple[tuple, torch.Tensor] | None = None

    # -- style ---------------------------------------------------------------------------------------------------
    def style_weights(self, style: dict[str, float]) -> torch.Tensor:
        w = torch.zeros(len(self.styles))
        for name, weight in style.items():
            if name not in self.styles:
                known = ", ".join(self.styles[1:21]) + (" ..." if len(self.styles) > 21 else "")
                raise ValueError(f"unknown style {name!r}; this model knows: {known} (and 'none')")
            w[self.styles.index(name)] += weight
        return w / w.sum()

    @torch.inference_mode()
    def _style_vecs(self, controls: Controls, lanes: int) -> torch.Tensor:
        key = (tuple(sorted(controls.style.items())), lanes)
        if self._style_cache is None or self._style_cache[0] != key:
            w = self.style_weights(controls.style)[None]
            if lanes == 2:
                w = torch.cat([w, torch.nn.functional.one_hot(torch.tensor([0]), len(self.styles)).float()])
            self._style_cache = (key, self.model.style_vector(w.to(self.device)))
        return self._style_cache[1]

    # -- StepBackend ---------------------------------------------------------------------------------------------
    def new_cache(self, lanes: int) -> KVCache:
        return KVCache(self.model.cfg, lanes, self.device)

    def cache_length(self, cache: KVCache) -> int:
        return cache.length

    def truncate(self, cache: KVCache, length: int) -> None:
        cache.length = min(cache.length, max(length, 0))

    def compact(self, cache: KVCache, drop: int) -> None:
        self.model.drop_steps(cache, 1, drop)

    def feed(self, cache: KVCache, steps: np.ndarray, controls: Controls) -> None:
        lanes = cache.k.shape[1]
        x = torch.as_tensor(steps, dtype=torch.long, device=self.device)[None].expand(lanes, -1, -1)
        self.model.prefill(cache, x, self._style_vecs(controls, lanes))

    @torch.inference_mode()
    def sample(self, cache: KVCache, controls: Controls, c: StepConstraints, rng: torch.Generator) -> tuple[int, int, int, int]:
        lanes = cache.k.shape[1]
        if cache.length == 0:
            self.model.prefill(cache, None, self._style_vecs(controls, lanes))
        h = cache.hidden[:, cache.length - 1]  # [lanes, D]
        masks = self._masks(c)
        fields: list[int] = []
        for k in range(4):
            logits = self.model.heads[k](h)
            if lanes == 2:  # classifier-free guidance: uncond + g * (cond - uncond)
                logits = logits[1] + controls.guidance * (logits[0] - logits[1])
            else:
                logits = logits[0]
            mask = masks[k]
            if k == PITCH and fields[DELTA] == 0 and c.pitches_at_last_onset:
                mask = mask.clone()
                mask[list(c.pitches_at_last_onset)] = False
                if not bool(mask.any()):
                    mask = masks[k]
            temp = controls.temperature * controls.head_temperature[k]
            fields.append(sample_field(logits.cpu(), temp, rng, controls.top_k, controls.top_p, controls.min_p, mask))
            if k < 3:
                h = h + self.model.cond_emb[k].weight[fields[-1]]
        return tuple(fields)  # type: ignore[return-value]

    def _masks(self, c: StepConstraints) -> list[torch.Tensor]:
        sizes = self.tokenizer.config.vocab_sizes
        masks = [torch.ones(v, dtype=torch.bool) for v in sizes]
        masks[DELTA][: c.min_delta] = False
        if c.max_delta is not None:
            masks[DELTA][c.max_delta + 1 :] = False
        masks[PITCH][: c.pitch_low] = False
        masks[PITCH][c.pitch_high + 1 :] = False
        if c.max_duration_bin is not None:
            masks[DURATION][c.max_duration_bin + 1 :] = False
        return masks


def transformer_generator(model: NoteTransformer, tokenizer: Tokenizer, styles: list[str], device: str = "cpu") -> ChunkedGenerator:
    return ChunkedGenerator(TransformerBackend(model, tokenizer, styles, device))
