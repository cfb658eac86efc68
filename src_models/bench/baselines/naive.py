"""Naive forecasts: repeat the last context frame, or the context mean."""

from __future__ import annotations

import numpy as np

from src_models.bench.base import FitReport, Forecaster
from src_models.bench.registry import register
from src_models.bench.training import Budget
from src_models.bench.windows import WindowSet


class _Naive(Forecaster):
    family = "naive"
    deterministic = True

    def fit(self, train: WindowSet, val: WindowSet, budget: Budget, seed: int) -> FitReport:
        return FitReport()

    @property
    def n_params(self) -> int:
        return 0


@register("copy_last")
class CopyLast(_Naive):
    """Every horizon step equals the last context frame (POCO's "copy" reference)."""

    label = "Copy last frame"

    def predict(self, context: np.ndarray) -> np.ndarray:
        return np.repeat(context[:, -1:, :], self.horizon, axis=1)


@register("context_mean")
class ContextMean(_Naive):
    """Every horizon step equals each neuron's mean over the context."""

    label = "Context mean"

    def predict(self, context: np.ndarray) -> np.ndarray:
        return np.repeat(context.mean(axis=1, keepdims=True), self.horizon, axis=1)
