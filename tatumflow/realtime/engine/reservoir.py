"""A bounded sample for per-message measures (send lateness, beat alignment): flat memory, unbiased percentiles."""

from __future__ import annotations

import random


class Reservoir(list):
    """A list for a per-message measure: the first `capacity` values, then a uniform random sample of all of them
    (Vitter's algorithm R), so that percentiles stay unbiased and memory stays flat over a session of any length."""

    def __init__(self, capacity: int = 20_000, seed: int = 0) -> None:
        super().__init__()
        self.capacity, self.seen = capacity, 0
        self._rng = random.Random(seed)

    def append(self, value: float) -> None:
        self.seen += 1
        if len(self) < self.capacity:
            super().append(value)
            return
        j = self._rng.randrange(self.seen)
        if j < self.capacity:
            self[j] = value
