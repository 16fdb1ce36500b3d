"""A real-vs-generated discriminator: can a plain classifier tell a system's continuations from the real ones?

Each continuation (snapped to the grid, `texture.snap_to_grid`) becomes one feature vector (`feature_vector`): the
texture measures (`texture.TEXTURE_KEYS`) and four histograms, each as shares summing to 1 (all 0 when empty):

- IOI: gaps between consecutive onsets (35 ms groups), log-spaced bins from 35 ms to 2 s (longer gaps in the last);
- note duration: log-spaced bins from 10 ms to 4 s (coarser than the tokenizer's duration bins, so that their
  spacing gives nothing away);
- top-line interval: semitones from one onset's highest note to the next one's, in bands (-inf, -8], -7..-5, -4..-3,
  -2..-1, 0, 1..2, 3..4, 5..7, [8, inf);
- register: pitches in bands, A0-B1, then one octave from C2 to B6, then C7-C8.

The classifier is L2-regularised logistic regression on standardised features (mean and std of the training fold;
a missing value, NaN, becomes the training mean), fitted by Newton's method: it minimises the summed log-loss plus
`l2 / 2 * |w|^2` (the intercept is not penalised). `cross_validated_auc` scores every example with a model that did
not see its recording (folds by recording key: both transcriptions and every prompt of one recording share a fold)
and returns the ROC AUC of the pooled out-of-fold scores, generated = positive: 0.5 = indistinguishable, 1 = always
told apart. Cross-validated AUCs of two samples of one distribution scatter around, and tend to lie a little below,
0.5: a classifier fitted without a fold learns the opposite of that fold's chance differences.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from ..notes import Note
from .metrics import onset_groups
from .texture import TEXTURE_KEYS, TEXTURE_ONSET_S, top_line

IOI_EDGES_S = np.geomspace(TEXTURE_ONSET_S, 2.0, 11)
DURATION_EDGES_S = np.geomspace(0.01, 4.0, 13)
INTERVAL_EDGES = np.array([-88, -7.5, -4.5, -2.5, -0.5, 0.5, 2.5, 4.5, 7.5, 88])
REGISTER_EDGES = np.array([21, 36, 48, 60, 72, 84, 96, 109])


@dataclass(frozen=True)
class DiscriminatorConfig:
    l2: float = 1.0
    folds: int = 5
    seed: int = 0
    max_iter: int = 50

    def __post_init__(self) -> None:
        if not self.l2 > 0:
            raise ValueError(f"l2 must be > 0, got {self.l2}")
        if self.folds < 2 or self.max_iter < 1:
            raise ValueError(f"folds must be >= 2 and max_iter >= 1, got {self.folds}, {self.max_iter}")


# -- features --------------------------------------------------------------------------------------------------------
def shares(values: Sequence[float] | np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Histogram as shares over the bins between `edges`; values outside go to the first or last bin."""
    v = np.clip(np.asarray(values, dtype=float), edges[0], edges[-1])
    counts, _ = np.histogram(v, bins=edges)
    return counts / counts.sum() if counts.sum() else counts.astype(float)


def feature_names() -> list[str]:
    """One name per entry of `feature_vector`, in its order."""
    return [*TEXTURE_KEYS, *(f"ioi_bin{i}" for i in range(len(IOI_EDGES_S) - 1)),
            *(f"duration_bin{i}" for i in range(len(DURATION_EDGES_S) - 1)),
            *(f"interval_bin{i}" for i in range(len(INTERVAL_EDGES) - 1)),
            *(f"register_bin{i}" for i in range(len(REGISTER_EDGES) - 1))]


def feature_vector(notes: Sequence[Note], measures: Mapping[str, float]) -> np.ndarray:
    """The discriminator's view of one snapped continuation: `measures` (its `texture_measures`) and histograms."""
    starts = [g[0].onset_s for g in onset_groups(notes, TEXTURE_ONSET_S)]
    top = top_line(notes)
    return np.concatenate([
        [measures[k] for k in TEXTURE_KEYS],
        shares(np.diff(starts), IOI_EDGES_S),
        shares([n.duration_s for n in notes], DURATION_EDGES_S),
        shares(np.diff(top), INTERVAL_EDGES),
        shares([n.pitch for n in notes], REGISTER_EDGES),
    ]).astype(float)


# -- logistic regression ---------------------------------------------------------------------------------------------
def standardise(train: np.ndarray, test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both scaled by the training rows' mean and std (over their finite values); missing values become 0 (the
    mean), and a constant column all 0."""
    finite = np.isfinite(train)
    count = np.maximum(finite.sum(axis=0), 1)
    mean = np.where(finite, train, 0.0).sum(axis=0) / count
    std = np.sqrt(np.where(finite, (train - mean) ** 2, 0.0).sum(axis=0) / count)
    std = np.where(std > 0, std, 1.0)
    with np.errstate(invalid="ignore"):
        scaled = [np.nan_to_num((x - mean) / std, nan=0.0, posinf=0.0, neginf=0.0) for x in (train, test)]
    return scaled[0], scaled[1]


def _objective(z: np.ndarray, y: np.ndarray, w: np.ndarray, penalty: np.ndarray) -> float:
    margin = z @ w
    return float(np.sum(np.logaddexp(0.0, margin) - y * margin) + 0.5 * w @ (penalty * w))


def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float = 1.0, max_iter: int = 50) -> np.ndarray:
    """Weights (last = intercept) minimising the summed log-loss + l2/2 |w|^2 (Newton steps, halved until the
    objective falls)."""
    z = np.hstack([x, np.ones((len(x), 1))])  # z: [N, F + 1]
    penalty = np.full(z.shape[1], l2)
    penalty[-1] = 0.0
    w = np.zeros(z.shape[1])
    loss = _objective(z, y, w, penalty)
    for _ in range(max_iter):
        p = 0.5 * (1.0 + np.tanh(0.5 * (z @ w)))  # the logistic function, without overflow
        grad = z.T @ (p - y) + penalty * w
        hess = (z * (p * (1 - p))[:, None]).T @ z + np.diag(penalty + 1e-9)
        step = np.linalg.solve(hess, grad)
        for _ in range(30):
            new = _objective(z, y, w - step, penalty)
            if new <= loss:
                break
            step = step / 2
        else:
            break  # no step lowers the objective: at its minimum, up to rounding
        w = w - step
        if loss - new < 1e-10 * max(1.0, abs(loss)):
            break
        loss = new
    return w


def decision(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Log-odds that each row is generated."""
    return x @ w[:-1] + w[-1]


# -- validation ------------------------------------------------------------------------------------------------------
def roc_auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """ROC AUC (Mann-Whitney U / n1 n0, ties counted half) of `scores` for labels 1 vs 0; NaN without both."""
    labels = np.asarray(labels).astype(bool)
    n1, n0 = int(labels.sum()), int((~labels).sum())
    if not (n1 and n0):
        return math.nan
    _, inverse, counts = np.unique(np.asarray(scores, dtype=float), return_inverse=True, return_counts=True)
    average_rank = np.cumsum(counts) - (counts - 1) / 2  # 1-based rank of each distinct score, ties averaged
    ranks = average_rank[inverse]
    return float((ranks[labels].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def recording_folds(groups: Sequence[str], n_folds: int, seed: int = 0) -> np.ndarray:
    """Fold index per example: the distinct groups, shuffled by `seed`, dealt round-robin to min(n_folds, groups)
    folds, so that one group never spans two folds."""
    keys = sorted(set(groups))
    order = np.random.default_rng(seed).permutation(len(keys))
    fold_of = {keys[i]: rank % max(1, min(n_folds, len(keys))) for rank, i in enumerate(order)}
    return np.array([fold_of[g] for g in groups], dtype=int)


def cross_validated_auc(
    x: np.ndarray, y: np.ndarray, groups: Sequence[str], config: DiscriminatorConfig | None = None
) -> float:
    """Pooled out-of-fold ROC AUC, folds by group (see the module); NaN with fewer than two groups or one class."""
    config = config or DiscriminatorConfig()
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if len(x) != len(y) or len(y) != len(groups):
        raise ValueError(f"need one label and one group per row: {len(x)} rows, {len(y)} labels, {len(groups)} groups")
    folds = recording_folds(groups, config.folds, config.seed)
    if len(set(folds.tolist())) < 2 or len(set(y.tolist())) < 2:
        return math.nan
    scores = np.zeros(len(y))
    for k in sorted(set(folds.tolist())):
        test = folds == k
        train_z, test_z = standardise(x[~test], x[test])
        if len(set(y[~test].tolist())) < 2:
            scores[test] = 0.0  # a training side of one class: no information
            continue
        scores[test] = decision(test_z, fit_logistic(train_z, y[~test], config.l2, config.max_iter))
    return roc_auc(scores, y)
