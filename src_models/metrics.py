"""Forecasting metrics, one definition for every model and every command.

Arrays are ``(W, H, N)``: test windows × horizon steps × neurons, in the
z-scored space of the training split. ``last`` is ``(W, N)``, the last context
frame of each window (the copy-last forecast).
"""

from __future__ import annotations

import numpy as np


def _pearson(a: np.ndarray, b: np.ndarray, axis: int) -> np.ndarray:
    a = a - a.mean(axis=axis, keepdims=True)
    b = b - b.mean(axis=axis, keepdims=True)
    den = np.sqrt((a * a).sum(axis) * (b * b).sum(axis))
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (a * b).sum(axis) / den
    return np.where(den > 0, r, np.nan)


def _mean_defined(x: np.ndarray, reduce=np.nanmean) -> float:
    """``reduce`` over the finite values of ``x``; NaN (no warning) when there are none.

    A neuron whose forecast or truth is constant has no correlation; with a single test window
    every per-step correlation is undefined, and the metric says so with NaN.
    """
    x = np.asarray(x, np.float64)
    return float(reduce(x)) if np.isfinite(x).any() else float("nan")


def pooled_corr_per_neuron(pred: np.ndarray, true: np.ndarray) -> np.ndarray:
    """Per-neuron Pearson r pooled over windows and horizon steps, ``(N,)``."""
    W, H, N = true.shape
    return _pearson(pred.reshape(W * H, N), true.reshape(W * H, N), axis=0)


def per_step_corr(pred: np.ndarray, true: np.ndarray) -> np.ndarray:
    """``(H,)``: for each horizon step, the mean over neurons of r across windows."""
    return np.array([_mean_defined(_pearson(pred[:, h], true[:, h], axis=0)) for h in range(true.shape[1])])


def forecast_metrics(pred: np.ndarray, true: np.ndarray, last: np.ndarray) -> dict[str, float | list[float]]:
    """All forecasting metrics of one model on one recording.

    Parameters
    ----------
    pred, true : ndarray
        ``(W, H, N)`` forecasts and targets.
    last : ndarray
        ``(W, N)`` last context frame (defines the copy-last reference).

    Returns
    -------
    dict
        ``corr`` (headline: mean over neurons of the pooled Pearson r),
        ``corr_median``, ``corr_per_step``, ``mse``, ``mae``, ``r2`` (mean over
        neurons, around the test mean) and ``prediction_score``
        (1 − MSE / MSE of copy-last).
    """
    pred = np.asarray(pred, np.float64)
    true = np.asarray(true, np.float64)
    copy = np.broadcast_to(np.asarray(last, np.float64)[:, None, :], true.shape)
    r = pooled_corr_per_neuron(pred, true)
    mse = float(np.mean((pred - true) ** 2))
    mse_copy = float(np.mean((copy - true) ** 2))
    flat_t = true.reshape(-1, true.shape[2])
    sse = ((pred - true) ** 2).reshape(-1, true.shape[2]).sum(0)
    sst = ((flat_t - flat_t.mean(0)) ** 2).sum(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        r2 = np.where(sst > 0, 1 - sse / sst, np.nan)
    return {
        "corr": _mean_defined(r),
        "corr_median": _mean_defined(r, np.nanmedian),
        "corr_per_step": [float(v) for v in per_step_corr(pred, true)],
        "mse": mse,
        "mae": float(np.mean(np.abs(pred - true))),
        "r2": _mean_defined(r2),
        "prediction_score": float(1 - mse / mse_copy) if mse_copy > 0 else float("nan"),
    }


def window_starts(context: int, horizon: int, start: int, stop: int, stride: int = 1) -> np.ndarray:
    """Indices of window starts whose context+horizon lie inside ``[start, stop)``.

    A window starting at ``s`` uses frames ``s .. s+context-1`` as context and
    ``s+context .. s+context+horizon-1`` as target.
    """
    last = stop - context - horizon
    return np.arange(start, last + 1, stride) if last >= start else np.zeros(0, int)
