"""The transformer as a `StepBackend`: KV-cached feed, factorised sampling, guidance lanes.

By default the backend decodes through `InferenceModel` (the module's weights prepared once, at construction; see
inference.py); `fast=False` runs the `nn.Module` path instead (the reference, and the "before" of the benchmark).
`weights="auto"` stores the matrices in fp16 (fbgemm-packed; fp32 activations and sums, logits within ~1e-3 of
fp32) on an x86 CPU for models of `FP16_MIN_PARAMETERS` or more, where halving the bytes pays; below that the packed
kernels' fixed cost loses to fp32 (benchmarks/decode/README.md: 0.87x on an Intel Xeon, even on an AMD EPYC at 2.2 M
parameters; 1.26x and 1.2-1.4x faster at 15 M and 5.4 M). "fp32" keeps the module's numbers up to float rounding.

`step_path` picks how one note is decoded once the cache holds a context: "dynamic" (shapes follow the context;
sampling in numpy on the host: the fastest on a CPU), "static" (graphs.py's fixed-shape functions, sampling on the
device, run eagerly), "graphs" (those captured as CUDA graphs and replayed), "compiled" (those compiled by
`torch.compile`, then captured on CUDA; 20 s of compiling at the first notes of a process on this CPU, GPU time
unmeasured, so not the default), "auto" (graphs on CUDA, else dynamic). Call `refresh()` after changing the module's weights in place.
"""

from __future__ import annotations

import numpy as np
import torch

from .controls import Controls
from .generator import ChunkedGenerator, StepConstraints
from .graphs import StaticSteps
from .inference import InferenceModel, fp16_weights_available
from .sampling import mask_bias, sample_field
from ..model.tokenizer import DELTA, DURATION, PITCH, Tokenizer
from ..model.transformer import KVCache, NoteTransformer


FP16_MIN_PARAMETERS = 4_000_000
STEP_PATHS = ("auto", "dynamic", "static", "graphs", "compiled")


class TransformerBackend:
    """Lane 0 is conditioned on the controls' style mix; lane 1 (when guidance is on) on "none"."""

    def __init__(self, model: NoteTransformer, tokenizer: Tokenizer, styles: list[str], device: str = "cpu",
                 fast: bool = True, weights: str = "auto", step_path: str = "auto"):
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
        self.context_steps = model.cfg.context_steps
        self._style_cache: tuple[tuple, torch.Tensor] | None = None
        self._bias_cache: dict[tuple, list[torch.Tensor]] = {}
        self.fast = fast
        if weights == "auto":
            big = model.num_parameters() >= FP16_MIN_PARAMETERS
            weights = "fp16" if self.device.type == "cpu" and big and fp16_weights_available() else "fp32"
        self.weights = weights
        if step_path not in STEP_PATHS:
            raise ValueError(f"step_path must be one of {STEP_PATHS}, got {step_path!r}")
        if step_path == "auto":
            step_path = "graphs" if self.device.type == "cuda" and fast else "dynamic"
        if step_path != "dynamic" and not fast:
            raise ValueError(f"step_path {step_path!r} runs on the prepared weights: it needs fast=True")
        if step_path == "graphs" and self.device.type != "cuda":
            raise ValueError("step_path 'graphs' needs a CUDA device")
        self.step_path = step_path
        self.refresh()

    def refresh(self) -> None:
        """Rebuild the prepared inference weights from the module (after its weights changed)."""
        self.infer = InferenceModel(self.model, self.weights) if self.fast else None
        self.static = None
        if self.infer is not None and self.step_path != "dynamic":
            graphed = self.step_path == "graphs" or (self.device.type == "cuda" and self.step_path == "compiled")
            self.static = StaticSteps(self.infer, graphs=graphed, compile=self.step_path == "compiled")
        self._style_cache = None

    def _prefill(self, cache: KVCache, steps: torch.Tensor | None, style_vec: torch.Tensor) -> None:
        (self.infer if self.infer is not None else self.model).prefill(cache, steps, style_vec)

    def _head(self, k: int, h: torch.Tensor) -> torch.Tensor:
        return self.infer.head_logits(k, h) if self.infer is not None else self.model.heads[k](h)

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
            weights = w.to(self.device)
            vec = self.infer.style_vector(weights) if self.infer is not None else self.model.style_vector(weights)
            self._style_cache = (key, vec)
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
        if self.static is not None and len(steps) == 1 and 0 < cache.length < self.context_steps:
            self.static.feed(cache, steps[0], self._style_vecs(controls, lanes))
            return
        x = torch.as_tensor(steps, dtype=torch.long, device=self.device)[None].expand(lanes, -1, -1)
        self._prefill(cache, x, self._style_vecs(controls, lanes))

    @torch.inference_mode()
    def sample(self, cache: KVCache, controls: Controls, c: StepConstraints, rng: torch.Generator) -> tuple[int, int, int, int]:
        lanes = cache.k.shape[1]
        if cache.length == 0:
            self._prefill(cache, None, self._style_vecs(controls, lanes))
        if self.static is not None:
            return self.static.sample(cache, controls, self._biases(c), c, rng)
        h = cache.hidden[:, cache.length - 1]  # [lanes, D]
        biases = self._biases(c)
        cond = self.infer.cond_emb if self.infer is not None else [e.weight for e in self.model.cond_emb]
        fields: list[int] = []
        for k in range(4):
            logits = self._head(k, h)  # [lanes, V]
            if lanes == 2:  # classifier-free guidance: uncond + g * (cond - uncond)
                logits = torch.lerp(logits[1], logits[0], controls.guidance)
            else:
                logits = logits[0]
            bias = biases[k]
            if k == PITCH and fields[DELTA] == 0 and c.pitches_at_last_onset:
                bias = self._without(bias, c.pitches_at_last_onset)
            if k == PITCH and c.pitch_bias is not None:
                bias = bias + torch.from_numpy(c.pitch_bias)
            temp = controls.temperature * controls.head_temperature[k]
            fields.append(sample_field(logits.cpu(), temp, rng, controls.top_k, controls.top_p, controls.min_p, bias=bias))
            if k < 3:
                h = h + cond[k][fields[-1]]  # the field just chosen conditions the next heads
        return tuple(fields)  # type: ignore[return-value]

    @staticmethod
    def _without(bias: torch.Tensor, pitches: frozenset[int]) -> torch.Tensor:
        """The pitch bias with `pitches` excluded too (unless that would exclude everything)."""
        out = bias.clone()
        out[list(pitches)] = float("-inf")
        return out if bool(torch.isfinite(out).any()) else bias

    def _biases(self, c: StepConstraints) -> list[torch.Tensor]:
        """Additive 0/-inf masks per head for these constraints (cached: they rarely change within a session)."""
        key = (c.min_delta, c.max_delta, c.pitch_low, c.pitch_high, c.max_duration_bin)
        biases = self._bias_cache.get(key)
        if biases is None:
            if len(self._bias_cache) > 256:
                self._bias_cache.clear()
            biases = self._bias_cache[key] = [mask_bias(m) for m in self._masks(c)]
        return biases

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
