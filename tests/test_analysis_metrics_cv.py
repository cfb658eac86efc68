"""Decoding scores on toy arrays and the cross-validation splitters (no leakage across the gap)."""

from __future__ import annotations

import numpy as np
import pytest

from src_models.analysis.cv import block_folds, circular_shifts, trial_folds
from src_models.analysis.scores import balanced_accuracy, pearson_r, r2_score, score
from src_models.errors import CalmError


def min_distance(train_frames: np.ndarray, test_frames: np.ndarray) -> int:
    """Smallest ``|t - s|`` between a training and a test frame (brute force)."""
    return int(np.abs(np.subtract.outer(np.asarray(train_frames), np.asarray(test_frames))).min())


def test_r2_and_pearson_on_toy_arrays():
    y = np.array([1.0, 2.0, 3.0, 4.0])
    assert r2_score(y, y) == 1.0
    assert r2_score(y, np.full(4, y.mean())) == 0.0
    # SSE = 4 * 1, SST = 5 -> 1 - 4/5
    assert r2_score(y, y + 1) == pytest.approx(0.2)
    assert pearson_r(y, 2 * y + 3) == pytest.approx(1.0)
    assert pearson_r(y, -y) == pytest.approx(-1.0)
    assert np.isnan(pearson_r(y, np.ones(4)))
    assert np.isnan(r2_score(np.ones(3), np.arange(3.0)))
    assert set(score("continuous", y, y)) == {"r2", "r"}


def test_r2_uses_the_test_mean_so_predicting_the_training_mean_scores_below_zero():
    y_test = np.array([5.0, 6.0, 7.0])
    assert r2_score(y_test, np.zeros(3)) < 0


def test_balanced_accuracy_on_toy_arrays():
    y = np.array([0, 0, 0, 0, 1, 1])
    assert balanced_accuracy(y, y) == 1.0
    assert balanced_accuracy(y, np.zeros(6, int)) == 0.5  # majority guess is chance, not 4/6
    assert balanced_accuracy(y, np.array([0, 0, 1, 1, 1, 0])) == pytest.approx((0.5 + 0.5) / 2)
    assert balanced_accuracy(
        np.array(["a", "b", "c"]), np.array(["a", "b", "b"])
    ) == pytest.approx(2 / 3)
    assert set(score("discrete", y, y)) == {"balanced_accuracy"}


@pytest.mark.parametrize("seed", range(12))
def test_block_folds_never_leak_across_the_gap(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(200, 2000))
    gap = int(rng.integers(0, 60))
    k = int(rng.integers(2, 7))
    frames = np.sort(rng.choice(5 * n, n, replace=False)) if seed % 2 else np.arange(n)
    folds = block_folds(frames, n_folds=k, gap=gap)
    tested = np.concatenate([f.test for f in folds])
    assert np.array_equal(np.sort(tested), np.arange(n))  # every sample tested exactly once
    for f in folds:
        assert len(np.intersect1d(f.train, f.test)) == 0
        assert min_distance(frames[f.train], frames[f.test]) > gap
        assert np.all(np.diff(f.test) == 1)  # contiguous test block
        # everything farther than the gap is used for training
        lo, hi = frames[f.test].min(), frames[f.test].max()
        far = np.maximum(lo - frames, frames - hi) > gap
        assert np.array_equal(np.flatnonzero(far), f.train)


@pytest.mark.parametrize("seed", range(8))
def test_trial_folds_keep_whole_trials_gap_separated(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(20, 120))
    length = rng.integers(20, 60, n)
    iti = rng.integers(5, 40, n)
    start = np.cumsum(np.r_[0, (length + iti)[:-1]]) + 10
    end = start + length
    gap = int(rng.integers(0, 80))
    order = rng.permutation(n)  # trial tables need not be sorted
    folds = trial_folds(start[order], end[order], n_folds=5, gap=gap)
    s, e = start[order], end[order]
    assert np.array_equal(np.sort(np.concatenate([f.test for f in folds])), np.arange(n))
    for f in folds:
        train_frames = np.concatenate([np.arange(s[i], e[i]) for i in f.train])
        test_frames = np.concatenate([np.arange(s[i], e[i]) for i in f.test])
        assert min_distance(train_frames, test_frames) > gap
        # test trials are consecutive in time
        ranks = np.argsort(np.argsort(s))
        assert np.ptp(ranks[f.test]) == len(f.test) - 1


def test_trial_folds_refuse_a_fold_without_some_class():
    start = np.arange(10) * 100
    labels = np.array([0, 0, 0, 0, 0, 1, 1, 1, 1, 1])
    with pytest.raises(CalmError, match="no training trials of class"):
        trial_folds(start, start + 50, n_folds=2, gap=10, labels=labels)


def test_splitters_refuse_bad_settings():
    with pytest.raises(CalmError, match="at least 2 folds"):
        block_folds(100, n_folds=1)
    with pytest.raises(CalmError, match="too few"):
        block_folds(100, n_folds=5, gap=200, min_train=10)
    with pytest.raises(CalmError, match="cannot be split"):
        trial_folds(np.arange(3), np.arange(3) + 1, n_folds=5)


def test_circular_shifts_avoid_small_shifts():
    rng = np.random.default_rng(0)
    s = circular_shifts(1000, 500, rng, min_fraction=0.1)
    assert s.min() >= 100 and s.max() <= 900
    with pytest.raises(CalmError):
        circular_shifts(3, 2, rng, min_fraction=0.5)
