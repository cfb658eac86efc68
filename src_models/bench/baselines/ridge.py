"""Multivariate ridge regression on the last frames (a direct VAR forecaster).

Features are the last ``p`` frames of all neurons, the target the whole horizon of all neurons;
solved in closed form over a grid of lags, penalties and targets (level, or change from the last
frame, which shrinks towards copy-last), keeping the best on validation.
"""

from __future__ import annotations

import numpy as np

from src_models.bench.base import FitReport, Forecaster
from src_models.bench.registry import register
from src_models.bench.training import Budget
from src_models.bench.windows import WindowSet

#: lags tried (capped by the context length and by ``max_features``)
LAGS = (1, 2, 4, 8, 16)
#: ridge penalty per training window (the penalty is ``lam · n_train``)
LAMBDAS = tuple(10.0 ** np.arange(-4, 2.5, 0.75))


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
        self.lag = 1
        self.delta = True
        self.coef: np.ndarray | None = None
        self.x_mean: np.ndarray | None = None
        self.y_mean: np.ndarray | None = None

    def _features(self, context: np.ndarray, lag: int) -> np.ndarray:
        return context[:, -lag:, :].reshape(len(context), -1).astype(np.float64)

    def _targets(self, windows: WindowSet, delta: bool) -> np.ndarray:
        y = windows.targets().astype(np.float64)
        if delta:
            y = y - windows.last()[:, None, :]
        return y.reshape(len(y), -1)

    def fit(self, train: WindowSet, val: WindowSet, budget: Budget, seed: int) -> FitReport:
        train = train.subsample(self.max_train_windows)
        val = val.subsample(budget.max_val_windows)
        n = train.n_neurons
        lags = [p for p in LAGS if p <= self.context and p * n <= self.max_features] or [1]
        ctx_tr, ctx_va = train.contexts(), val.contexts()
        y_va_true = val.targets().astype(np.float64).reshape(len(val), -1)
        last_va = np.repeat(val.last()[:, None, :], self.horizon, axis=1).reshape(len(val), -1)
        best = (np.inf, None)
        for lag in lags:
            X = self._features(ctx_tr, lag)
            xm = X.mean(0)
            Xc = X - xm
            Xv = self._features(ctx_va, lag) - xm
            small_primal = Xc.shape[1] <= Xc.shape[0]
            gram = Xc.T @ Xc if small_primal else Xc @ Xc.T
            evals, evecs = np.linalg.eigh(gram)
            evals = np.clip(evals, 0, None)
            for delta in (True, False):
                Y = self._targets(train, delta)
                ym = Y.mean(0)
                Yc = Y - ym
                # coef(alpha) = V diag(1/(l+alpha)) V^T Xc^T Yc  (primal)
                #             = Xc^T U diag(1/(l+alpha)) U^T Yc  (dual)
                if small_primal:
                    B = evecs.T @ (Xc.T @ Yc)
                    Z = Xv @ evecs
                else:
                    B = evecs.T @ Yc
                    Z = Xv @ (Xc.T @ evecs)
                for lam in LAMBDAS:
                    d = 1.0 / (evals + lam * len(X))
                    pred = Z @ (d[:, None] * B) + ym
                    if delta:
                        pred = pred + last_va
                    mse = float(np.mean((pred - y_va_true) ** 2))
                    if mse < best[0]:
                        coef = (
                            evecs @ (d[:, None] * B)
                            if small_primal
                            else Xc.T @ (evecs @ (d[:, None] * B))
                        )
                        best = (mse, (lag, delta, float(lam), coef, xm, ym))
        mse, (self.lag, self.delta, lam, self.coef, self.x_mean, self.y_mean) = best
        return FitReport(
            val_mse=mse, selected={"lag": self.lag, "lambda": lam, "delta": self.delta}
        )

    def predict(self, context: np.ndarray) -> np.ndarray:
        if self.coef is None:
            raise RuntimeError("ridge_var: predict() before fit()")
        X = self._features(context, self.lag) - self.x_mean
        pred = (X @ self.coef + self.y_mean).reshape(len(context), self.horizon, -1)
        if self.delta:
            pred = pred + context[:, -1:, :]
        return pred.astype(np.float32)

    @property
    def n_params(self) -> int:
        if self.coef is None:
            return 0
        return int(self.coef.size + self.y_mean.size)
