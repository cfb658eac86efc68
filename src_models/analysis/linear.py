"""Linear estimators by name: one registry (in the style of CEBRA's) of scikit-learn pipelines.

``estimator("ridge", alphas=..., cv=folds)`` is a ``StandardScaler`` + ``RidgeCV`` pipeline: the
penalty is chosen on ``cv``, the gap-aware inner folds of the caller as ``(train, test)`` index
pairs, or (``cv=None``) by RidgeCV's efficient leave-one-out. The ridge decoder, the chance
level of ``calm decode`` and the embedding probes all use it. Discrete targets are regressed
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
def ridge(alphas: Sequence[float], cv: Sequence[tuple[np.ndarray, np.ndarray]] | None = None,
          per_target: bool = False) -> Any:
    """Standardised inputs, then ridge with the penalty among ``alphas`` of the least error on ``cv``.

    ``per_target`` chooses one penalty per target column (leave-one-out only, ``cv=None``).
    """
    from sklearn.linear_model import RidgeCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    scoring = None if cv is None else "neg_mean_squared_error"
    return make_pipeline(StandardScaler(), RidgeCV(alphas=np.asarray(alphas, float), cv=cv, scoring=scoring,
                                                   alpha_per_target=per_target))


def centroids(out: np.ndarray, y: np.ndarray, n_classes: int) -> np.ndarray:
    """``(n_classes, k)`` mean output of the training samples of each class (absent: never nearest)."""
    rows = [out[y == c].mean(0) if np.any(y == c) else np.full(out.shape[1], np.inf) for c in range(n_classes)]
    return np.stack(rows)


def nearest(out: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """Index of the nearest centroid of each row of ``out``."""
    return ((out[:, None, :] - centres[None]) ** 2).sum(-1).argmin(1)
