"""The one interface every benchmarked forecaster implements.

A forecaster is built for one prepared recording (``context``, ``horizon``,
``n_neurons``, frame rate), fitted on its training windows with model
selection on its validation windows only, and then asked once for forecasts
of the test contexts::

    model = get_model("poco")(context=48, horizon=16, n_neurons=N, fs=fs)
    report = model.fit(data.train, data.val, budget, seed=0)
    pred = model.predict(data.test.contexts())     # (W, H, N)

Everything is in the z-scored space of the training split.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from src_models.bench.training import Budget, fit_lr_grid
from src_models.bench.windows import WindowSet
from src_models.device import autocast, resolve_device


@dataclass
class FitReport:
    """What fitting chose and how long it ran.

    Attributes
    ----------
    lr : float or None
        Learning rate selected on validation (gradient-trained models).
    val_mse : float or None
        Validation MSE of the selected model.
    steps : int
        Optimiser steps of the selected run (0 for closed-form models).
    selected : dict
        Other hyper-parameters chosen on validation (ridge lags, alpha, ...).
    """

    lr: float | None = None
    val_mse: float | None = None
    steps: int = 0
    selected: dict[str, Any] = field(default_factory=dict)


class Forecaster(ABC):
    """Base class of every model in the benchmark.

    Parameters
    ----------
    context, horizon : int
        Frames in and frames out.
    n_neurons : int
        Neurons of the recording (models with unit embeddings size them by it).
    fs : float
        Frame rate in Hz (used by models that tokenize in time, e.g. CalM).
    device : str, optional
        ``'auto'``, ``'cpu'``, ``'cuda'``...
    """

    #: registry name (set by :func:`~src_models.bench.registry.register`)
    name: ClassVar[str] = ""
    #: row label in the tables
    label: ClassVar[str] = ""
    #: ``naive``, ``linear``, ``deep`` or ``foundation``
    family: ClassVar[str] = "deep"
    #: the fit does not depend on the seed (fitted once, reported for every seed)
    deterministic: ClassVar[bool] = False

    def __init__(
        self, *, context: int, horizon: int, n_neurons: int, fs: float = 1.0, device: str | None = None
    ) -> None:
        self.context = int(context)
        self.horizon = int(horizon)
        self.n_neurons = int(n_neurons)
        self.fs = float(fs)
        self.device = resolve_device(device)

    @classmethod
    def unavailable(cls, **options: Any) -> str | None:
        """Why this model cannot run here with these constructor ``options`` (missing weights...), or ``None``."""
        return None

    @abstractmethod
    def fit(self, train: WindowSet, val: WindowSet, budget: Budget, seed: int) -> FitReport:
        """Fit on ``train``; choose hyper-parameters on ``val`` only."""

    @abstractmethod
    def predict(self, context: np.ndarray) -> np.ndarray:
        """``(W, context, N)`` z-scored contexts → ``(W, horizon, N)`` forecasts."""

    @property
    @abstractmethod
    def n_params(self) -> int:
        """Number of fitted parameters."""


class TorchForecaster(Forecaster):
    """A forecaster whose network is trained with the shared budget rule.

    Subclasses implement :meth:`build`, returning an ``nn.Module`` whose
    ``forward(x, units)`` maps ``x`` ``(B, context, n)`` and the neuron indices
    ``units`` ``(n,)`` to ``(B, horizon, n)``.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.module: nn.Module | None = None

    @abstractmethod
    def build(self) -> nn.Module:
        """A freshly initialised network (called under the seed of each run)."""

    def fit(self, train: WindowSet, val: WindowSet, budget: Budget, seed: int) -> FitReport:
        result = fit_lr_grid(self.build, train, val, budget, seed, self.device)
        self.module = result.module
        return FitReport(lr=result.lr, val_mse=result.val_mse, steps=result.steps)

    @torch.no_grad()
    def predict(self, context: np.ndarray) -> np.ndarray:
        if self.module is None:
            raise RuntimeError(f"{self.name}: predict() before fit()")
        self.module.eval()
        n = context.shape[2]
        units = torch.arange(n, device=self.device)
        per_batch = max(1, 65536 // max(n, 1))
        out = []
        for i in range(0, len(context), per_batch):
            x = torch.as_tensor(context[i : i + per_batch], dtype=torch.float32, device=self.device)
            with autocast(self.device):
                out.append(self.module(x, units).float().cpu().numpy())
        return np.concatenate(out) if out else np.zeros((0, self.horizon, n), np.float32)

    @property
    def n_params(self) -> int:
        module = self.module if self.module is not None else self.build()
        return int(sum(p.numel() for p in module.parameters()))


def univariate(x: torch.Tensor) -> torch.Tensor:
    """``(B, C, N)`` → ``(B·N, C)``: every neuron's context as its own series."""
    return x.permute(0, 2, 1).reshape(-1, x.shape[1])


def multivariate(y: torch.Tensor, batch: int) -> torch.Tensor:
    """``(B·N, H)`` → ``(B, H, N)``, the inverse layout of :func:`univariate`."""
    return y.reshape(batch, -1, y.shape[1]).permute(0, 2, 1)
