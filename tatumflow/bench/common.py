"""What every benchmark needs: the environment record, percentiles, a synced timer, the model and a dense prompt."""

from __future__ import annotations

import os
import platform
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar, cast

import numpy as np
import torch

from ..generate.backend import TransformerBackend
from ..generate.generator import ChunkedGenerator
from ..model.checkpoint import WEIGHTS, default_checkpoint_dir, load_checkpoint
from ..model.tokenizer import Tokenizer
from ..model.transformer import FieldHead, ModelConfig, NoteTransformer
from ..notes import Note
from ..stats import percentiles  # noqa: F401 - re-exported: the benchmarks import it from here

REPO = Path(__file__).resolve().parents[2]
DEFAULT_STYLES = ["none", "Art Tatum"]
DENSE_DELTAS = 18

T = TypeVar("T")


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed_call(fn: Callable[[], T], device: torch.device) -> tuple[T, float]:
    """`fn()`'s result and the wall time of the call in ms, the device synced before and after."""
    sync(device)
    t0 = time.perf_counter_ns()
    out = fn()
    sync(device)
    return out, (time.perf_counter_ns() - t0) / 1e6


def timed_ms(fn: Callable[[], object], device: torch.device) -> float:
    """Wall time of one call in ms, the device synced before and after."""
    return timed_call(fn, device)[1]


def git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True, check=True)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO,
                               capture_output=True, text=True, check=True).stdout.strip()
        return out.stdout.strip() + ("-dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return None


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def environment(device: torch.device, threads: int) -> dict:
    env = {
        "git_commit": git_commit(),
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "load_average": [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "threads": threads,
        "device": str(device),
        "gpu": torch.cuda.get_device_name(device) if device.type == "cuda" else None,
    }
    return env


@dataclass
class BenchModel:
    model: NoteTransformer
    tokenizer: Tokenizer
    styles: list[str]
    source: str  # "checkpoint PATH" or "random weights, ModelConfig defaults"
    checkpoint: Path | None = None  # where it was loaded from (None: random weights)

    @property
    def style(self) -> str:
        return self.styles[1] if len(self.styles) > 1 else "none"

    def generator(
        self, device: str, fast: bool = True, weights: str = "auto", step_path: str = "auto"
    ) -> ChunkedGenerator:
        return ChunkedGenerator(TransformerBackend(self.model, self.tokenizer, self.styles, device, fast, weights,
                                                   step_path))

    def describe(self) -> dict:
        cfg = self.model.cfg
        return {"source": self.source, "parameters": self.model.num_parameters(), "d_model": cfg.d_model,
                "n_layers": cfg.n_layers, "n_heads": cfg.n_heads, "context_steps": cfg.context_steps}


def transformer_backend(gen: ChunkedGenerator) -> TransformerBackend:
    """`gen`'s backend as the `TransformerBackend` that `BenchModel.generator` builds (the benchmarks read its
    weight format, style vectors and prepared inference model, which the `StepBackend` protocol does not have)."""
    backend = gen.backend
    if not isinstance(backend, TransformerBackend):
        raise TypeError(f"the benchmarks need a TransformerBackend, not {type(backend).__name__}")
    return backend


def bench_model(checkpoint: str | None, device: str) -> BenchModel:
    """The given checkpoint, else the embedded default if it ships, else random weights with `ModelConfig()`
    defaults (speed does not depend on training)."""
    path = Path(checkpoint) if checkpoint else default_checkpoint_dir()
    if checkpoint or (path / WEIGHTS).is_file():
        ckpt = load_checkpoint(path, device)
        return BenchModel(ckpt.model.eval(), ckpt.tokenizer, ckpt.styles, f"checkpoint {path}", path)
    torch.manual_seed(0)
    model = NoteTransformer(ModelConfig(n_styles=len(DEFAULT_STYLES))).eval()
    with torch.no_grad():  # random deltas average ~2 s; Tatum's gaps are ~90 ms: favour 0-170 ms like him
        cast(FieldHead, model.heads[0]).out.bias[:DENSE_DELTAS] += 8.0
    source = f"random weights, ModelConfig defaults (delta head biased to gaps < {DENSE_DELTAS * 10} ms: Tatum-dense)"
    return BenchModel(model.to(device), Tokenizer(), list(DEFAULT_STYLES), source)


def dense_prompt(n: int, start_s: float = 0.0, seed: int = 0) -> list[Note]:
    """A Tatum-dense texture: ~11 notes/s, runs in the right hand over a stride left hand, some chords."""
    rng = np.random.default_rng(seed)
    notes: list[Note] = []
    t = start_s
    pitch = 72
    while len(notes) < n:
        beat = len(notes) // 4
        if len(notes) % 4 == 0:  # stride: bass note, then a mid chord tone on the off-beat
            notes.append(Note(round(t, 3), 0.25, 36 + (beat * 5) % 12, 80))
        else:
            pitch = int(np.clip(pitch + rng.integers(-4, 5), 60, 96))
            notes.append(Note(round(t, 3), 0.12, pitch, int(rng.integers(55, 100))))
        t += float(rng.choice([0.0, 0.09, 0.09, 0.12]))
    return notes[:n]
