"""A decode step with static shapes and no host sync, replayed as CUDA graphs on a GPU.

On a GPU, batch-1 decode is launch-bound: the eager path runs ~100 torch ops a note (counted with the GPU forms of
norm and GELU), each a few microseconds of work and more of Python dispatch and launch, and reads logits back to the
host four times a note to sample them. Here a note is two graph replays (62 ops for the step, 160 for the heads
with their sampling, replayed with no Python between them) and one read-back:

- `feed`: one step into the cache (`InferenceModel.trunk_at`: the position is a device tensor, attention reads the
  whole cache under a mask, the cache is written with `index_copy_`);
- `sample`: the four heads and their sampling on the device (`sample_index`: the same arithmetic as
  `sampling.sample_field`, fed the same uniforms from the same torch generator, so a seed gives the same notes as
  the eager path up to float rounding), with every per-note input (masks, the harmony bias, temperatures, top-k/p,
  min-p, guidance, uniforms, the position) packed into one float64 buffer: one host-to-device copy a note.

`StaticSteps` runs these functions eagerly on any device (the CPU tests check them against the eager backend);
with `graphs=True` (CUDA only) each is captured once per cache (keyed by the cache's storage addresses, so a cache
reallocated at the same addresses reuses the graph) and replayed; with `compile=True` each is first compiled by
`torch.compile` (fewer, fused kernels). The first capture of each kind is
checked against the eager step; a compile or capture that fails or disagrees is switched off with a warning
(compilation first, then graphs) and the eager static path carries on.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable

import numpy as np
import torch

from .controls import Controls
from .generator import StepConstraints
from .inference import InferenceModel
from ..model.tokenizer import DELTA, PITCH
from ..model.transformer import KVCache

log = logging.getLogger(__name__)

GREEDY, PLAIN, SORTED = "greedy", "plain", "sorted"  # how a head samples (fixed per graph)
MAX_GRAPHS = 8  # captured graphs kept per kind (feed, sample), least recently used dropped


def sampling_mode(controls: Controls, vocab: int) -> str:
    """The shape of `sample_field`'s work for a head of `vocab` values: a sort only when top-k/top-p need one."""
    if controls.top_k == 1:
        return GREEDY
    if 0 < controls.top_k < vocab or controls.top_p < 1.0:
        return SORTED
    return PLAIN


def sample_index(x: torch.Tensor, mode: str, temperature: torch.Tensor, top_k: torch.Tensor, top_p: torch.Tensor,
                 min_p: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """`sampling.sample_field` on the device: x [V] float64 logits with the bias added, the controls as 0-d
    tensors, u the uniform in [0, 1) -> the index, a 1-element long tensor. Static shapes, no host reads.

    Where `sample_field` cuts the sorted list to top-k it zeroes the tail instead: the cumulative sums over the
    kept values, and so every comparison and search, are the same.
    """
    if mode == GREEDY:
        return x.argmax().reshape(1)
    x = x / temperature
    p = (x - x.max()).exp()
    V = x.shape[0]
    order = None
    kept = torch.full((1,), V, dtype=torch.long, device=x.device)
    if mode == SORTED:
        p, order = torch.sort(p, descending=True, stable=True)  # ties in index order, as numpy's stable argsort
        kept = torch.where((top_k > 0) & (top_k < V), top_k, kept)
        p = torch.where(torch.arange(V, device=x.device) < kept, p, 0.0)
    p = torch.where(p >= min_p * p.max(), p, 0.0)
    cum = p.cumsum(0)
    last = kept - 1
    if mode == SORTED:  # top-p: keep a value while the mass before it is below top_p (always the best one)
        nucleus = torch.searchsorted(cum, top_p * cum.index_select(0, last), side="left")
        last = torch.where(top_p < 1.0, torch.minimum(nucleus, last), last)
    i = torch.minimum(torch.searchsorted(cum, u * cum.index_select(0, last), side="right"), last)
    return order.index_select(0, i) if order is not None else i


class _Layout:
    """Where each per-note input sits in the float64 parameter buffer (offsets computed once)."""

    def __init__(self, vocab_sizes: tuple[int, int, int, int]) -> None:
        self.vocab_sizes = vocab_sizes
        self.bias_at = [int(x) for x in np.cumsum((0,) + vocab_sizes[:3])]  # each head's mask (+ harmony bias)
        self.onset = sum(vocab_sizes)  # the pitch exclusion when delta is 0 (0 / -inf over the pitch head)
        self.temps = self.onset + vocab_sizes[PITCH]
        self.uniforms = self.temps + 4
        self.scalars = self.uniforms + 4  # top_k, top_p, min_p, guidance, position
        self.size = self.scalars + 5


class _Captured:
    """`fn` (no arguments, reading and writing fixed tensors) captured as a CUDA graph; calling it replays."""

    def __init__(self, fn: Callable[[], torch.Tensor | None], device: torch.device) -> None:
        side = torch.cuda.Stream(device)
        side.wait_stream(torch.cuda.current_stream(device))
        with torch.cuda.stream(side):  # warm-up off the capture stream, as CUDA graphs require
            for _ in range(2):
                fn()
        torch.cuda.current_stream(device).wait_stream(side)
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph, capture_error_mode="thread_local"):  # the engine has other threads
            self.out = fn()

    def __call__(self) -> torch.Tensor | None:
        self.graph.replay()
        return self.out


class StaticSteps:
    """Feed one step and sample one note through the static functions; CUDA graphs when `graphs` is on, each step
    compiled by `torch.compile` (fused kernels; 20 s to compile on this 2-core CPU) when `compile` is on."""

    def __init__(self, infer: InferenceModel, graphs: bool, compile: bool = False) -> None:
        if graphs and infer.device.type != "cuda":
            raise ValueError("CUDA graphs need a CUDA device")
        self.infer = infer
        self.device = infer.device
        self.graphs = graphs
        self.compile = compile
        self.layout = _Layout(tuple(infer.cfg.vocab_sizes))
        pin = self.device.type == "cuda"
        self._params_host = torch.zeros(self.layout.size, dtype=torch.float64, pin_memory=pin)
        self._params_np = self._params_host.numpy()
        self._params = torch.zeros(self.layout.size, dtype=torch.float64, device=self.device)
        self._step_host = torch.zeros(5, dtype=torch.long, pin_memory=pin)  # the four fields, the position
        self._step_np = self._step_host.numpy()
        self._step = torch.zeros(5, dtype=torch.long, device=self.device)
        self._style: dict[int, torch.Tensor] = {}  # lanes -> the style vectors the feed graph reads
        self._style_src: dict[int, torch.Tensor] = {}
        self._feeds: OrderedDict[tuple, _Captured] = OrderedDict()
        self._samples: OrderedDict[tuple, _Captured] = OrderedDict()
        self._checked: set[str] = set()  # kinds whose first capture was checked against the eager step

    # -- the two steps, as functions of fixed tensors ---------------------------------------------------------
    def _feed_fn(self, cache: KVCache, lanes: int) -> Callable[[], None]:
        infer, step, style = self.infer, self._step, self._style[lanes]

        def feed() -> None:
            x = infer.embed(step[:4].view(1, 1, 4).expand(lanes, 1, 4), style)[:, 0]  # [lanes, D]
            pos = step[4:]
            cache.hidden.index_copy_(1, pos, infer.trunk_at(x, cache, pos)[:, None])

        return feed

    def _sample_fn(self, cache: KVCache, lanes: int, modes: tuple[str, ...]) -> Callable[[], torch.Tensor]:
        infer, P, L = self.infer, self._params, self.layout
        sizes = L.vocab_sizes

        def sample() -> torch.Tensor:
            top_k, top_p, min_p, guidance = P[L.scalars].long(), P[L.scalars + 1], P[L.scalars + 2], P[L.scalars + 3]
            pos = P[L.scalars + 4 : L.scalars + 5].long()
            h = cache.hidden.index_select(1, pos)[:, 0]  # [lanes, D]
            fields: list[torch.Tensor] = []
            for k in range(4):
                logits = infer.head_logits(k, h)
                logits = torch.lerp(logits[1], logits[0], guidance.float()) if lanes == 2 else logits[0]
                x = logits.double() + P[L.bias_at[k] : L.bias_at[k] + sizes[k]]
                if k == PITCH:  # pitches struck at the last onset are out when delta is 0 (unless that is all)
                    without = x + P[L.onset : L.onset + sizes[PITCH]]
                    x = torch.where((fields[DELTA] == 0) & torch.isfinite(without).any(), without, x)
                fields.append(sample_index(x, modes[k], P[L.temps + k], top_k, top_p, min_p, P[L.uniforms + k]))
                if k < 3:
                    h = h + infer.cond_emb[k].index_select(0, fields[-1])
            return torch.cat(fields)

        return sample

    # -- per note ---------------------------------------------------------------------------------------------------
    @torch.inference_mode()
    def feed(self, cache: KVCache, step: np.ndarray, style_vec: torch.Tensor) -> None:
        """Append one step (4 fields) at position cache.length."""
        lanes = cache.k.shape[1]
        if self._style_src.get(lanes) is not style_vec:  # the controls' style changed (or first use)
            if lanes not in self._style:
                self._style[lanes] = torch.empty_like(style_vec)
            self._style[lanes].copy_(style_vec)
            self._style_src[lanes] = style_vec
        self._step_np[:4] = step
        self._step_np[4] = cache.length
        self._step.copy_(self._step_host)
        self._run(self._feeds, ("feed", *self._key(cache)), lambda: self._feed_fn(cache, lanes), cache)
        cache.length += 1

    @torch.inference_mode()
    def sample(self, cache: KVCache, controls: Controls, biases: list[torch.Tensor], c: StepConstraints,
               rng: torch.Generator) -> tuple[int, int, int, int]:
        """The next note from the hidden state at cache.length - 1 (the cache holds at least the start step)."""
        lanes = cache.k.shape[1]
        L, P = self.layout, self._params_np
        sizes = L.vocab_sizes
        for k in range(4):
            P[L.bias_at[k] : L.bias_at[k] + sizes[k]] = biases[k].numpy()
        if c.pitch_bias is not None:
            P[L.bias_at[PITCH] : L.bias_at[PITCH] + sizes[PITCH]] += c.pitch_bias
        onset = P[L.onset : L.onset + sizes[PITCH]]
        onset[:] = 0.0
        if c.pitches_at_last_onset:
            onset[list(c.pitches_at_last_onset)] = -np.inf
        P[L.temps : L.temps + 4] = [controls.temperature * t for t in controls.head_temperature]
        modes = tuple(sampling_mode(controls, v) for v in sizes)
        for k in range(4):  # one uniform per sampled head, drawn in head order as `sample_field` draws them
            P[L.uniforms + k] = 0.0 if modes[k] == GREEDY else float(torch.rand((), dtype=torch.float64, generator=rng))
        P[L.scalars : L.scalars + 5] = [controls.top_k, controls.top_p, controls.min_p, controls.guidance,
                                        cache.length - 1]
        self._params.copy_(self._params_host)
        out = self._run(self._samples, ("sample", *self._key(cache), modes),
                        lambda: self._sample_fn(cache, lanes, modes), cache)
        return tuple(out.tolist())  # type: ignore[return-value]

    # -- graphs -------------------------------------------------------------------------------------------------------
    @staticmethod
    def _key(cache: KVCache) -> tuple:
        return (cache.k.data_ptr(), cache.v.data_ptr(), cache.hidden.data_ptr(), cache.k.shape[1])

    def _run(self, store: OrderedDict, key: tuple, make: Callable[[], Callable], cache: KVCache):
        if not (self.graphs or self.compile):
            return make()()
        entry = store.get(key)
        if entry is None:
            entry = self._prepare(make, cache, key[0])
            if entry is None:  # every option failed: the eager static step from now on
                return make()()
            store[key] = entry
            while len(store) > MAX_GRAPHS:
                store.popitem(last=False)
        store.move_to_end(key)
        return entry()

    def _prepare(self, make: Callable[[], Callable], cache: KVCache, kind: str) -> Callable | None:
        """The step as it will run (compiled and/or captured), or None. What fails is switched off, with a warning,
        compilation first: a capture of the plain step is tried before graphs are given up."""
        while self.graphs or self.compile:
            try:
                fn = torch.compile(make(), fullgraph=True, dynamic=False) if self.compile else make()
                if not self.graphs:
                    fn()  # compile now, not in the middle of a later call (a step is idempotent for its inputs)
                    return fn
                return self._capture(fn, make(), cache, kind)
            except Exception as err:  # a compiler, driver or torch that refuses: go on without that part
                what = "torch.compile" if self.compile else "CUDA graph capture"
                log.warning("%s of the %s step failed (%s: %s); going on without it", what, kind,
                            type(err).__name__, err)
                if self.compile:
                    self.compile = False
                else:
                    self.graphs = False
        return None

    def _capture(self, fn: Callable, eager: Callable, cache: KVCache, kind: str) -> _Captured:
        """Capture `fn`; the first capture of each kind is checked against the `eager` step (the same function,
        neither compiled nor captured)."""
        if kind in self._checked:
            return _Captured(fn, self.device)
        if kind == "feed":  # the graph must write what the eager step writes: wipe the position, replay, compare
            pos = int(self._step_np[4])
            eager()
            expected = cache.hidden[:, pos].clone()
            captured = _Captured(fn, self.device)
            cache.hidden[:, pos] = 0.0
            cache.k[:, :, :, pos] = 0.0
            cache.v[:, :, :, pos] = 0.0
            captured()
            ok = torch.allclose(cache.hidden[:, pos], expected, rtol=1e-4, atol=1e-5)
        else:
            expected = eager().clone()
            captured = _Captured(fn, self.device)
            ok = bool(torch.equal(captured(), expected))
        if not ok:
            raise RuntimeError("the replay disagreed with the eager step")
        self._checked.add(kind)
        return captured
