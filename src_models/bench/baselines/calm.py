"""CalM in the benchmark, through the DAT package's own API (no Transformer of our own).

Two rows:

``calm`` — **CalM (pretrained → adapted)**
    Exactly what ``calm forecast`` does (:mod:`src_models.engine`): the shipped model (or
    ``checkpoint``) adapted to the recording's training split with :class:`AdaptSettings`
    (``adapt_steps`` embedding steps, then the ``strategy`` chosen on validation; the seed is the
    run's), the forecast variant — CalM's, the linear skip path's ridge VAR or their blends — chosen
    by :func:`~src_models.dat.forecast.validation_forecasts` and the test windows sampled with
    seed + 1, so on the same recording with the same settings this row equals ``calm forecast``'s
    metrics.
``calm_scratch`` — **CalM (scratch)**
    The same architecture (DAT configuration and NQ tokenizer of that
    checkpoint) with a freshly initialised DAT, trained only on the
    recording's training split (the ``full`` phase for the whole budget).

Both see exactly the benchmark's windows: fitting gets the prepared training
and validation frames only, forecasting the test contexts only. The scratch row
follows the shared budget rule (learning rate from the grid by validation loss,
early stop, best-validation weights kept).
"""

from __future__ import annotations

import math
from abc import abstractmethod
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from src_models.bench.base import FitReport, Forecaster
from src_models.bench.registry import register
from src_models.bench.training import Budget
from src_models.bench.windows import WindowSet
from src_models.errors import CalmError
from src_models.preparation import prepare_recording
from src_models.settings import AdaptSettings, ForecastSettings


def _shipped_checkpoint() -> Path | None:
    from src_models.dat.calm import default_calm_path

    path = default_calm_path()
    return path if (path / "config.json").is_file() else None


class _CalMForecaster(Forecaster):
    """Shared fitting / forecasting of the two CalM rows.

    Parameters
    ----------
    checkpoint : str or Path, optional
        CalM bundle to start from (default: the shipped model).
    n_samples : int
        Sampled rollouts per window for the ``sample_mean`` variant (0: off; default as ``calm forecast``).
    adapt_steps : int
        Adaptation steps of the ``calm`` row (default as ``calm forecast``).
    strategy : str
        Adaptation strategy of the ``calm`` row (default as ``calm forecast``).
    """

    family = "foundation"

    def __init__(
        self, *, checkpoint: str | Path | None = None, n_samples: int = ForecastSettings.samples,
        adapt_steps: int = AdaptSettings.steps, strategy: str = AdaptSettings.strategy, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.checkpoint = None if checkpoint is None else Path(checkpoint)
        self.n_samples = int(n_samples)
        self.adapt_steps = int(adapt_steps)
        self.strategy = strategy
        self.model = None
        self.prep = None
        self.variant = "greedy"
        self.skip = None
        self.guard = None
        self.info: dict[str, Any] = {}
        self.seed = 0

    @classmethod
    def unavailable(cls, checkpoint: str | Path | None = None, **options: Any) -> str | None:
        if checkpoint is not None:
            return None if Path(checkpoint).exists() else f"CalM checkpoint {checkpoint} not found"
        if _shipped_checkpoint() is None:
            return "the shipped CalM weights (resources/weights/calm) are missing"
        return None

    # -- model construction ---------------------------------------------------------------
    def _load(self):
        from src_models.dat.calm import load_calm

        path = self.checkpoint or _shipped_checkpoint()
        if path is None:
            raise CalmError("no CalM checkpoint: the shipped model is missing and none was given")
        return load_calm(path, device=self.device)

    @abstractmethod
    def initial_model(self, seed: int):
        """The CalM the fit starts from."""

    # -- fitting --------------------------------------------------------------------------
    @abstractmethod
    def fit_model(self, budget: Budget, seed: int) -> tuple[Any, float | None, float | None, int]:
        """Train on :attr:`prep`; ``(model, learning rate, best validation loss, steps)``."""

    def fit(self, train: WindowSet, val: WindowSet, budget: Budget, seed: int) -> FitReport:
        from src_models.dat.forecast import validation_forecasts
        from src_models.dat.range_guard import RangeGuard

        traces = np.ascontiguousarray(np.concatenate([train.series, val.series]).T)
        frac = len(train.series) / traces.shape[1]
        # the benchmark's windows are already prepared (ΔF/F policy, training z-score)
        self.prep = prepare_recording(traces, self.fs, train_fraction=frac, val_fraction=1.0 - frac,
                                      name=self.name, dff="no", zscore=False)
        self.seed = seed
        self.model, lr, val_loss, steps = self.fit_model(budget, seed)
        # forecast variant chosen by forecast MSE on the validation windows, as calm forecast does
        self.guard = RangeGuard.of(self.prep)
        mse, _, _, self.skip = validation_forecasts(
            self.model, self.prep, self.context, self.horizon, n_samples=self.n_samples,
            max_val_windows=ForecastSettings.max_val_windows, seed=seed, guard=self.guard)
        self.variant = min(mse, key=mse.get)
        return FitReport(lr=lr, val_mse=mse[self.variant], steps=steps,
                         selected={"variant": self.variant, "val_loss": val_loss, "variant_val_mse": mse,
                                   "linear_skip": None if self.skip is None else self.skip.report, **self.info})

    # -- forecasting ----------------------------------------------------------------------
    def predict(self, context: np.ndarray) -> np.ndarray:
        """``(W, C, N)`` contexts (benchmark z-space) → the selected variant's ``(W, H, N)`` forecasts."""
        from src_models.dat.forecast import forecast_windows

        if self.model is None:
            raise RuntimeError(f"{self.name}: predict() before fit()")
        W, C, N = context.shape
        # the contexts laid end to end, identified as the fitted recording so its embeddings are used
        flat = np.ascontiguousarray(context.transpose(2, 0, 1).reshape(N, W * C))
        prep = replace(self.prep, traces=flat, z=flat, mean=np.zeros((N, 1), np.float32),
                       std=np.ones((N, 1), np.float32), bounds=[(0, W * C)] * 3)
        starts = np.arange(W) * C
        if self.variant in ("var", "ar", "blend_linear"):
            return self.skip.apply({}, self.skip.forecast(prep, starts))[self.variant]
        base = self.variant.removeprefix("blend_")
        return forecast_windows(self.model, prep, starts, C, self.horizon, n_samples=self.n_samples,
                                seed=self.seed + 1, variants=(base,), guard=self.guard,
                                skip=self.skip if base != self.variant else None)[self.variant]

    @property
    def n_params(self) -> int:
        """Trainable DAT parameters (the frozen NQ tokenizer is not counted)."""
        from src_models.dat.model import count_parameters

        return 0 if self.model is None else int(count_parameters(self.model.dat))


@register("calm")
class CalMAdapted(_CalMForecaster):
    """The pretrained CalM adapted to the recording as ``calm forecast`` adapts it."""

    label = "CalM (pretrained → adapted)"

    def initial_model(self, seed: int):
        return self._load()

    def fit_model(self, budget: Budget, seed: int) -> tuple[Any, float | None, float | None, int]:
        from src_models.engine import CalM

        settings = AdaptSettings(steps=self.adapt_steps, strategy=self.strategy, seed=seed)
        adapted = CalM(self.initial_model(seed)).adapt_job(self.prep, settings, cache=False).run()
        self.info = {k: adapted.info[k] for k in ("strategy", "adapt_val_loss", "adapt_seconds", "adapt_tried")
                     if k in adapted.info}
        return adapted.model, None, None, adapted.info.get("adapt_steps", 0)


@register("calm_scratch")
class CalMScratch(_CalMForecaster):
    """The same architecture, DAT freshly initialised, trained on the training split only."""

    label = "CalM (scratch)"

    def initial_model(self, seed: int):
        from src_models.dat.calm import CalM
        from src_models.dat.config import DATConfig

        ref = self._load()
        cfg = DATConfig.from_dict({**ref.dat.cfg.to_dict(), "n_neurons": 1, "n_sessions": 1})
        torch.manual_seed(seed)
        return CalM.build(ref.nq, cfg, ref.policy)

    def fit_model(self, budget: Budget, seed: int) -> tuple[Any, float | None, float | None, int]:
        from src_models.dat.config import FinetuneConfig
        from src_models.dat.finetune import finetune

        best = None
        for lr in budget.lr_grid:
            model = self.initial_model(seed).to(self.device)
            tok = model.tokenizer
            n_window = max(2, tok.context_tokens(self.context, self.fs) + tok.horizon_tokens(self.horizon, self.fs))
            ft = FinetuneConfig(embed_steps=0, full_steps=budget.steps, full_lr=lr, batch_size=budget.batch_size,
                                window_tokens=n_window, max_neurons=budget.max_neurons, val_every=budget.eval_every,
                                val_windows=min(budget.max_val_windows, 64))
            *_, done = finetune(model, self.prep, config=ft, seed=seed, device=self.device, patience=budget.patience)
            val_loss = math.inf if done["val_loss"] is None else done["val_loss"]  # best weights are loaded
            if best is None or val_loss < best[2]:
                best = (model.eval(), lr, val_loss, done["step"])
        return best
