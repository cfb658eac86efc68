"""Multivariate ridge regression on the last frames (a direct VAR forecaster).

Features are the last ``p`` frames of all neurons, the target the whole horizon of all neurons;
solved in closed form over a grid of lags, penalties and targets (level, or change from the last
frame, which shrinks towards copy-last), keeping the best on validation. The solver is the
engine's (:func:`src_models.dat.linear_skip.fit_ridge`, the VAR of ``calm forecast``'s skip path).
"""

from __future__ import annotations

import numpy as np

from src_models.bench.base import FitReport, Forecaster
from src_models.bench.registry import register
from src_models.bench.training import Budget
from src_models.bench.windows import WindowSet
from src_models.dat.linear_skip import RidgeFit, fit_ridge


@register("ridge_var")
class RidgeVAR(Forecaster):
    """Ridge VAR on the last ``p`` frames; ``p``, penalty and target chosen on validation.

    Parameters
    ----------
    max_features : int
        Largest ``p · N`` tried (bounds the Gram matrix).
    max_train_windows : int
        Training windows used (evenly spaced subset beyond this).
    """

    label = "Ridge VAR"
    family = "linear"
    deterministic = True

    def __init__(
        self, *, max_features: int = 3072, max_train_windows: int = 6000, **kwargs
    ) -> None:
        super().__init__(**kwargs)
        self.max_features = max_features
        self.max_train_windows = max_train_windows
        self.ridge: RidgeFit | None = None

    def fit(self, train: WindowSet, val: WindowSet, budget: Budget, seed: int) -> FitReport:
        train = train.subsample(self.max_train_windows)
        val = val.subsample(budget.max_val_windows)
        self.ridge = fit_ridge("var", train.contexts(), train.targets(), val.contexts(), val.targets(),
                               max_features=self.max_features)
        return FitReport(val_mse=self.ridge.val_mse, selected=self.ridge.report)

    def predict(self, context: np.ndarray) -> np.ndarray:
        if self.ridge is None:
            raise RuntimeError("ridge_var: predict() before fit()")
        return self.ridge.predict(context)

    @property
    def n_params(self) -> int:
        return 0 if self.ridge is None else int(self.ridge.coef.size + self.ridge.y_mean.size)
