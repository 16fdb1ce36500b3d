"""A decode step with static shapes and no host sync, replayed as CUDA graphs on a GPU.

On a GPU, batch-1 decode is launch-bound: the eager path runs on the order of a hundred small torch ops a note,
each a few microseconds of work and more of Python dispatch and launch, and reads logits back to the host four
times a note to sample them. Here a note is two graph replays (no Python between their ops) and one read-back:

- `feed`: one step into the cache (`InferenceModel.step_at`: the position is a device tensor, attention reads the
  whole cache under a mask, the cache writes it with `index_copy_`);
- `sample`: `heads.sample_note` with a `DeviceSampler`: the four heads and their sampling on the device, the same
  arithmetic as the host sampler fed the same uniforms from the same torch generator, so a seed gives the same
  notes as the dynamic path; every per-note input (masks, the harmony bias, temperatures, top-k/p, min-p, guidance,
  uniforms, the position) packed into one float64 buffer: one host-to-device copy a note.

`StaticSteps` runs these functions eagerly on any device (the CPU tests check them against the dynamic path); with
`graphs=True` (CUDA only) each is captured once per cache (keyed by the cache's storage addresses, so a cache
reallocated at the same addresses reuses the graph) and replayed; with `compile=True` each is first compiled by
`torch.compile` (fewer, fused kernels; slow to compile). The first capture of each kind is checked against the
eager step; a compile or capture that fails or disagrees is switched off with a warning (compilation first, then
graphs) and the eager static path carries on. Op counts and timings: benchmarks/decode/README.md.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable

import numpy as np
import torch

from ..model.kvcache import KVCache
from .constraints import StepConstraints
from .controls import Controls
from .heads import DeviceSampler, ParamLayout, sample_note
from .inference import InferenceModel

log = logging.getLogger(__name__)

MAX_GRAPHS = 8  # captured graphs kept per kind (feed, sample), least recently used dropped
Step = Callable[[], torch.Tensor | None]  # a step as a function of fixed tensors


class _Captured:
    """`fn` (no arguments, reading and writing fixed tensors) captured as a CUDA graph; calling it replays."""

    def __init__(self, fn: Step, device: torch.device) -> None:
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
    compiled by `torch.compile` (fused kernels) when `compile` is on."""

    def __init__(self, infer: InferenceModel, graphs: bool, compile: bool = False) -> None:
        if graphs and infer.device.type != "cuda":
            raise ValueError("CUDA graphs need a CUDA device")
        self.infer = infer
        self.device = infer.device
        self.graphs = graphs
        self.compile = compile
        self.layout = ParamLayout(infer.cfg.vocab_sizes)
        pin = self.device.type == "cuda"
        self._params_host = torch.zeros(self.layout.size, dtype=torch.float64, pin_memory=pin)
        self._params_np = self._params_host.numpy()
        self._params = torch.zeros(self.layout.size, dtype=torch.float64, device=self.device)
        self._step_host = torch.zeros(5, dtype=torch.long, pin_memory=pin)  # the four fields, the position
        self._step_np = self._step_host.numpy()
        self._step = torch.zeros(5, dtype=torch.long, device=self.device)
        self._style: dict[int, torch.Tensor] = {}  # lanes -> the style vectors the feed graph reads
        self._style_src: dict[int, torch.Tensor] = {}
        self._feeds: OrderedDict[tuple[object, ...], Step] = OrderedDict()
        self._samples: OrderedDict[tuple[object, ...], Step] = OrderedDict()
        self._checked: set[str] = set()  # kinds whose first capture was checked against the eager step

    @property
    def graph_count(self) -> int:
        """Steps captured or compiled and kept (feed and sample)."""
        return len(self._feeds) + len(self._samples)

    # -- the two steps, as functions of fixed tensors ---------------------------------------------------------
    def _feed_fn(self, cache: KVCache) -> Step:
        infer, step, style = self.infer, self._step, self._style[cache.lanes]

        def feed() -> None:
            infer.step_at(cache, step[:4], step[4:], style)

        return feed

    def _sample_fn(self, cache: KVCache, modes: tuple[str, ...], metered: bool) -> Step:
        infer, params, layout, lanes = self.infer, self._params, self.layout, cache.lanes

        def sample() -> torch.Tensor:
            sampler = DeviceSampler(params, layout, modes, lanes, metered)
            h = cache.hidden.index_select(1, sampler.position())[:, 0]  # [lanes, D]
            return torch.cat(sample_note(infer, h, sampler))

        return sample

    # -- per note ---------------------------------------------------------------------------------------------------
    @torch.inference_mode()
    def feed(self, cache: KVCache, step: np.ndarray, style_vec: torch.Tensor) -> None:
        """Append one step (4 fields) at position cache.length."""
        lanes = cache.lanes
        if self._style_src.get(lanes) is not style_vec:  # the controls' style changed (or first use)
            if lanes not in self._style:
                self._style[lanes] = torch.empty_like(style_vec)
            self._style[lanes].copy_(style_vec)
            self._style_src[lanes] = style_vec
        self._step_np[:4] = step
        self._step_np[4] = cache.length
        self._step.copy_(self._step_host)
        self._run(self._feeds, ("feed", *cache.storage_key()), lambda: self._feed_fn(cache), cache)
        cache.advance(1)

    @torch.inference_mode()
    def sample(self, cache: KVCache, controls: Controls, biases: list[np.ndarray], c: StepConstraints,
               rng: torch.Generator) -> tuple[int, int, int, int]:
        """The next note from the hidden state at cache.length - 1 (the cache holds at least the start step)."""
        modes = self.layout.pack(self._params_np, controls, biases, c, rng, cache.length - 1)
        self._params.copy_(self._params_host)
        metered = c.meter_bias is not None  # a graph of its own: no meter work on the notes without it
        out = self._run(self._samples, ("sample", *cache.storage_key(), modes, metered),
                        lambda: self._sample_fn(cache, modes, metered), cache)
        assert out is not None
        d, p, v, dur = out.tolist()
        return d, p, v, dur

    # -- graphs -------------------------------------------------------------------------------------------------------
    def _run(self, store: OrderedDict[tuple[object, ...], Step], key: tuple[object, ...], make: Callable[[], Step],
             cache: KVCache) -> torch.Tensor | None:
        if not (self.graphs or self.compile):
            return make()()
        entry = store.get(key)
        if entry is None:
            entry = self._prepare(make, cache, str(key[0]))
            if entry is None:  # every option failed: the eager static step from now on
                return make()()
            store[key] = entry
            while len(store) > MAX_GRAPHS:
                store.popitem(last=False)
        store.move_to_end(key)
        return entry()

    def _prepare(self, make: Callable[[], Step], cache: KVCache, kind: str) -> Step | None:
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

    def _capture(self, fn: Step, eager: Step, cache: KVCache, kind: str) -> _Captured:
        """Capture `fn`; the first capture of each kind is checked against the `eager` step (the same function,
        neither compiled nor captured)."""
        if kind in self._checked:
            return _Captured(fn, self.device)
        if kind == "feed":  # the graph must write what the eager step writes: wipe the position, replay, compare
            pos = int(self._step_np[4])
            eager()
            expected = cache.hidden[:, pos].clone()
            captured = _Captured(fn, self.device)
            cache.wipe(pos)
            captured()
            ok = torch.allclose(cache.hidden[:, pos], expected, rtol=1e-4, atol=1e-5)
        else:
            result = eager()
            assert result is not None
            expected = result.clone()
            captured = _Captured(fn, self.device)
            out = captured()
            ok = out is not None and bool(torch.equal(out, expected))
        if not ok:
            raise RuntimeError("the replay disagreed with the eager step")
        self._checked.add(kind)
        return captured
