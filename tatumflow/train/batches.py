"""Augmented random crops of cached pieces, for training; consecutive windows, for validation.

Step arrays are `[B, T, 4]` int64 (delta, pitch, velocity bin, duration bin) with a mask `[B, T]` (False = padding,
whose steps are 0). Every crop starts fresh: its first delta is 0.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ..model.tokenizer import DELTA, DURATION, PITCH, VELOCITY, TokenizerConfig

if TYPE_CHECKING:
    from .data import CorpusIndex


@dataclass(frozen=True)
class Augment:
    """Per-crop random transposition, tempo stretch, articulation and velocity shift, on step arrays.

    Articulation: every duration of a crop moved by the same whole number of log-spaced bins (one bin is ~12 %),
    the gaps left alone, so that a crop played more legato or more detached than its pianist usually plays keeps
    its notes; a model trained on it reads a piece's note lengths from its context, not from the pianist's habit.
    """

    transpose_min: int = -5
    transpose_max: int = 6
    stretch_min: float = 0.95
    stretch_max: float = 1.05
    velocity_jitter: int = 1  # velocity bins, +- (one shift per crop)
    articulation_bins: int = 0  # duration bins, +- (one shift per crop, on top of the stretch's)

    def __post_init__(self) -> None:
        if not self.transpose_min <= 0 <= self.transpose_max:
            raise ValueError(
                f"need transpose_min <= 0 <= transpose_max, not {self.transpose_min}..{self.transpose_max}"
            )
        if not 0 < self.stretch_min <= self.stretch_max:
            raise ValueError(f"need 0 < stretch_min <= stretch_max, got {self.stretch_min}, {self.stretch_max}")
        if self.velocity_jitter < 0:
            raise ValueError(f"velocity_jitter must be >= 0, got {self.velocity_jitter}")
        if self.articulation_bins < 0:
            raise ValueError(f"articulation_bins must be >= 0, got {self.articulation_bins}")

    def apply(self, steps: np.ndarray, mask: np.ndarray, rng: np.random.Generator, config: TokenizerConfig) -> None:
        """Augment `steps` [B, T, 4] int64 in place; positions where `mask` [B, T] is False are left alone."""
        B: int = steps.shape[0]
        pitch = steps[..., PITCH]
        # Transposition, clamped per crop so that every pitch stays on the keyboard.
        low = np.where(mask, pitch, config.n_pitch).min(axis=1)  # [B]
        high = np.where(mask, pitch, -1).max(axis=1)  # [B]
        lo = np.maximum(self.transpose_min, -np.minimum(low, config.n_pitch - 1))
        hi = np.minimum(self.transpose_max, config.n_pitch - 1 - np.maximum(high, 0))
        shift = lo + np.floor(rng.random(B) * (hi - lo + 1)).astype(np.int64)  # uniform in lo..hi
        # Tempo stretch: gaps scaled, durations moved by whole log-spaced bins.
        stretch = rng.uniform(self.stretch_min, self.stretch_max, size=B)
        log_ratio = math.log(config.max_duration_s / config.min_duration_s) / (config.n_duration - 1)
        dur_shift = np.round(np.log(stretch) / log_ratio).astype(np.int64)
        vel_shift = rng.integers(-self.velocity_jitter, self.velocity_jitter + 1, size=B)
        if self.articulation_bins:
            dur_shift = dur_shift + rng.integers(-self.articulation_bins, self.articulation_bins + 1, size=B)
        new = np.empty_like(steps)
        new[..., PITCH] = pitch + shift[:, None]
        new[..., DELTA] = np.clip(np.round(steps[..., DELTA] * stretch[:, None]), 0, config.n_delta - 1)
        new[..., DURATION] = np.clip(steps[..., DURATION] + dur_shift[:, None], 0, config.n_duration - 1)
        new[..., VELOCITY] = np.clip(steps[..., VELOCITY] + vel_shift[:, None], 0, config.n_velocity - 1)
        np.copyto(steps, new, where=mask[..., None])


class StepDataset:
    """Random crops from a set of pieces, weighted by length (times an optional per-style factor)."""

    def __init__(
        self,
        index: CorpusIndex,
        piece_ids: Sequence[int],
        style_ids: np.ndarray,
        weights: Mapping[str, float] | None = None,
    ) -> None:
        self.index = index
        self.piece_ids = np.asarray(piece_ids, dtype=np.int64)
        self.style_ids = np.asarray(style_ids, dtype=np.int64)
        if len(self.style_ids) != len(index):
            raise ValueError(f"style_ids needs one id per piece ({len(index)}), got {len(self.style_ids)}")
        self.offsets = index.offsets[self.piece_ids]
        self.lengths = index.lengths[self.piece_ids]
        factor = np.array([(weights or {}).get(index.pieces[i].style, 1.0) for i in self.piece_ids], dtype=float)
        p = self.lengths * factor
        if len(p) == 0 or p.sum() <= 0:
            raise ValueError("no steps to sample from (empty piece set or zero weights)")
        self.probs = p / p.sum()

    def sample(
        self,
        batch_size: int,
        seq_len: int,
        rng: np.random.Generator,
        augment: Augment | None = None,
        style_dropout: float = 0.0,
    ) -> dict[str, np.ndarray]:
        """`steps` [B, T, 4] int64 (padding 0), `mask` [B, T] bool (False = padding), `style` [B] int64, `piece` [B]."""
        which = rng.choice(len(self.piece_ids), size=batch_size, p=self.probs)  # [B]
        lengths = self.lengths[which]
        starts = np.floor(rng.random(batch_size) * np.maximum(lengths - seq_len + 1, 1)).astype(np.int64)
        pos = np.arange(seq_len)
        mask = pos[None, :] < lengths[:, None]  # [B, T]
        rows = self.offsets[which, None] + starts[:, None] + np.minimum(pos[None, :], lengths[:, None] - 1)
        steps = np.asarray(self.index.steps[rows.ravel()], dtype=np.int64).reshape(batch_size, seq_len, 4)
        steps[~mask] = 0
        steps[:, 0, DELTA] = 0  # a crop starts fresh
        if augment is not None:
            augment.apply(steps, mask, rng, self.index.tokenizer_config)
        style = self.style_ids[self.piece_ids[which]].copy()
        style[rng.random(batch_size) < style_dropout] = 0
        return {"steps": steps, "mask": mask, "style": style, "piece": self.piece_ids[which]}


def sample_batch(
    index: CorpusIndex,
    piece_ids: Sequence[int],
    batch_size: int,
    seq_len: int,
    rng: np.random.Generator,
    augment: Augment | None,
    style_ids: np.ndarray,
    style_dropout: float,
    weights: Mapping[str, float] | None = None,
) -> dict[str, np.ndarray]:
    """One batch (see StepDataset.sample); build a StepDataset once instead when sampling many."""
    return StepDataset(index, piece_ids, style_ids, weights).sample(batch_size, seq_len, rng, augment, style_dropout)


def iter_windows(
    index: CorpusIndex,
    piece_ids: Sequence[int],
    batch_size: int,
    seq_len: int,
    style_ids: np.ndarray,
) -> Iterator[dict[str, np.ndarray]]:
    """Every piece cut into consecutive windows of `seq_len` (the last one padded), in fixed order: validation.

    Same keys as StepDataset.sample, plus `start` [B] (first step of the window in its piece); no augmentation.
    """
    windows = [(int(i), s) for i in piece_ids for s in range(0, index.pieces[int(i)].length, seq_len)]
    for b in range(0, len(windows), batch_size):
        chunk = windows[b : b + batch_size]
        steps = np.zeros((len(chunk), seq_len, 4), dtype=np.int64)
        mask = np.zeros((len(chunk), seq_len), dtype=bool)
        for row, (i, start) in enumerate(chunk):
            part = index.piece_steps(i)[start : start + seq_len]
            steps[row, : len(part)] = part
            mask[row, : len(part)] = True
        steps[:, 0, DELTA] = 0
        pieces = np.array([i for i, _ in chunk], dtype=np.int64)
        starts = np.array([s for _, s in chunk], dtype=np.int64)
        yield {"steps": steps, "mask": mask, "style": style_ids[pieces].copy(), "piece": pieces, "start": starts}
