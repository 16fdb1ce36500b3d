"""Who is playing? A pianist classifier over 15 s excerpts, an ear independent of the critic (never trained on the
model's output, so the tuning cannot game it).

Features of an excerpt (snapped to the 10 ms grid, `pianist_features`): the texture discriminator's view (the
texture measures and the IOI, duration, top-line interval and register histograms: `eval.discriminator`), plus the
interval content of the chords (each onset's intervals above its lowest note, folded into 13 classes: seconds ..
sevenths, octaves, and tenths and wider across the hands), velocity (mean, spread, an 8-bin histogram), notes per
second and the pitch mean and spread; chord sizes, finer inter-onset intervals, the top and bass lines' steps and a
finer register histogram (`line_features`). Model: multinomial logistic regression (L2, full-batch L-BFGS) or one
hidden layer (`fit_pianists(hidden=...)`) on standardised features. Saved as safetensors (layers, mean, scale) +
JSON (the pianists, the held-out accuracy); nothing is pickled.
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
from .folder import read_config
from .metrics import onset_groups
from .texture import TEXTURE_ONSET_S, snap_to_grid, texture_measures

WEIGHTS, CONFIG, FORMAT = "pianist.safetensors", "pianist.json", "tatumflow-pianist-1"
VELOCITY_EDGES = np.linspace(0, 128, 9)
CHORD_SIZE_EDGES = np.array([0.5, 1.5, 2.5, 3.5, 4.5, 5.5, 99])
FINE_IOI_EDGES_S = np.geomspace(0.035, 2.0, 17)
STEP_EDGES = np.arange(-12.5, 13.0)  # melodic steps of the top and bass lines, -12..12 semitones (wider clipped)
FINE_REGISTER_EDGES = np.linspace(21, 109, 13)
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


def line_features(notes: Sequence[Note]) -> np.ndarray:
    """Chord sizes, fine inter-onset intervals, the top and bass lines' steps, a fine register histogram."""
    groups = onset_groups(notes, TEXTURE_ONSET_S)
    starts = [g[0].onset_s for g in groups]
    top = [max(n.pitch for n in g) for g in groups]
    bass = [min(n.pitch for n in g) for g in groups]
    return np.concatenate([shares([len(g) for g in groups], CHORD_SIZE_EDGES),
                           shares(np.diff(starts), FINE_IOI_EDGES_S), shares(np.diff(top), STEP_EDGES),
                           shares(np.diff(bass), STEP_EDGES), shares([n.pitch for n in notes], FINE_REGISTER_EDGES)])


def pianist_features(notes: Sequence[Note], seconds: float, grid_s: float = 0.01) -> np.ndarray:
    """The feature vector of one excerpt (NaN where a measure has nothing to read; standardising zeroes it)."""
    view = snap_to_grid(notes, grid_s)
    base = np.concatenate([feature_vector(view, texture_measures(view, grid_s)), line_features(view)])
    velocity = np.array([n.velocity for n in view], dtype=float)
    pitch = np.array([n.pitch for n in view], dtype=float)
    extra = [velocity.mean() if len(view) else math.nan, velocity.std() if len(view) else math.nan,
             len(view) / seconds, pitch.mean() if len(view) else math.nan, pitch.std() if len(view) else math.nan]
    return np.concatenate([base, chord_intervals(view), shares(velocity, VELOCITY_EDGES), extra]).astype(float)


@dataclass
class PianistClassifier:
    """Standardise, then the layers (ReLU between them): one layer is logistic regression, two a small MLP."""

    pianists: list[str]
    layers: list[tuple[torch.Tensor, torch.Tensor]]  # (weight [in, out], bias [out])
    mean: torch.Tensor  # [F]
    scale: torch.Tensor  # [F]
    meta: dict[str, Any]

    def logits(self, z: torch.Tensor) -> torch.Tensor:
        for i, (w, b) in enumerate(self.layers):
            z = z @ w + b
            if i < len(self.layers) - 1:
                z = torch.relu(z)
        return z

    def log_probs(self, x: np.ndarray) -> np.ndarray:
        z = (torch.as_tensor(np.asarray(x, dtype=float), dtype=torch.float32) - self.mean) / self.scale
        with torch.no_grad():
            return F.log_softmax(self.logits(torch.nan_to_num(z)), dim=-1).numpy()

    def predict(self, x: np.ndarray) -> list[str]:
        return [self.pianists[i] for i in self.log_probs(x).argmax(axis=-1)] if len(x) else []

    def share_of(self, pianist: str, x: np.ndarray) -> float:
        """The share of rows attributed to `pianist` (NaN for none)."""
        return float(np.mean([p == pianist for p in self.predict(x)])) if len(x) else math.nan


def fit_pianists(x: np.ndarray, labels: Sequence[str], l2: float = 1e-3, hidden: int = 0, epochs: int = 300,
                 seed: int = 0) -> PianistClassifier:
    """Multinomial logistic regression (hidden 0; L-BFGS) or one hidden layer of `hidden` units (AdamW, dropout),
    on standardised features (NaN as the mean)."""
    pianists = sorted(set(labels))
    y = torch.tensor([pianists.index(name) for name in labels])
    x_t = torch.as_tensor(np.asarray(x, dtype=float), dtype=torch.float32)
    mean = torch.nanmean(x_t, dim=0).nan_to_num()
    filled = torch.where(torch.isnan(x_t), mean, x_t)
    scale = filled.std(dim=0).nan_to_num().clamp(min=1e-6)
    z = (filled - mean) / scale
    torch.manual_seed(seed)
    sizes = [z.shape[1], *([hidden] if hidden else []), len(pianists)]
    layers = [((torch.randn(a, b) * (0 if not hidden else (2 / a) ** 0.5)).requires_grad_(),
               torch.zeros(b, requires_grad=True)) for a, b in zip(sizes, sizes[1:])]
    clf = PianistClassifier(pianists, layers, mean, scale, {})
    params = [t for layer in layers for t in layer]
    if not hidden:
        opt = torch.optim.LBFGS(params, max_iter=epochs, line_search_fn="strong_wolfe")

        def closure() -> torch.Tensor:
            opt.zero_grad()
            loss = F.cross_entropy(clf.logits(z), y) + l2 * (layers[0][0] ** 2).sum()
            loss.backward()
            return loss

        opt.step(closure)
    else:
        adam = torch.optim.AdamW(params, lr=3e-3, weight_decay=l2)
        for _ in range(epochs):
            adam.zero_grad()
            F.cross_entropy(clf.logits(F.dropout(z, 0.2)), y).backward()
            adam.step()
    clf.layers = [(w.detach(), b.detach()) for w, b in layers]
    return clf


def save_pianist(clf: PianistClassifier, path: str | Path) -> Path:
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    tensors = {"mean": clf.mean, "scale": clf.scale}
    for i, (w, b) in enumerate(clf.layers):
        tensors[f"weight{i}"], tensors[f"bias{i}"] = w, b
    save_file({k: v.contiguous().float() for k, v in tensors.items()}, str(path / WEIGHTS), metadata={"format": FORMAT})
    config = {"format": FORMAT, "pianists": clf.pianists, "layers": len(clf.layers), "meta": clf.meta}
    (path / CONFIG).write_text(json.dumps(config, indent=1, ensure_ascii=False), encoding="utf-8")
    return path


def load_pianist(path: str | Path) -> PianistClassifier:
    path = Path(path)
    config = read_config(path, "pianist classifier", CONFIG, WEIGHTS, FORMAT)
    try:
        t = load_file(str(path / WEIGHTS))
        layers = [(t[f"weight{i}"], t[f"bias{i}"]) for i in range(int(config["layers"]))]
        clf = PianistClassifier(list(config["pianists"]), layers, t["mean"], t["scale"], dict(config.get("meta", {})))
        width = len(clf.mean)
        for w, b in layers:
            if w.shape[0] != width or b.shape[0] != w.shape[1]:
                raise ValueError("tensor shapes do not chain")
            width = w.shape[1]
        if width != len(clf.pianists):
            raise ValueError("the last layer does not match the pianists")
    except (KeyError, TypeError, ValueError, json.JSONDecodeError) as err:
        raise ValueError(f"pianist classifier {path}: cannot load ({str(err)[:200]})") from err
    return clf
