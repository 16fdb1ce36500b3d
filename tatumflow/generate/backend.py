"""The transformer as a `StepBackend`: KV-cached feed, factorised sampling (heads.py), guidance lanes.

By default the backend decodes through `InferenceModel` (the module's weights prepared once, at construction; see
inference.py); `fast=False` runs the `nn.Module` path instead (the reference, and the "before" of the benchmark).
`weights="auto"` stores the matrices in fp16 (fbgemm-packed; fp32 activations and sums, logits within ~1e-3 of
fp32) on an x86 CPU for models of `FP16_MIN_PARAMETERS` or more, where halving the bytes pays; below that the packed
kernels' fixed cost loses to fp32 (the measurements behind the threshold: benchmarks/decode/README.md). "fp32"
keeps the module's numbers up to float rounding. A choice by size, not by a timing at load, keeps a seed's notes
the same from run to run on one machine.

`step_path` picks how one note is decoded once the cache holds a context: "native" (the step and the heads in C,
native/decode_step.c, built once per machine; sampling in numpy on the host: the fastest on a CPU), "dynamic" (the
same in torch, shapes following the context: the CPU path where no C compiler is found), "static" (graphs.py's
fixed-shape functions, sampling on the device, run eagerly), "graphs" (those captured as CUDA graphs and replayed),
"compiled" (those compiled by `torch.compile`, then captured on CUDA; compiling takes a while at the first notes of
a process, so not the default), "auto" (graphs on CUDA, native on a CPU where it builds, else dynamic). With the
native step, "auto" weights are fp16 for models of `NATIVE_FP16_MIN_PARAMETERS` or more where the CPU converts fp16
in hardware (the default model: fp16 on x86 with F16C and on arm64), else fp32. Every path samples the same way:
`heads.HostSampler` on the host (native, dynamic), `heads.DeviceSampler` on the device (the same arithmetic); the
biases come from the constraints' frozen `MaskSpec`, built once per spec. Call `refresh()` after changing the
module's weights in place.
"""

from __future__ import annotations

import numpy as np
import torch

from ..model.kvcache import KVCache
from ..model.tokenizer import Tokenizer
from ..model.transformer import NoteTransformer
from . import native
from .constraints import MaskSpec, StepConstraints
from .controls import Controls
from .graphs import StaticSteps
from .heads import HostSampler, constraint_biases, sample_note
from .inference import InferenceModel, fp16_weights_available
from .native.step import NativeStep
from .sampling import Draws

FP16_MIN_PARAMETERS = 4_000_000
# The native step streams fp16 weights by default for models this big, on CPUs that convert fp16 in hardware: half the
# bytes of a memory-bound step, ~2x the notes/s; the heads' distributions move by < 1e-6 nats and the eval's measures
# stay within seed noise (benchmarks/decode/fp16_eval.md). Below it the fp32 matrices sit in L2/L3 and fp16 gains
# little. weights="fp32" keeps the notes of the step it replaced (tests/generate/test_native.py).
NATIVE_FP16_MIN_PARAMETERS = 1_000_000
STEP_PATHS = ("auto", "native", "dynamic", "static", "graphs", "compiled")
BIAS_CACHE_SIZE = 256  # constraint sets whose masks are kept (they rarely change within a session)


class TransformerBackend:
    """Lane 0 is conditioned on the controls' style mix; lane 1 (when guidance is on) on "none"."""

    def __init__(self, model: NoteTransformer, tokenizer: Tokenizer, styles: list[str], device: str = "cpu",
                 fast: bool = True, weights: str = "auto", step_path: str = "auto") -> None:
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
        self._style_cache: tuple[tuple[object, ...], torch.Tensor] | None = None
        self._bias_cache: dict[MaskSpec, list[np.ndarray]] = {}
        self._bias_last: tuple[MaskSpec, list[np.ndarray]] | None = None
        self.fast = fast
        self.step_path = self._pick_step_path(step_path, weights)
        self.weights = self._pick_weights(weights)
        self.refresh()

    def _pick_step_path(self, step_path: str, weights: str) -> str:
        if step_path not in STEP_PATHS:
            raise ValueError(f"step_path must be one of {STEP_PATHS}, got {step_path!r}")
        if step_path == "auto":
            if self.device.type == "cuda" and self.fast:
                step_path = "graphs"
            elif self.device.type == "cpu" and self.fast and native.library():
                step_path = "native"
            else:
                step_path = "dynamic"
        if step_path != "dynamic" and not self.fast:
            raise ValueError(f"step_path {step_path!r} runs on the prepared weights: it needs fast=True")
        if step_path == "graphs" and self.device.type != "cuda":
            raise ValueError("step_path 'graphs' needs a CUDA device")
        if step_path == "native":
            if self.device.type != "cpu":
                raise ValueError("step_path 'native' runs on the CPU")
            if native.library() is None:
                raise ValueError(f"the native decode step is unavailable: {native.unavailable_reason()}")
        return step_path

    def _pick_weights(self, weights: str) -> str:
        if weights != "auto":
            return weights
        if self.step_path == "native":
            big = self.model.num_parameters() >= NATIVE_FP16_MIN_PARAMETERS
            return "fp16" if big and native.converts_half() else "fp32"
        big = self.model.num_parameters() >= FP16_MIN_PARAMETERS
        return "fp16" if self.device.type == "cpu" and big and fp16_weights_available() else "fp32"

    def refresh(self) -> None:
        """Rebuild the prepared inference weights from the module (after its weights changed)."""
        prepared = "fp32" if self.step_path == "native" else self.weights  # the native step makes its own fp16 copy
        self.infer: InferenceModel | None = InferenceModel(self.model, prepared) if self.fast else None
        self.net: InferenceModel | NoteTransformer = self.infer if self.infer is not None else self.model
        self.static: StaticSteps | None = None
        self.native: NativeStep | None = None
        if self.infer is not None and self.step_path == "native":
            lib = native.library()
            assert lib is not None
            self.native = NativeStep(self.infer, lib, half=self.weights == "fp16")
        elif self.infer is not None and self.step_path != "dynamic":
            graphed = self.step_path == "graphs" or (self.device.type == "cuda" and self.step_path == "compiled")
            self.static = StaticSteps(self.infer, graphs=graphed, compile=self.step_path == "compiled")
        self._style_cache = None

    # -- style ---------------------------------------------------------------------------------------------------
    def style_weights(self, style: dict[str, float]) -> torch.Tensor:
        w = torch.zeros(len(self.styles))
        for name, weight in style.items():
            if name not in self.styles:
                known = ", ".join(self.styles[1:21]) + (" ..." if len(self.styles) > 21 else "")
                raise ValueError(f"unknown style {name!r}; this model knows: {known} (and 'none')")
            w[self.styles.index(name)] += weight
        return w / w.sum()

    def style_vectors(self, controls: Controls, lanes: int) -> torch.Tensor:
        """The conditioning [lanes, D] of the controls' style mix (and "none" in lane 1), kept while it holds (a
        lookup every note: no torch work unless the mix changed)."""
        key = (tuple(sorted(controls.style.items())), lanes)
        if self._style_cache is None or self._style_cache[0] != key:
            with torch.inference_mode():
                w = self.style_weights(controls.style)[None]
                if lanes == 2:
                    w = torch.cat([w, torch.nn.functional.one_hot(torch.tensor([0]), len(self.styles)).float()])
                self._style_cache = (key, self.net.style_vector(w.to(self.device)))
        return self._style_cache[1]

    def constraint_biases(self, spec: MaskSpec) -> list[np.ndarray]:
        """The float64 biases per head for `spec` (masks, density and legato tilts), cached: `spec` is the key (the
        last one looked up is checked first by identity: a window asks with the same spec note after note)."""
        if self._bias_last is not None and self._bias_last[0] is spec:
            return self._bias_last[1]
        biases = self._bias_cache.get(spec)
        if biases is None:
            if len(self._bias_cache) > BIAS_CACHE_SIZE:
                self._bias_cache.clear()
            cfg = self.tokenizer.config
            biases = self._bias_cache[spec] = constraint_biases(spec, cfg.vocab_sizes, self.tokenizer.duration_values_s,
                                                                cfg.grid_s)
        self._bias_last = (spec, biases)
        return biases

    # -- StepBackend ---------------------------------------------------------------------------------------------
    def new_cache(self, lanes: int) -> KVCache:
        return KVCache(self.model.cfg, lanes, self.device)

    def cache_length(self, cache: KVCache) -> int:
        return cache.length

    def truncate(self, cache: KVCache, length: int) -> None:
        cache.truncate(length)

    def compact(self, cache: KVCache, drop: int) -> None:
        self.model.drop_steps(cache, 1, drop)

    def feed(self, cache: KVCache, steps: np.ndarray, controls: Controls) -> None:
        style = self.style_vectors(controls, cache.lanes)
        one_step = len(steps) == 1 and 0 < cache.length < self.context_steps
        if self.native is not None and one_step:
            self.native.feed(cache, steps[0], style)
            return
        if self.static is not None and one_step:
            self.static.feed(cache, steps[0], style)
            return
        x = torch.as_tensor(steps, dtype=torch.long, device=self.device)[None].expand(cache.lanes, -1, -1)
        self.net.prefill(cache, x, style)

    def sample(self, cache: KVCache, controls: Controls, c: StepConstraints,
               rng: torch.Generator | Draws) -> tuple[int, int, int, int]:
        biases = self.constraint_biases(c.spec)
        if self.native is not None and cache.length > 0:  # no torch on this path: no inference mode to enter
            return self.native.sample_note(cache, HostSampler(controls, rng, biases, c))
        with torch.inference_mode():
            if cache.length == 0:
                self.net.prefill(cache, None, self.style_vectors(controls, cache.lanes))
            if self.static is not None:
                return self.static.sample(cache, controls, biases, c, Draws.generator(rng))
            if self.native is not None:
                return self.native.sample_note(cache, HostSampler(controls, rng, biases, c))
            h = cache.hidden[:, cache.length - 1]  # [lanes, D]
            delta, pitch, velocity, duration = sample_note(self.net, h, HostSampler(controls, rng, biases, c))
        return delta, pitch, velocity, duration
