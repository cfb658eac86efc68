"""Linear estimators by name: one registry (in the style of CEBRA's) of scikit-learn pipelines.

``estimator("ridge", alphas=...)`` is a ``StandardScaler`` + ``RidgeCV`` pipeline, its penalty
chosen by RidgeCV's efficient leave-one-out; :func:`ridge_path` gives the out-of-fold outputs of
the same estimator for every penalty on the caller's gap-aware inner folds at once (how the ridge
decoder and CalM's hybrid head choose theirs). The ridge decoder, the chance level of
``calm decode`` and the embedding probes all use it. Discrete targets are regressed
one-hot and read out by :func:`nearest` class centroid, so unbalanced classes do not pull every
prediction toward the majority class.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from src_models.errors import CalmError

_ESTIMATORS: dict[str, Callable[..., Any]] = {}


def register(name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register an estimator factory under ``name`` (a decorator)."""

    def add(factory: Callable[..., Any]) -> Callable[..., Any]:
        _ESTIMATORS[name] = factory
        return factory

    return add


def estimator(name: str, **kwargs: Any) -> Any:
    """A new, unfitted scikit-learn estimator registered as ``name``, made with ``kwargs``."""
    if name not in _ESTIMATORS:
        raise CalmError(f"unknown linear estimator {name!r} (known: {', '.join(sorted(_ESTIMATORS))})")
    return _ESTIMATORS[name](**kwargs)


@register("ridge")
def ridge(alphas: Sequence[float], per_target: bool = False) -> Any:
    """Standardised inputs, then ridge with the penalty among ``alphas`` of the least leave-one-out
    error (``per_target``: one penalty per target column)."""
    from sklearn.linear_model import RidgeCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), RidgeCV(alphas=np.asarray(alphas, float), alpha_per_target=per_target))


def ridge_path(X: np.ndarray, Y: np.ndarray, folds: Sequence[tuple[np.ndarray, np.ndarray]],
               alphas: np.ndarray) -> np.ndarray:
    """Out-of-fold outputs ``(len(alphas), n, k)`` of ``estimator("ridge")`` for every penalty at once.

    One eigendecomposition of the standardised Gram matrix per ``(train, test)`` fold of ``folds``
    (row indices of ``X`` and of the ``(n, k)`` targets ``Y``) gives the closed-form ridge of every
    penalty; samples in no test fold stay 0.
    """
    out = np.zeros((len(alphas), *Y.shape))
    for tr, va in folds:
        mu, sd = X[tr].mean(0), X[tr].std(0)
        sd[sd == 0] = 1.0
        Z, ym = (X[tr] - mu) / sd, Y[tr].mean(0)
        e, V = np.linalg.eigh(Z.T @ Z)
        b, P = V.T @ (Z.T @ (Y[tr] - ym)), ((X[va] - mu) / sd) @ V
        for i, a in enumerate(alphas):
            out[i, va] = P @ (b / (np.maximum(e, 0) + a)[:, None]) + ym
    return out


def fold_losses(outputs: np.ndarray, Y: np.ndarray, folds: Sequence[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """Squared error of ``outputs`` (``(..., n, k)``, e.g. :func:`ridge_path`'s) on each test fold, averaged
    over folds (scikit-learn's cross-validated ``neg_mean_squared_error``, negated)."""
    return np.mean([np.mean((outputs[..., va, :] - Y[va]) ** 2, axis=(-2, -1)) for _, va in folds], axis=0)


def centroids(out: np.ndarray, y: np.ndarray, n_classes: int) -> np.ndarray:
    """``(n_classes, k)`` mean output of the training samples of each class (absent: never nearest)."""
    rows = [out[y == c].mean(0) if np.any(y == c) else np.full(out.shape[1], np.inf) for c in range(n_classes)]
    return np.stack(rows)


def nearest(out: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """Index of the nearest centroid of each row of ``out``."""
    return ((out[:, None, :] - centres[None]) ** 2).sum(-1).argmin(1)
