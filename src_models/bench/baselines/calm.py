"""CalM in the benchmark, through the DAT package's own API (no Transformer of our own).

Two rows:

``calm`` — **CalM (pretrained → adapted)**
    The shipped model (or ``checkpoint``) is adapted to the recording with
    :func:`src_models.dat.finetune.finetune`: new neuron and session embeddings with the
    backbone frozen for the first quarter of the step budget, then the whole
    DAT at the learning rate chosen from the budget's grid.
``calm_scratch`` — **CalM (scratch)**
    The same architecture (DAT configuration and NQ tokenizer of that
    checkpoint) with a freshly initialised DAT, trained only on the
    recording's training split (the ``full`` phase for the whole budget).

Both see exactly the benchmark's windows: fitting gets the z-scored training
and validation frames only (as an ``(N, T_train + T_val)`` array whose split
point is the benchmark's), forecasting gets the test contexts only. The
budget rule is the shared one (AdamW inside DAT's loop, fixed step budget,
learning rate from the grid by validation loss, early stop after ``patience``
validation checks without gain, best-validation weights kept); the forecast
variant (greedy rollout, mean of sampled rollouts, regression head) is chosen
by forecast MSE on the validation windows, as ``forecast_recording`` does.
"""

from __future__ import annotations

import copy
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
        Sampled rollouts per window for the ``sample_mean`` variant (0: off).
    """

    family = "foundation"
    #: DAT phases: fraction of the step budget spent on embeddings only
    embed_fraction: float = 0.0

    def __init__(
        self, *, checkpoint: str | Path | None = None, n_samples: int = 4, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.checkpoint = None if checkpoint is None else Path(checkpoint)
        self.n_samples = int(n_samples)
        self.model = None
        self.prep = None
        self.variant = "greedy"

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
    def _finetune_config(self, budget: Budget, lr: float, n_window: int, train_frac: float):
        from src_models.dat.config import FinetuneConfig

        embed = round(self.embed_fraction * budget.steps)
        return FinetuneConfig(
            embed_steps=embed,
            full_steps=budget.steps - embed,
            full_lr=lr,
            batch_size=budget.batch_size,
            window_tokens=n_window,
            max_neurons=budget.max_neurons,
            val_every=budget.eval_every,
            val_windows=min(budget.max_val_windows, 64),
            train_fraction=train_frac,
            val_fraction=1.0 - train_frac,
        )

    def _run(self, traces: np.ndarray, cfg, budget: Budget, seed: int):
        """One DAT fine-tune run with early stopping; returns (model, best val loss, steps)."""
        from src_models.dat.finetune import finetune

        model = self.initial_model(seed).to(self.device)
        torch.manual_seed(seed)
        gen = finetune(
            model, traces, fs=self.fs, config=cfg, seed=seed, device=self.device, name=self.name
        )
        best, best_state, bad, step = math.inf, None, 0, 0
        try:
            for info in gen:
                step = info["step"]
                if info["phase"] in ("done", "stopped"):
                    break
                checked = step % cfg.val_every == 0 or step in (cfg.embed_steps, cfg.total_steps)
                if info["val_loss"] is None or not checked:
                    continue
                if info["val_loss"] < best:
                    best, bad = info["val_loss"], 0
                    best_state = copy.deepcopy(model.dat.state_dict())
                else:
                    bad += 1
                    if bad >= budget.patience:
                        break
        finally:
            gen.close()
        if best_state is not None:
            model.dat.load_state_dict(best_state)
        model.eval()
        return model, best, step

    def fit(self, train: WindowSet, val: WindowSet, budget: Budget, seed: int) -> FitReport:
        from src_models.dat.data import prepare_recording

        traces = np.ascontiguousarray(np.concatenate([train.series, val.series]).T)
        frac = len(train.series) / traces.shape[1]
        tok = self._load().tokenizer
        n_window = max(
            2,
            tok.context_tokens(self.context, self.fs) + tok.horizon_tokens(self.horizon, self.fs),
        )
        best = None
        for lr in budget.lr_grid:
            cfg = self._finetune_config(budget, lr, n_window, frac)
            model, val_loss, steps = self._run(traces, cfg, budget, seed)
            if best is None or val_loss < best[1]:
                best = (model, val_loss, steps, lr)
        self.model, val_loss, steps, lr = best
        self.prep = prepare_recording(
            traces, self.fs, train_fraction=frac, val_fraction=1.0 - frac, name=self.name
        )
        # forecast variant chosen by forecast MSE on the validation windows
        sub = val.subsample(budget.max_val_windows)
        names = (
            ("greedy", "sample_mean", "regression")
            if self.n_samples > 0
            else ("greedy", "regression")
        )
        variants = self._forecast(sub.contexts(), names, seed)
        y = sub.targets()
        mse = {k: float(np.mean((variants[k] - y) ** 2)) for k in names if k in variants}
        self.variant = min(mse, key=mse.get)
        return FitReport(
            lr=lr,
            val_mse=mse[self.variant],
            steps=steps,
            selected={"variant": self.variant, "val_loss": val_loss, "variant_val_mse": mse},
        )

    # -- forecasting ----------------------------------------------------------------------
    def _forecast(
        self, context: np.ndarray, variants: tuple[str, ...], seed: int
    ) -> dict[str, np.ndarray]:
        """``(W, C, N)`` contexts (benchmark z-space) → forecasts of each variant, ``(W, H, N)``."""
        from src_models.dat.forecast import forecast_windows

        W, C, N = context.shape
        # the contexts laid end to end, identified as the fitted recording so its embeddings are used
        flat = np.ascontiguousarray(context.transpose(2, 0, 1).reshape(N, W * C))
        prep = replace(
            self.prep,
            traces=flat,
            z=flat,
            mean=np.zeros((N, 1), np.float32),
            std=np.ones((N, 1), np.float32),
            bounds=[(0, W * C)] * 3,
        )
        starts = np.arange(W) * C
        return forecast_windows(
            self.model,
            prep,
            starts,
            C,
            self.horizon,
            n_samples=self.n_samples,
            seed=seed,
            variants=variants,
        )

    def predict(self, context: np.ndarray) -> np.ndarray:
        if self.model is None:
            raise RuntimeError(f"{self.name}: predict() before fit()")
        return self._forecast(context, (self.variant,), 1)[self.variant]

    @property
    def n_params(self) -> int:
        """Trainable DAT parameters (the frozen NQ tokenizer is not counted)."""
        from src_models.dat.model import count_parameters

        if self.model is None:
            return 0
        return int(count_parameters(self.model.dat))


@register("calm")
class CalMAdapted(_CalMForecaster):
    """The pretrained CalM adapted to the recording (embeddings first, then everything)."""

    label = "CalM (pretrained → adapted)"
    embed_fraction = 0.25

    def initial_model(self, seed: int):
        return self._load()


@register("calm_scratch")
class CalMScratch(_CalMForecaster):
    """The same architecture, DAT freshly initialised, trained on the training split only."""

    label = "CalM (scratch)"
    embed_fraction = 0.0

    def initial_model(self, seed: int):
        from src_models.dat.calm import CalM
        from src_models.dat.config import DATConfig

        ref = self._load()
        cfg = DATConfig.from_dict({**ref.dat.cfg.to_dict(), "n_neurons": 1, "n_sessions": 1})
        torch.manual_seed(seed)
        return CalM.build(ref.nq, cfg, ref.policy)
