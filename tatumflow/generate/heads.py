"""One note from a hidden state: the factorised heads (`factorised_heads`), each field chosen by a sampler.

`sample_note(heads, h, sampler)` is the one head-and-sample function of the torch decode paths (the native step,
native/step.py, runs the same loop over its C heads). The sampler says where the arithmetic runs:

- `HostSampler`: each field sampled on the host in float64 (`sampling.sample_row` in numpy, or the same arithmetic
  in C for a whole note: the native path, with `note_uniforms` and the pitch bias `pitch_bias` builds), its uniforms
  drawn from the window's generator (`sampling.Draws`) in field order: the CPU paths, and the bench's peers.
- `DeviceSampler`: each field sampled on the device in torch (`sample_index`), every per-note input read from one
  float64 buffer that `ParamLayout.pack` fills on the host, the uniforms drawn in advance from the same generator in
  the same order: the static / CUDA-graph path (graphs.py). No host reads, static shapes.

Both apply the biases of the note's `MaskSpec` (`constraint_biases`: masks, density and legato tilts), the harmony
and repeat biases, the meter prior (`meter_term`), the no-re-strike rule (`without_restrikes`) and classifier-free
guidance (`mix_lanes`) in the same order with the same float arithmetic, so a seed plays the same notes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, TypeVar

import numpy as np
import torch

from ..model.tokenizer import DELTA, DURATION, PITCH
from ..model.transformer import factorised_heads
from .constraints import MaskSpec, StepConstraints
from .controls import Controls
from .meter import density_bias
from .sampling import GREEDY, Draws, mask_bias, sample_index, sample_row, sampling_mode

Field = TypeVar("Field")  # a chosen field: an int on the host, a 1-element long tensor on the device


class StepHeads(Protocol):
    """The output side of a model: `NoteTransformer` and `InferenceModel` both have it."""

    def head_logits(self, k: int, h: torch.Tensor) -> torch.Tensor: ...
    def cond_table(self, k: int) -> torch.Tensor: ...


class FieldSampler(Protocol[Field]):
    def choose(self, k: int, logits: torch.Tensor, chosen: list[Field]) -> Field: ...
    def embed(self, table: torch.Tensor, field: Field) -> torch.Tensor: ...


def sample_note(heads: StepHeads, h: torch.Tensor, sampler: FieldSampler[Field]) -> list[Field]:
    """The four fields of the next note from the hidden states h [lanes, D] (lane 1, if any, unconditional)."""

    def embed(k: int, field: Field) -> torch.Tensor:
        return sampler.embed(heads.cond_table(k), field)

    return factorised_heads(h, heads.head_logits, embed, sampler.choose)


def mix_lanes(logits: torch.Tensor, guidance: float | torch.Tensor) -> torch.Tensor:
    """Lane 0's logits [V] from logits [lanes, V]; with two lanes, classifier-free guidance:
    uncond + g * (cond - uncond)."""
    return torch.lerp(logits[1], logits[0], guidance) if logits.shape[0] == 2 else logits[0]


def without_restrikes(x: torch.Tensor, onset: torch.Tensor, delta_is_zero: torch.Tensor | bool) -> torch.Tensor:
    """The no-re-strike rule, on pitch logits or biases x [88]: a note at delta 0 may not strike a pitch already
    struck at that onset (`onset`: 0 / -inf over the pitches, see `restrike_bias`), unless that is every pitch
    allowed. `delta_is_zero` is a bool on the host, a tensor on the device (no host read)."""
    without = x + onset
    return torch.where(torch.isfinite(without).any() & delta_is_zero, without, x)


def restrike_bias(pitches: frozenset[int], out: np.ndarray) -> np.ndarray:
    """`out` [88] set to -inf at `pitches` (those struck at the last onset) and 0 elsewhere."""
    out[:] = 0.0
    if pitches:
        out[list(pitches)] = -np.inf
    return out


LEGATO_REFERENCE_S = 0.1  # the duration the legato tilt leaves alone: longer ones gain, shorter ones lose


def legato_tilt(legato: float, duration_values_s: np.ndarray) -> torch.Tensor:
    """`legato * ln(duration / LEGATO_REFERENCE_S)` over the duration values: the duration head's bias for a legato
    control (> 0: longer notes; each doubling of a duration multiplies its odds by 2 ** legato)."""
    return torch.from_numpy(legato * np.log(np.asarray(duration_values_s, dtype=np.float64) / LEGATO_REFERENCE_S))


def constraint_biases(spec: MaskSpec, vocab_sizes: Sequence[int], duration_values_s: np.ndarray | None = None,
                      delta_grid_s: float | None = None) -> list[np.ndarray]:
    """Additive float64 biases per head for `spec`: 0 / -inf for its masks, plus the density tilt on the delta head
    (which needs the tokenizer's `delta_grid_s`) and the legato tilt on the duration head (its `duration_values_s`).
    The harmony bias, the meter prior and re-strikes are per note, not here. Built once per spec (the backend
    caches them)."""
    masks = [np.ones(v, dtype=bool) for v in vocab_sizes]
    masks[DELTA][: spec.min_delta] = False
    if spec.max_delta is not None:
        masks[DELTA][spec.max_delta + 1 :] = False
    masks[PITCH][: spec.pitch_low] = False
    masks[PITCH][spec.pitch_high + 1 :] = False
    if spec.max_duration_bin is not None:
        masks[DURATION][spec.max_duration_bin + 1 :] = False
    biases = [mask_bias(torch.from_numpy(m)).double().numpy() for m in masks]
    if spec.density:
        if delta_grid_s is None:
            raise ValueError("a density tilt needs the tokenizer's delta grid")
        biases[DELTA] += density_bias(vocab_sizes[DELTA], delta_grid_s, spec.density)
    if spec.legato:
        if duration_values_s is None:
            raise ValueError("a legato tilt needs the tokenizer's duration values")
        biases[DURATION] += legato_tilt(spec.legato, duration_values_s).numpy()
    return biases


def meter_term(base: torch.Tensor, meter: torch.Tensor, far: torch.Tensor,
               temperature: float | torch.Tensor) -> torch.Tensor:
    """The meter prior as added to the delta head (float64 [n_delta]): `meter` where `far` (the deltas it leans),
    shifted so that their total probability at `temperature` under `base` (the delta logits with every other bias)
    stays what it was; 0 elsewhere. A chord's notes keep their odds against the next onset, whatever the model's
    own timing (meter.py). Static shapes, no host reads: the device path runs it too."""
    inf = torch.tensor(float("-inf"), dtype=base.dtype, device=base.device)
    lean = torch.where(far, base, inf)
    before = torch.logsumexp(lean / temperature, 0)
    after = torch.logsumexp((lean + meter) / temperature, 0)
    shift = torch.where(torch.isfinite(before) & torch.isfinite(after), (before - after) * temperature, 0.0)
    return torch.where(far, meter + shift, 0.0)


def meter_far(c: StepConstraints, n_delta: int) -> torch.Tensor:
    """Where `c`'s meter prior applies: the deltas from `c.meter_from` on (bool [n_delta])."""
    return torch.arange(n_delta) >= c.meter_from


def meter_term_np(base: np.ndarray, meter: np.ndarray, temperature: float) -> np.ndarray:
    """`meter_term` on the host, for the deltas it leans only (numpy float64: `base` and `meter` are their
    slices from `meter_from` on): `meter` shifted so that their total probability at `temperature` stays."""
    before = _logsumexp(base / temperature)
    after = _logsumexp((base + meter) / temperature)
    shift = (before - after) * temperature if np.isfinite(before) and np.isfinite(after) else 0.0
    return meter + shift


def _logsumexp(x: np.ndarray) -> float:
    top = float(x.max())
    if not np.isfinite(top):
        return top
    return top + float(np.log(np.exp(x - top).sum()))


class HostSampler:
    """Fields sampled on the host in float64, one uniform from `rng` per sampled field: in numpy
    (`sampling.sample_row`) by `choose`, or all four in C (native/step.py: `note_uniforms`, and `tf_pitch_bias`
    building what `pitch_bias` builds). The uniforms come from `Draws` (a plain generator: drawn four at a time),
    used in order."""

    def __init__(self, controls: Controls, rng: torch.Generator | Draws, biases: Sequence[np.ndarray],
                 constraints: StepConstraints) -> None:
        self.controls, self.biases, self.c = controls, biases, constraints
        self.draws = Draws.of(rng)
        self.temps = [controls.temperature * t for t in controls.head_temperature]

    def _uniform(self) -> float:
        if self.controls.greedy:  # greedy draws nothing (sampling_mode)
            return 0.0
        return self.draws.take()

    def choose(self, k: int, logits: torch.Tensor | np.ndarray, chosen: list[int]) -> int:
        """Field k from head k's logits [lanes, V] (lane 1, if any, unconditional)."""
        c, controls = self.c, self.controls
        bias = self.pitch_bias(chosen[DELTA], np.empty(self.biases[PITCH].shape[0])) if k == PITCH else self.biases[k]
        meter = c.meter_bias if k == DELTA else None
        x = _host_logits(logits, controls.guidance)
        x += bias
        if meter is not None:
            f = c.meter_from
            x[f:] += meter_term_np(x[f:], meter[f:], self.temps[k])
        if controls.greedy:
            return int(np.argmax(x))
        return sample_row(x, self.temps[k], controls.top_k, controls.nucleus(k), controls.min_p, self._uniform())

    def note_uniforms(self) -> list[float]:
        """A note's four uniforms, in draw order: what a kernel that samples a whole note needs besides the biases
        (it builds the pitch head's as `pitch_bias` does)."""
        return [self._uniform(), self._uniform(), self._uniform(), self._uniform()]

    def pitch_bias(self, delta: int, out: np.ndarray) -> np.ndarray:
        """The pitch head's bias [88] for a note at `delta`, written into `out`: the spec's; at delta 0 plus the
        no-re-strike rule and the onset's own bias (unless that leaves no pitch); then `pitch_bias`."""
        c = self.c
        bias = self.biases[PITCH]
        if delta == 0 and (c.pitches_at_last_onset or c.onset_pitch_bias is not None):
            onset = restrike_bias(c.pitches_at_last_onset, out)
            if c.onset_pitch_bias is not None:
                onset += c.onset_pitch_bias
            np.add(bias, onset, out=out)  # without the re-strikes
            if not np.isfinite(out).any():
                out[:] = bias
        else:
            out[:] = bias
        if c.pitch_bias is not None:
            out += c.pitch_bias
        return out

    @staticmethod
    def embed(table: torch.Tensor, field: int) -> torch.Tensor:
        return table[field]


def _host_logits(logits: torch.Tensor | np.ndarray, guidance: float) -> np.ndarray:
    """Lane 0's logits [V] as a new float64 array; with two lanes, guided: uncond + g * (cond - uncond)."""
    a: np.ndarray = logits.detach().cpu().numpy() if isinstance(logits, torch.Tensor) else logits
    x: np.ndarray = a[0].astype(np.float64)
    if a.shape[0] == 2:  # x = uncond + g * (cond - uncond), in place
        uncond = a[1].astype(np.float64)
        x -= uncond
        x *= guidance
        x += uncond
    return x


class ParamLayout:
    """Where each per-note input of `DeviceSampler` sits in its float64 buffer (offsets computed once)."""

    def __init__(self, vocab_sizes: tuple[int, int, int, int]) -> None:
        self.vocab_sizes = vocab_sizes
        self.bias_at = [int(x) for x in np.cumsum((0,) + vocab_sizes[:3])]  # each head's mask (+ harmony bias)
        self.onset = sum(vocab_sizes)  # the re-strike bias (0 / -inf over the pitch head)
        self.meter = self.onset + vocab_sizes[PITCH]  # the meter prior over the delta head
        self.far = self.meter + vocab_sizes[DELTA]  # 1 where it applies
        self.temps = self.far + vocab_sizes[DELTA]
        self.uniforms = self.temps + 4
        self.nuclei = self.uniforms + 4  # each head's top-p
        self.scalars = self.nuclei + 4  # top_k, min_p, guidance, position
        self.size = self.scalars + 4

    def pack(self, out: np.ndarray, controls: Controls, biases: Sequence[np.ndarray], c: StepConstraints,
             rng: torch.Generator, position: int) -> tuple[str, ...]:
        """Fill `out` [size] for a note read from the hidden state at `position`; return the heads' sampling modes.
        The uniforms are drawn here, in head order, as `HostSampler` draws them."""
        sizes = self.vocab_sizes
        for k in range(4):
            out[self.bias_at[k] : self.bias_at[k] + sizes[k]] = biases[k]
        if c.pitch_bias is not None:
            out[self.bias_at[PITCH] : self.bias_at[PITCH] + sizes[PITCH]] += c.pitch_bias
        restrike_bias(c.pitches_at_last_onset, out[self.onset : self.onset + sizes[PITCH]])
        out[self.meter : self.far + sizes[DELTA]] = 0.0
        if c.meter_bias is not None:
            out[self.meter : self.meter + sizes[DELTA]] = c.meter_bias
            out[self.far : self.far + sizes[DELTA]] = meter_far(c, sizes[DELTA]).numpy()
        if c.onset_pitch_bias is not None:
            out[self.onset : self.onset + sizes[PITCH]] += c.onset_pitch_bias
        out[self.temps : self.temps + 4] = [controls.temperature * t for t in controls.head_temperature]
        nuclei = [controls.nucleus(k) for k in range(4)]
        modes = tuple(sampling_mode(controls.top_k, p, v) for p, v in zip(nuclei, sizes))
        for k in range(4):
            draw = modes[k] != GREEDY
            out[self.uniforms + k] = float(torch.rand((), dtype=torch.float64, generator=rng)) if draw else 0.0
        out[self.nuclei : self.nuclei + 4] = nuclei
        out[self.scalars : self.scalars + 4] = [controls.top_k, controls.min_p, controls.guidance, position]
        return modes


class DeviceSampler:
    """Fields sampled on the device in torch from the buffer `params` that `ParamLayout.pack` filled."""

    def __init__(self, params: torch.Tensor, layout: ParamLayout, modes: tuple[str, ...], lanes: int,
                 metered: bool = False) -> None:
        """`metered`: the buffer holds a meter prior (`ParamLayout.pack` of constraints with one)."""
        P, L = params, layout
        self.params, self.layout, self.modes, self.metered = P, L, modes, metered
        self.top_k, self.min_p = P[L.scalars].long(), P[L.scalars + 1]
        self.guidance = P[L.scalars + 2].float() if lanes == 2 else None

    def position(self) -> torch.Tensor:
        """The position of the hidden state to read, a 1-element long tensor."""
        return self.params[self.layout.scalars + 3 : self.layout.scalars + 4].long()

    def choose(self, k: int, logits: torch.Tensor, chosen: list[torch.Tensor]) -> torch.Tensor:
        P, L, size = self.params, self.layout, self.layout.vocab_sizes[k]
        x = (logits[0] if self.guidance is None else mix_lanes(logits, self.guidance)).double()
        bias = P[L.bias_at[k] : L.bias_at[k] + size]
        if k == DELTA and self.metered:
            far = P[L.far : L.far + size] > 0
            bias = bias + meter_term(x + bias, P[L.meter : L.meter + size], far, P[L.temps + k])
        x = x + bias
        if k == PITCH:
            x = without_restrikes(x, P[L.onset : L.onset + size], chosen[DELTA] == 0)
        return sample_index(x, self.modes[k], P[L.temps + k], self.top_k, P[L.nuclei + k], self.min_p,
                            P[L.uniforms + k])

    @staticmethod
    def embed(table: torch.Tensor, field: torch.Tensor) -> torch.Tensor:
        return table.index_select(0, field)
