"""A mock step backend: no weights, no torch model, instant. The engine, the CLI and tests run on it through the
same `ChunkedGenerator` (so window, rollback and constraint logic are the real ones)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from ..model.tokenizer import Tokenizer
from .constraints import StepConstraints
from .controls import Controls
from .generator import ChunkedGenerator
from .sampling import Draws


@dataclass
class MockCache:
    steps: list[tuple[int, ...]] = field(default_factory=lambda: [(0, 39, 16, 20)])  # start step
    fed: int = 0  # steps fed in total (for tests)


class MockBackend:
    """Plays a walking line near the last pitch: 120-250 ms apart, mid velocity, ~0.2 s notes."""

    def __init__(self, context_steps: int = 512, tokenizer: Tokenizer | None = None) -> None:
        self.tokenizer = tokenizer or Tokenizer()
        self.context_steps = context_steps

    def new_cache(self, lanes: int) -> MockCache:
        return MockCache()

    def cache_length(self, cache: MockCache) -> int:
        return len(cache.steps)

    def truncate(self, cache: MockCache, length: int) -> None:
        del cache.steps[max(length, 1) :]

    def compact(self, cache: MockCache, drop: int) -> None:
        del cache.steps[1 : 1 + drop]

    def feed(self, cache: MockCache, steps: np.ndarray, controls: Controls) -> None:
        cache.steps.extend(tuple(int(x) for x in s) for s in steps)
        cache.fed += len(steps)
        assert len(cache.steps) <= self.context_steps, "cache overflow"

    def sample(self, cache: MockCache, controls: Controls, c: StepConstraints,
               rng: torch.Generator | Draws) -> tuple[int, int, int, int]:
        r = torch.randint(0, 1 << 30, (3,), generator=Draws.generator(rng)).tolist()
        delta = max(c.spec.min_delta, 12 + r[0] % 14)
        delta = min(delta, self.tokenizer.config.n_delta - 1)
        last_pitch = cache.steps[-1][1]
        pitch = min(max(last_pitch + (r[1] % 9) - 4, c.spec.pitch_low), c.spec.pitch_high)
        duration = self.tokenizer.duration_bin(0.2)
        if c.spec.max_duration_bin is not None:
            duration = min(duration, c.spec.max_duration_bin)
        return delta, pitch, 12 + r[2] % 8, duration


def mock_generator(context_steps: int = 512) -> ChunkedGenerator:
    return ChunkedGenerator(MockBackend(context_steps))
