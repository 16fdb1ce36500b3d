"""Decoders compared side by side, each timed one note at a time from the same 256-note context.

- `CachedDecoder`: our backend (sample the four fields, feed the step into the KV cache); built on the prepared
  inference path ("ours") or on the `nn.Module` path ("before").
- `NoCacheDecoder`: the same model without a KV cache: every note re-runs the whole context (start step + notes),
  as the Anticipatory Music Transformer's sampler does, then samples from the last hidden state.
- `NotochordDecoder`: Notochord's default model (PyPI `notochord`) with random weights, `query()` + `feed()` per
  note. It is loaded from a separate folder (its wheel pins an older torch): see benchmarks/README.md.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..generate.constraints import StepConstraints
from ..generate.controls import Controls
from ..generate.generator import ChunkedGenerator
from ..generate.heads import HostSampler, sample_note
from ..notes import Note
from .common import REPO, BenchModel, sync, transformer_backend
from .legacy import LegacyUnavailable, legacy_constraints, legacy_controls, legacy_generator_for

NOTOCHORD_DIR = REPO / ".notochord"
INSTALL_HINT = "scripts/install_notochord.sh (pip install --no-deps --target .notochord notochord + light deps)"


class TimedDecoder:
    """A decoder whose `_note()` makes one note; `note()` times it in ms with the device synced."""

    device: torch.device

    def _note(self) -> None:
        raise NotImplementedError

    def reset(self) -> None:
        """Back to the prompt's context."""
        raise NotImplementedError

    def note(self) -> float:
        sync(self.device)
        t0 = time.perf_counter_ns()
        self._note()
        sync(self.device)
        return (time.perf_counter_ns() - t0) / 1e6


class CachedDecoder(TimedDecoder):
    """One note = `backend.sample` (four heads) + `backend.feed` (one transformer step into the cache)."""

    def __init__(self, gen: ChunkedGenerator, prompt: list[Note], controls: Controls, device: torch.device) -> None:
        self.gen, self.controls, self.device = gen, controls, device
        self.backend = gen.backend
        self.state = gen.init_state(prompt, controls)
        self.length = self.backend.cache_length(self.state.cache)
        self.rng = torch.Generator().manual_seed(0)

    def reset(self) -> None:
        self.backend.truncate(self.state.cache, self.length)

    def _note(self) -> None:
        fields = self.backend.sample(self.state.cache, self.controls, StepConstraints(), self.rng)
        self.backend.feed(self.state.cache, np.asarray([fields], dtype=np.int64), self.controls)


class LegacyDecoder(CachedDecoder):
    """`CachedDecoder` on the decode step this one replaced (bench/legacy.py: its own controls and constraints)."""

    def __init__(self, gen: Any, prompt: list[Note], controls: Controls, device: torch.device) -> None:
        super().__init__(gen, prompt, legacy_controls(controls), device)
        self.constraints = legacy_constraints()

    def _note(self) -> None:
        fields = self.backend.sample(self.state.cache, self.controls, self.constraints, self.rng)
        self.backend.feed(self.state.cache, np.asarray([fields], dtype=np.int64), self.controls)


def legacy_decoder(bm: BenchModel, prompt: list[Note], controls: Controls, device: torch.device) -> TimedDecoder | str:
    """The decoder of commit `legacy.BEFORE_COMMIT` on `bm`'s model, or why it is unavailable."""
    try:
        gen = legacy_generator_for(bm.model, bm.tokenizer, bm.styles, str(device))
    except LegacyUnavailable as err:
        return str(err)
    return LegacyDecoder(gen, prompt, controls, device)


class NoCacheDecoder(TimedDecoder):
    """The same model, recomputing the full context for every note (no KV cache); sampled as the backend samples."""

    def __init__(self, bm: BenchModel, gen: ChunkedGenerator, prompt: list[Note], controls: Controls,
                 device: torch.device) -> None:
        self.model, self.controls, self.device = bm.model, controls, device
        steps = gen.tokenizer.steps_after(None, prompt)
        self.prompt = torch.as_tensor(steps, device=device)[None]  # [1, N, 4]
        self.steps = self.prompt
        backend = transformer_backend(gen)
        w = backend.style_weights(controls.style)[None].to(device)
        self.style_vec = self.model.style_vector(w)
        self.constraints = StepConstraints()
        self.biases = backend.constraint_biases(self.constraints.spec)
        self.rng = torch.Generator().manual_seed(0)

    def reset(self) -> None:
        self.steps = self.prompt

    @torch.inference_mode()
    def _note(self) -> None:
        m = self.model
        x = torch.cat([(m.start + self.style_vec)[:, None, :], m.embed(self.steps, self.style_vec)], dim=1)
        h = m.trunk(x)[:, -1]  # [1, D]: the whole context again
        fields = sample_note(m, h, HostSampler(self.controls, self.rng, self.biases, self.constraints))
        self.steps = torch.cat([self.steps, torch.tensor([[fields]], device=self.device)], dim=1)


def load_notochord(folder: Path = NOTOCHORD_DIR):
    """Notochord's model class from `folder`, or a string saying why it is not available."""
    if not (folder / "notochord").is_dir():
        return f"Notochord not installed in {folder}; install it with {INSTALL_HINT}"
    if str(folder) not in sys.path:
        sys.path.append(str(folder))  # appended: our venv's packages win over the folder's copies
    try:
        from notochord.model import Notochord  # not installed: ignore_missing_imports (pyproject) covers it
    except Exception as err:  # its import chain pulls optional packages; any failure means "skip"
        return f"Notochord in {folder} does not import ({type(err).__name__}: {err}); reinstall with {INSTALL_HINT}"
    return Notochord


class NotochordDecoder(TimedDecoder):
    """Notochord's default model (~17.7 M parameters) with random weights: one `query()` + one `feed()` per note.

    Generous to Notochord: a note there is two events (note-on and note-off); only one is timed per note.
    """

    def __init__(self, notochord_cls, prompt: list[Note], device: torch.device) -> None:
        torch.manual_seed(0)
        self.model = notochord_cls().to(device).eval()
        self.device = device
        self.parameters = sum(p.numel() for p in self.model.parameters())
        self.model.reset()
        prev = prompt[0].onset_s if prompt else 0.0
        with torch.inference_mode():
            for n in prompt:  # the same context length as ours: one event per prompt note
                self.model.feed(1, n.pitch, n.onset_s - prev, n.velocity)
                prev = n.onset_s

    def reset(self) -> None:
        pass  # a recurrent model: its per-note cost does not depend on the context length

    @torch.inference_mode()
    def _note(self) -> None:
        event = self.model.query()
        self.model.feed(event["inst"], event["pitch"], event["time"], event["vel"])
