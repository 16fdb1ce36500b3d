"""`NativeStep`: the C decode step and heads (decode_step.c) over an `InferenceModel`'s prepared fp32 weights.

It holds the ctypes mirror of the C `tf_model` struct and the tensors it points into (kept alive here), and swaps
in a cache's tensors when a call names another cache. `feed` writes one step into a `KVCache` exactly where the
torch trunk would (keys, values, hidden state at the cache's length) and advances it; `head_logits` writes head
k's logits for hidden states h [lanes, D] into a float32 numpy buffer. Both release the GIL (ctypes does).
"""

from __future__ import annotations

import ctypes
from typing import Any

import numpy as np
import torch

from ...model.kvcache import KVCache
from ..heads import HostSampler
from ..inference import InferenceModel, _Dense

_F: Any = ctypes.POINTER(ctypes.c_float)  # ctypes pointer types (not types mypy can check)
_FF: Any = ctypes.POINTER(_F)


class _Model(ctypes.Structure):
    _fields_ = [
        ("n_layers", ctypes.c_int), ("d_model", ctypes.c_int), ("n_heads", ctypes.c_int),
        ("head_dim", ctypes.c_int), ("d_ff", ctypes.c_int), ("context", ctypes.c_int), ("lanes", ctypes.c_int),
        ("eps_sum", ctypes.c_float), ("half", ctypes.c_int),
        ("qkv", _FF), ("proj", _FF), ("fc", _FF), ("out", _FF),
        ("final_gain", _F), ("rope_cos", _F), ("rope_sin", _F), ("field_table", _F),
        ("field_offsets", ctypes.POINTER(ctypes.c_long)),
        ("k", _F), ("v", _F), ("hidden", _F), ("work", _F),
    ]


_P4, _D4 = ctypes.c_void_p * 4, ctypes.c_double * 4


class _Heads(ctypes.Structure):
    _fields_ = [("fc_w", _P4), ("out_w", _P4), ("fc_b", _P4), ("out_b", _P4), ("vocab", ctypes.c_int * 4),
                ("cond", ctypes.c_void_p * 3)]


class _NoteArgs(ctypes.Structure):
    _fields_ = [("bias", _P4), ("pitch_bias", ctypes.c_void_p), ("onset_pitch_bias", ctypes.c_void_p),
                ("struck", ctypes.c_void_p), ("n_struck", ctypes.c_int), ("meter", ctypes.c_void_p),
                ("meter_from", ctypes.c_int), ("top_k", ctypes.c_int), ("temperature", _D4), ("top_p", _D4),
                ("uniform", _D4), ("min_p", ctypes.c_double), ("guidance", ctypes.c_double),
                ("h", ctypes.c_void_p), ("logits", ctypes.c_void_p), ("work", ctypes.c_void_p),
                ("iwork", ctypes.c_void_p), ("pitch", ctypes.c_void_p)]


def _address(a: np.ndarray) -> int:
    address: int = a.__array_interface__["data"][0]
    return address


def _ptr(t: torch.Tensor | np.ndarray | None) -> Any:
    """A float pointer to the data of t (a NULL pointer for None)."""
    if t is None:
        return _F()  # NULL
    address = t.data_ptr() if isinstance(t, torch.Tensor) else t.ctypes.data
    return ctypes.cast(ctypes.c_void_p(address), _F)


def _rows(dense: object, half: bool) -> torch.Tensor:
    """A prepared fp32 matrix as [out, in] row-major (the C code reads it row by row), in fp16 when `half`."""
    if not isinstance(dense, _Dense):
        raise ValueError("the native step is built from the prepared fp32 weights (InferenceModel weights='fp32')")
    rows = dense.w_t.t().contiguous()
    return rows.half() if half else rows


class NativeStep:
    """The C step and heads for one `InferenceModel` (built with fp32 weights, CPU). `half`: the C code streams
    the matrices in fp16 (each weight rounded to fp16; activations and sums stay fp32)."""

    def __init__(self, infer: InferenceModel, lib: ctypes.CDLL, half: bool = False) -> None:
        cfg = infer.cfg
        if infer.device.type != "cpu":
            raise ValueError("the native step runs on the CPU")
        self.lib, self.cfg = lib, cfg
        layers = infer.layers
        self._mats = {name: [_rows(getattr(w, name), half) for w in layers] for name in ("qkv", "proj", "fc", "out")}
        self._heads = [(_rows(h.fc, half), h.fc.b, _rows(h.out, half), h.out.b)  # type: ignore[union-attr]
                       for h in infer.heads]
        rot = cfg.head_dim // 2
        self._tables = {
            "final_gain": infer.final_gain.contiguous(),
            "rope_cos": infer.rope_c[:, 0, 0, :rot].contiguous(),  # [T, hd/2]: rope_c is [cos, cos]
            "rope_sin": infer.rope_s[:, 0, 0, rot:].contiguous(),  # rope_s is [-sin, sin]
            "field_table": infer.field_table.contiguous(),
        }
        self._offsets = np.ascontiguousarray(infer.field_offsets.cpu().numpy(), dtype=np.int64)
        self._arrays = {name: (_F * len(ts))(*[_ptr(t) for t in ts]) for name, ts in self._mats.items()}
        self._m = _Model(n_layers=cfg.n_layers, d_model=cfg.d_model, n_heads=cfg.n_heads, head_dim=cfg.head_dim,
                         d_ff=cfg.mlp_ratio * cfg.d_model, context=cfg.context_steps,
                         eps_sum=float(infer._eps_sum), half=int(half))
        for name, arr in self._arrays.items():
            setattr(self._m, name, ctypes.cast(arr, _FF))
        for name, t in self._tables.items():
            setattr(self._m, name, _ptr(t))
        self._m.field_offsets = self._offsets.ctypes.data_as(ctypes.POINTER(ctypes.c_long))
        self._cond = [t.contiguous().numpy() for t in infer.cond_emb]  # [V_k, D] each: a chosen field's conditioning
        self._fields = np.zeros(4, dtype=np.int64)
        self._fields_ptr = self._fields.ctypes.data_as(ctypes.POINTER(ctypes.c_long))
        self._head_args = [tuple(_ptr(t) for t in head) for head in self._heads]  # fc_w, fc_b, out_w, out_b
        self._model_ref = ctypes.byref(self._m)
        self._cache: KVCache | None = None  # the cache the struct points into
        self._style: tuple[torch.Tensor, Any] | None = None
        self._work = np.zeros(0, dtype=np.float32)
        most = max(cfg.vocab_sizes)
        self._sample_work = np.zeros(2 * most, dtype=np.float64)
        self._sample_iwork = np.zeros(2 * most, dtype=np.int32)
        self._sample_ptrs = (self._sample_work.ctypes.data, self._sample_iwork.ctypes.data)
        self._heads_c = _Heads(vocab=(ctypes.c_int * 4)(*cfg.vocab_sizes),
                               cond=(ctypes.c_void_p * 3)(*[c.ctypes.data for c in self._cond]))
        for k, (fc_w, fc_b, out_w, out_b) in enumerate(self._heads):
            assert fc_b is not None and out_b is not None  # the heads' layers have biases
            self._heads_c.fc_w[k], self._heads_c.out_w[k] = fc_w.data_ptr(), out_w.data_ptr()
            self._heads_c.fc_b[k], self._heads_c.out_b[k] = fc_b.data_ptr(), out_b.data_ptr()
        self._note_buffers(cfg.vocab_sizes)
        self._note_refs = (ctypes.byref(self._heads_c), ctypes.byref(self._args))
        self._out = np.zeros(4, dtype=np.int32)
        self._out_ptr = self._out.ctypes.data

    def _note_buffers(self, vocab_sizes: tuple[int, int, int, int]) -> None:
        """tf_note's per-note inputs, at addresses fixed once: the struck pitches, the pitch priors and the meter
        prior are copied in each note; the heads' biases are the backend's arrays for the note's MaskSpec (pointed
        at while the spec holds); the sampling settings are set while the controls hold."""
        self._struck = np.zeros(vocab_sizes[1], dtype=np.int32)
        self._meter = np.zeros(vocab_sizes[0], dtype=np.float64)
        self._meter_address = self._meter.ctypes.data
        self._pitch = np.zeros(vocab_sizes[1], dtype=np.float64)  # tf_note's scratch: the note's pitch bias
        self._priors = np.zeros((2, vocab_sizes[1]), dtype=np.float64)  # the pitch priors (any note, delta 0)
        self._prior_addresses = (self._priors[0].ctypes.data, self._priors[1].ctypes.data)
        self._spec_biases: object = None
        self._controls: object = None
        self._args = _NoteArgs(work=self._sample_ptrs[0], iwork=self._sample_ptrs[1], struck=self._struck.ctypes.data,
                               pitch=self._pitch.ctypes.data)

    def _bind(self, cache: KVCache) -> None:
        """Point the struct at `cache`'s tensors (and size the scratch and buffers for its lanes)."""
        if cache is self._cache:
            return
        if cache.k.dtype != torch.float32 or not (cache.k.is_contiguous() and cache.hidden.is_contiguous()):
            raise ValueError("the native step needs a contiguous float32 cache")
        lanes = cache.lanes
        size = self.lib.tf_work_floats(lanes, self.cfg.d_model, self.cfg.mlp_ratio * self.cfg.d_model,
                                       self.cfg.context_steps)
        if self._work.size < size:
            self._work = np.zeros(size, dtype=np.float32)
        m = self._m
        m.lanes, m.k, m.v, m.hidden, m.work = lanes, _ptr(cache.k), _ptr(cache.v), _ptr(cache.hidden), \
            _ptr(self._work)
        self._hidden = cache.hidden.numpy()  # [lanes, T, D], shares the cache's memory
        self._h = np.zeros((lanes, self.cfg.d_model), dtype=np.float32)
        self._h_ptr = _ptr(self._h)
        self._logits = [np.zeros((lanes, v), dtype=np.float32) for v in self.cfg.vocab_sizes]
        self._logits_ptr = [_ptr(x) for x in self._logits]
        self._note_logits = np.zeros((lanes, max(self.cfg.vocab_sizes)), dtype=np.float32)  # tf_note's scratch
        self._args.h, self._args.logits = self._h.ctypes.data, self._note_logits.ctypes.data
        self._cache = cache

    def feed(self, cache: KVCache, fields: np.ndarray, style: torch.Tensor) -> None:
        """One step (fields [4]) into the cache at its length, conditioned on style [lanes, D] (contiguous float32:
        the backend's style vectors); advances the cache."""
        self._bind(cache)
        pos = cache.length
        if pos >= cache.capacity:
            raise ValueError(f"cache overflow: {pos} + 1 > context_steps {cache.capacity}")
        if self._style is None or self._style[0] is not style:
            if not (style.is_contiguous() and style.dtype == torch.float32 and style.shape[0] == cache.lanes):
                raise ValueError("style vectors must be contiguous float32 [lanes, D]")
            self._style = (style, _ptr(style))  # the tensor kept alive with its pointer
        self._fields[:] = fields
        self.lib.tf_step(self._model_ref, self._fields_ptr, self._style[1], pos)
        cache.advance(1)

    def sample_note(self, cache: KVCache, sampler: HostSampler) -> tuple[int, int, int, int]:
        """The next note's four fields from the hidden state at cache.length - 1, in one C call (`tf_note`: head k
        reads the hidden state plus the conditioning of the fields chosen before it, as `heads.sample_note`; each
        field sampled as `HostSampler.choose` samples it, with the biases and uniforms the sampler gives)."""
        self._bind(cache)
        self._note_inputs(sampler)
        self.lib.tf_note(self._model_ref, *self._note_refs, cache.length - 1, self._out_ptr)
        d, p, v, dur = self._out.tolist()
        return d, p, v, dur

    def pitch_bias(self, sampler: HostSampler, delta: int) -> np.ndarray:
        """The pitch head's bias that `tf_note` builds for a note at `delta` (`tf_pitch_bias`; the tests check it
        against `HostSampler.pitch_bias`)."""
        self._note_inputs(sampler)
        self.lib.tf_pitch_bias(self._note_refs[1], delta, self._pitch.shape[0], self._pitch.ctypes.data)
        return self._pitch.copy()

    def _note_inputs(self, sampler: HostSampler) -> None:
        """Set tf_note's arguments: point at the spec's biases, copy the pitch priors, struck pitches, meter prior
        and uniforms in."""
        c, a = sampler.c, self._args
        if sampler.biases is not self._spec_biases:  # the backend caches them per MaskSpec: seldom a new list
            for k in range(4):
                a.bias[k] = _address(sampler.biases[k])
            self._spec_biases = sampler.biases  # kept alive while pointed at
        if sampler.controls is not self._controls:  # frozen: the same object, the same settings
            self._set_controls(sampler)
        for i, prior in enumerate((c.pitch_bias, c.onset_pitch_bias)):
            if prior is not None:
                self._priors[i] = prior
        a.pitch_bias = None if c.pitch_bias is None else self._prior_addresses[0]
        a.onset_pitch_bias = None if c.onset_pitch_bias is None else self._prior_addresses[1]
        struck = c.pitches_at_last_onset
        if struck:
            self._struck[: len(struck)] = tuple(struck)
        a.n_struck = len(struck)
        if c.meter_bias is None:
            a.meter = None
        else:
            self._meter[:] = c.meter_bias
            a.meter = self._meter_address
        a.meter_from = c.meter_from
        a.uniform[:] = sampler.note_uniforms()

    def _set_controls(self, sampler: HostSampler) -> None:
        controls, a = sampler.controls, self._args
        a.top_k, a.min_p, a.guidance = controls.top_k, controls.min_p, controls.guidance
        a.temperature[:] = sampler.temps
        a.top_p[:] = [controls.nucleus(k) for k in range(4)]
        self._controls = controls

    def sample_field(self, logits: np.ndarray, guidance: float, bias: np.ndarray, meter: np.ndarray | None,
                     meter_from: int, temperature: float, top_k: int, top_p: float, min_p: float, u: float) -> int:
        """`HostSampler.choose`'s arithmetic in C (`tf_sample`, what `tf_note` runs for each field), one field: drawn
        from logits [lanes, V] (float32, contiguous; lane 1 unconditional), `bias` and `meter` [V] (float64,
        contiguous), with the uniform u. The tests check it draw for draw against numpy."""
        lanes, vocab = logits.shape
        meter_ptr = None if meter is None else meter.ctypes.data
        index: int = self.lib.tf_sample(logits.ctypes.data, lanes, vocab, guidance, bias.ctypes.data, meter_ptr,
                                        meter_from, temperature, top_k, top_p, min_p, u, *self._sample_ptrs)
        return index

    def _head(self, k: int) -> np.ndarray:
        """Head k on the bound buffer h -> its logits buffer [lanes, V_k]."""
        out = self._logits[k]
        self.lib.tf_head(self._model_ref, *self._head_args[k], out.shape[1], self._h_ptr, self._logits_ptr[k])
        return out

    def head_logits(self, cache: KVCache, k: int, h: np.ndarray) -> np.ndarray:
        """Head k on h [lanes, D] -> logits [lanes, V_k] (float32; a buffer reused by the next call)."""
        self._bind(cache)
        self._h[:] = h
        return self._head(k)
