"""Decoding scores: R² and Pearson r for continuous targets, balanced accuracy for discrete ones.

Definitions follow Glaser et al. (eNeuro 2020, ``KordingLab/Neural_Decoding`` ``get_R2`` /
``get_rho``): ``R² = 1 − Σ(ŷ − y)² / Σ(y − ȳ)²`` with ``ȳ`` the mean of the *test* targets, so a
decoder that only predicts the training mean scores ≤ 0. Balanced accuracy is the mean over the
classes present in ``y_true`` of the per-class recall (chance is ``1 / n_classes``).
"""

from __future__ import annotations

import numpy as np

from src_models.metrics import _pearson


def r2_score(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Coefficient of determination around the test mean (NaN for a constant target)."""
    y = np.asarray(y_true, np.float64).ravel()
    p = np.asarray(y_pred, np.float64).ravel()
    sst = float(((y - y.mean()) ** 2).sum())
    if sst <= 0:
        return float("nan")
    return float(1.0 - ((p - y) ** 2).sum() / sst)


def pearson_r(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Pearson correlation (NaN when either side is constant); the forecasting metrics' definition."""
    return float(_pearson(np.ravel(y_true).astype(np.float64), np.ravel(y_pred), axis=0))


def balanced_accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Mean per-class recall over the classes present in ``y_true``."""
    y = np.asarray(y_true).ravel()
    p = np.asarray(y_pred).ravel()
    classes = np.unique(y)
    if len(classes) == 0:
        return float("nan")
    return float(np.mean([np.mean(p[y == c] == c) for c in classes]))


def score(kind: str, y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """All scores of one prediction: ``{'r2', 'r'}`` (continuous) or ``{'balanced_accuracy'}``."""
    if kind == "continuous":
        return {"r2": r2_score(y_true, y_pred), "r": pearson_r(y_true, y_pred)}
    return {"balanced_accuracy": balanced_accuracy(y_true, y_pred)}


def headline_metric(kind: str) -> str:
    """The metric reported as the one score of a decoder: ``r2`` or ``balanced_accuracy``."""
    return "r2" if kind == "continuous" else "balanced_accuracy"
