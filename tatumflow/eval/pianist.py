"""Who is playing? A pianist classifier over 15 s excerpts, an ear independent of the critic (never trained on the
model's output, so the tuning cannot game it).

Features of an excerpt (snapped to the 10 ms grid, `pianist_features`): the texture discriminator's view (the
texture measures and the IOI, duration, top-line interval and register histograms: `eval.discriminator`), plus the
interval content of the chords (each onset's intervals above its lowest note, folded into 13 classes: seconds ..
sevenths, octaves, and tenths and wider across the hands), velocity (mean, spread, an 8-bin histogram), notes per
second and the pitch mean and spread. Model: multinomial logistic regression (L2) on standardised features, trained
by full-batch L-BFGS. Saved as safetensors (weights, mean, scale) + JSON (the pianists, the held-out accuracy);
nothing is pickled.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file

from ..notes import Note
from .discriminator import feature_vector, shares
from .metrics import onset_groups
from .texture import TEXTURE_ONSET_S, snap_to_grid, texture_measures

WEIGHTS, CONFIG, FORMAT = "pianist.safetensors", "pianist.json", "tatumflow-pianist-1"
VELOCITY_EDGES = np.linspace(0, 128, 9)
INTERVAL_CLASSES = 13  # 1..11 semitones, the octave, wider than an octave (tenths and across the hands)


def chord_intervals(notes: Sequence[Note]) -> np.ndarray:
    """Shares of the interval classes of every onset's notes above its lowest (see the module)."""
    counts = np.zeros(INTERVAL_CLASSES)
    for group in onset_groups(notes, TEXTURE_ONSET_S):
        low = min(n.pitch for n in group)
        for n in group:
            gap = n.pitch - low
            if gap > 0:
                counts[min(gap, 13) - 1] += 1
    return counts / counts.sum() if counts.sum() else counts


def pianist_features(notes: Sequence[Note], seconds: float, grid_s: float = 0.01) -> np.ndarray:
    """The feature vector of one excerpt (NaN where a measure has nothing to read; standardising zeroes it)."""
    view = snap_to_grid(notes, grid_s)
    base = feature_vector(view, texture_measures(view, grid_s))
    velocity = np.array([n.velocity for n in view], dtype=float)
    pitch = np.array([n.pitch for n in view], dtype=float)
    extra = [velocity.mean() if len(view) else math.nan, velocity.std() if len(view) else math.nan,
             len(view) / seconds, pitch.mean() if len(view) else math.nan, pitch.std() if len(view) else math.nan]
    return np.concatenate([base, chord_intervals(view), shares(velocity, VELOCITY_EDGES), extra]).astype(float)


@dataclass
class PianistClassifier:
    pianists: list[str]
    weight: torch.Tensor  # [F, K]
    bias: torch.Tensor  # [K]
    mean: torch.Tensor  # [F]
    scale: torch.Tensor  # [F]
    meta: dict[str, Any]

    def log_probs(self, x: np.ndarray) -> np.ndarray:
        z = (torch.as_tensor(np.nan_to_num(np.asarray(x, dtype=float)), dtype=torch.float32) - self.mean) / self.scale
        z = torch.nan_to_num(z)
        return F.log_softmax(z @ self.weight + self.bias, dim=-1).numpy()

    def predict(self, x: np.ndarray) -> list[str]:
        return [self.pianists[i] for i in self.log_probs(x).argmax(axis=-1)]

    def share_of(self, pianist: str, x: np.ndarray) -> float:
        """The share of rows attributed to `pianist` (NaN for none)."""
        return float(np.mean([p == pianist for p in self.predict(x)])) if len(x) else math.nan


def fit_pianists(x: np.ndarray, labels: Sequence[str], l2: float = 1e-3, max_iter: int = 200) -> PianistClassifier:
    """Multinomial logistic regression on standardised features (NaN as the mean)."""
    pianists = sorted(set(labels))
    y = torch.tensor([pianists.index(name) for name in labels])
    x_t = torch.as_tensor(np.asarray(x, dtype=float), dtype=torch.float32)
    mean = torch.nanmean(x_t, dim=0).nan_to_num()
    filled = torch.where(torch.isnan(x_t), mean, x_t)
    scale = filled.std(dim=0).clamp(min=1e-6)
    z = (filled - mean) / scale
    weight = torch.zeros(z.shape[1], len(pianists), requires_grad=True)
    bias = torch.zeros(len(pianists), requires_grad=True)
    opt = torch.optim.LBFGS([weight, bias], max_iter=max_iter, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = F.cross_entropy(z @ weight + bias, y) + l2 * (weight**2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    return PianistClassifier(pianists, weight.detach(), bias.detach(), mean, scale, {})


def save_pianist(clf: PianistClassifier, path: str | Path) -> Path:
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    tensors = {"weight": clf.weight, "bias": clf.bias, "mean": clf.mean, "scale": clf.scale}
    save_file({k: v.contiguous().float() for k, v in tensors.items()}, str(path / WEIGHTS), metadata={"format": FORMAT})
    config = {"format": FORMAT, "pianists": clf.pianists, "meta": clf.meta}
    (path / CONFIG).write_text(json.dumps(config, indent=1, ensure_ascii=False), encoding="utf-8")
    return path


def load_pianist(path: str | Path) -> PianistClassifier:
    path = Path(path)
    if not (path / CONFIG).is_file() or not (path / WEIGHTS).is_file():
        raise ValueError(f"pianist classifier {path}: needs {CONFIG} and {WEIGHTS}")
    try:
        config = json.loads((path / CONFIG).read_text(encoding="utf-8"))
        if config.get("format") != FORMAT:
            raise ValueError(f"format {config.get('format')!r}, expected {FORMAT!r}")
        t = load_file(str(path / WEIGHTS))
        clf = PianistClassifier(list(config["pianists"]), t["weight"], t["bias"], t["mean"], t["scale"],
                                dict(config.get("meta", {})))
        if tuple(clf.weight.shape) != (len(clf.mean), len(clf.pianists)) or clf.bias.shape[0] != len(clf.pianists):
            raise ValueError("tensor shapes do not match the pianists")
    except (KeyError, TypeError, ValueError, json.JSONDecodeError) as err:
        raise ValueError(f"pianist classifier {path}: cannot load ({str(err)[:200]})") from err
    return clf
