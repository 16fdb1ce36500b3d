"""Percentiles as the reports and benchmarks print them: rounded to 3 decimals (µs for ms values), None for none."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def percentile(values: Sequence[float], q: float) -> float | None:
    """The `q`-th percentile (numpy's linear interpolation), rounded to 3 decimals; None when there are no values."""
    if not len(values):
        return None
    return round(float(np.percentile(np.asarray(values, dtype=float), q)), 3)


def percentiles(values: Sequence[float], prefix: str, qs: Sequence[int] = (50, 95, 99)) -> dict[str, float | None]:
    """`{prefix_p50: ..., prefix_p95: ...}`, each as `percentile` gives it."""
    return {f"{prefix}_p{q}": percentile(values, q) for q in qs}
