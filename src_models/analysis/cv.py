"""Cross-validation for autocorrelated recordings: contiguous blocks or whole trials with a gap.

Test sets are contiguous in time and every training sample within ``gap`` frames of a test sample
is dropped, so no training input window overlaps a test one when ``gap`` >= the context length.
Chance level comes from circularly shifted labels (:func:`circular_shifts`), which keep the labels'
autocorrelation and break only their alignment with the activity.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from src_models.errors import CalmError


@dataclass(frozen=True)
class Fold:
    """One train/test split.

    Attributes
    ----------
    train, test : ndarray
        Integer indices into the samples (frames or trials), sorted.
    """

    train: np.ndarray
    test: np.ndarray


def _edges(n: int, n_folds: int) -> np.ndarray:
    return np.round(np.linspace(0, n, n_folds + 1)).astype(int)


def _far_from(sample_frames: np.ndarray, test_lo: np.ndarray, test_hi: np.ndarray,
             gap: int) -> np.ndarray:
    """Boolean mask of samples whose frame span ``[lo, hi]`` is > ``gap`` frames from every test span."""
    lo, hi = sample_frames
    keep = np.ones(len(lo), bool)
    for a, b in zip(test_lo, test_hi):
        keep &= (lo > b + gap) | (hi < a - gap)
    return keep


def block_folds(frames: int | np.ndarray, n_folds: int = 5, gap: int = 48,
                min_train: int = 1) -> list[Fold]:
    """Contiguous-block K-fold over frames with ``gap`` frames dropped on each side of the test block.

    Parameters
    ----------
    frames : int or ndarray
        Number of frames, or the sorted frame index of every sample (samples may skip frames, e.g.
        frames outside trials or before the first full context window).
    n_folds : int
        Number of contiguous test blocks (each sample is tested exactly once).
    gap : int
        Training samples at frame ``t`` satisfy ``|t - s| > gap`` for every test frame ``s``.
    min_train : int
        Refuse splits leaving fewer training samples than this in some fold.

    Returns
    -------
    list of Fold
        Indices into the samples.
    """
    frame = np.arange(frames) if np.ndim(frames) == 0 else np.asarray(frames, np.int64)
    n = len(frame)
    if n_folds < 2:
        raise CalmError(f"cross-validation needs at least 2 folds, got {n_folds}")
    if gap < 0:
        raise CalmError(f"the gap between train and test must be >= 0 frames, got {gap}")
    if n < n_folds:
        raise CalmError(f"{n} frames cannot be split into {n_folds} folds")
    if np.any(np.diff(frame) <= 0):
        raise CalmError("sample frames must be strictly increasing for block cross-validation")
    edges = _edges(n, n_folds)
    idx = np.arange(n)
    folds = []
    for k in range(n_folds):
        a, b = edges[k], edges[k + 1]
        lo, hi = frame[a], frame[b - 1]
        train = idx[(frame < lo - gap) | (frame > hi + gap)]
        if len(train) < min_train:
            raise CalmError(
                f"{n} frames are too few for {n_folds} folds with a {gap}-frame gap "
                f"(fold {k + 1} keeps {len(train)} training frames, needs {min_train})"
            )
        folds.append(Fold(train=train, test=idx[a:b]))
    return folds


def trial_folds(start_frame: np.ndarray, end_frame: np.ndarray, n_folds: int = 5, gap: int = 48,
                labels: np.ndarray | None = None) -> list[Fold]:
    """K-fold over whole trials: runs of consecutive trials as test sets, gap-separated from training.

    A trial trains a fold only if all its frames lie more than ``gap`` frames from every test trial.

    Parameters
    ----------
    start_frame, end_frame : ndarray
        ``(n_trials,)`` frame bounds, end exclusive.
    n_folds : int
        Number of folds (each trial is tested exactly once).
    gap : int
        Minimum frame distance between training and test trials.
    labels : ndarray, optional
        Class labels; when given, every fold must keep at least one training trial of every class.

    Returns
    -------
    list of Fold
        Indices into the original trial order.
    """
    start = np.asarray(start_frame, np.int64)
    end = np.asarray(end_frame, np.int64)
    n = len(start)
    if n_folds < 2:
        raise CalmError(f"cross-validation needs at least 2 folds, got {n_folds}")
    if n < n_folds:
        raise CalmError(f"{n} trials cannot be split into {n_folds} folds")
    order = np.argsort(start, kind="stable")
    spans = np.stack([start, end - 1])
    edges = _edges(n, n_folds)
    folds = []
    for k in range(n_folds):
        test = np.sort(order[edges[k] : edges[k + 1]])
        keep = _far_from(spans, start[test], end[test] - 1, gap)
        keep[test] = False
        train = np.flatnonzero(keep)
        if len(train) == 0:
            raise CalmError(f"{n} trials are too few for {n_folds} folds with a {gap}-frame gap")
        if labels is not None:
            missing = set(np.unique(labels)) - set(np.unique(np.asarray(labels)[train]))
            if missing:
                raise CalmError(
                    f"fold {k + 1} of {n_folds} has no training trials of class "
                    f"{sorted(map(str, missing))}; use fewer folds or a recording with more trials"
                )
        folds.append(Fold(train=train, test=test))
    return folds


def circular_shifts(n: int, n_shifts: int, rng: np.random.Generator,
                    min_fraction: float = 0.1) -> np.ndarray:
    """Shift amounts for a circular-shift null, each at least ``min_fraction`` of ``n`` from 0 and n.

    Parameters
    ----------
    n, n_shifts : int
        Length of the label sequence and how many shifts.
    rng : numpy.random.Generator
    min_fraction : float
        Excluded band around zero shift, as a fraction of ``n``.

    Returns
    -------
    ndarray
        ``(n_shifts,)`` integers in ``[lo, n - lo]``; use ``np.roll(labels, s)``.
    """
    lo = max(1, int(np.ceil(min_fraction * n)))
    if n - lo < lo:
        raise CalmError(f"{n} samples are too few for a circular-shift control")
    return rng.integers(lo, n - lo + 1, size=n_shifts)
