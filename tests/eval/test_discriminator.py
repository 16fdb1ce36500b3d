"""The real-vs-generated discriminator: features, logistic regression, ROC AUC, folds by recording."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tatumflow.eval import discriminator as d
from tatumflow.eval.texture import TEXTURE_KEYS, texture_measures
from tatumflow.notes import Note


def two_classes(shift: float, n_groups: int = 30, per_group: int = 4, seed: int = 0):
    """Features of `n_groups` recordings, each with `per_group` real (0) and generated (1) rows; generated rows
    moved by `shift` in the first two features."""
    rng = np.random.default_rng(seed)
    x, y, groups = [], [], []
    for g in range(n_groups):
        for label in (0, 1):
            rows = rng.normal(size=(per_group, 6))
            rows[:, :2] += label * shift
            x.append(rows)
            y += [label] * per_group
            groups += [f"rec{g}"] * per_group
    return np.vstack(x), np.array(y, dtype=float), groups


def test_roc_auc_known_values():
    assert d.roc_auc(np.array([0.1, 0.4, 0.35, 0.8]), np.array([0, 0, 1, 1])) == pytest.approx(0.75)
    assert d.roc_auc(np.array([0.5, 0.5, 0.5]), np.array([0, 1, 1])) == pytest.approx(0.5)  # ties count half
    assert d.roc_auc(np.array([3.0, 1.0]), np.array([1, 0])) == 1.0
    assert math.isnan(d.roc_auc(np.array([1.0, 2.0]), np.array([1, 1])))


def test_logistic_regression_reaches_its_optimum():
    x, y, _ = two_classes(1.0)
    w = d.fit_logistic(x, y, l2=1.0)
    p = 1 / (1 + np.exp(-d.decision(x, w)))
    grad = np.hstack([x, np.ones((len(x), 1))]).T @ (p - y) + np.r_[w[:-1], 0.0]
    assert np.abs(grad).max() < 1e-6
    assert w[0] > 0.5 and w[1] > 0.5 and np.abs(w[2:-1]).max() < 0.5  # the informative features carry it
    separable = d.fit_logistic(np.array([[-1.0], [1.0]]), np.array([0.0, 1.0]), l2=1e-3)
    assert np.all(np.isfinite(separable)) and separable[0] > 1  # regularised: finite even when separable


def test_folds_never_split_a_recording():
    groups = [f"rec{i % 7}" for i in range(50)]
    folds = d.recording_folds(groups, 5, seed=3)
    for g in set(groups):
        assert len({f for f, h in zip(folds, groups) if h == g}) == 1
    assert set(folds.tolist()) == set(range(5))
    assert set(d.recording_folds(["a", "b", "a"], 5).tolist()) == {0, 1}  # no more folds than recordings


def test_separable_classes_are_told_apart():
    x, y, groups = two_classes(4.0)
    assert d.cross_validated_auc(x, y, groups) > 0.99


def test_one_distribution_twice_is_not():
    aucs = [d.cross_validated_auc(*two_classes(0.0, seed=s)) for s in range(3)]
    assert all(0.3 < a < 0.65 for a in aucs), aucs


def test_too_few_recordings_or_classes_give_nan():
    x, y, _ = two_classes(4.0, n_groups=2)
    assert math.isnan(d.cross_validated_auc(x, y, ["one"] * len(y)))
    assert math.isnan(d.cross_validated_auc(x, np.zeros(len(y)), [f"r{i}" for i in range(len(y))]))
    with pytest.raises(ValueError, match="one label"):
        d.cross_validated_auc(x, y[:-1], ["one"] * len(y))


def test_standardise_uses_the_training_rows_and_fills_missing_values():
    train = np.array([[1.0, 5.0, np.nan], [3.0, 5.0, 2.0]])
    test = np.array([[2.0, 7.0, np.nan]])
    train_z, test_z = d.standardise(train, test)
    assert train_z[:, 0].tolist() == [-1.0, 1.0] and test_z[0, 0] == 0.0
    assert train_z[:, 1].tolist() == [0.0, 0.0] and test_z[0, 1] == 2.0  # constant column: std taken as 1
    assert train_z[0, 2] == 0.0 and test_z[0, 2] == 0.0


def test_feature_vector_layout():
    notes = [Note(0.0, 0.2, 48, 60), Note(0.0, 0.2, 60, 60), Note(0.25, 0.1, 64, 70), Note(0.5, 3.0, 67, 80)]
    v = d.feature_vector(notes, texture_measures(notes))
    names = d.feature_names()
    assert v.shape == (len(names),)
    hist = dict(zip(names, v))
    for prefix in ("ioi_bin", "duration_bin", "interval_bin", "register_bin"):
        assert sum(x for k, x in hist.items() if k.startswith(prefix)) == pytest.approx(1.0)
    assert hist["register_bin2"] == pytest.approx(0.25) and hist["register_bin3"] == pytest.approx(0.75)  # C3; C4-G4
    assert hist["interval_bin6"] == pytest.approx(1.0)  # top line C4 -> E4 -> G4: +4, +3
    assert hist["notes_per_onset"] == pytest.approx(4 / 3)
    empty = d.feature_vector([], texture_measures([]))
    assert empty.shape == v.shape and np.all(empty[len(TEXTURE_KEYS):] == 0)
