"""Closed-form linear forecasters and the linear skip path of ``calm forecast``.

Two ridge regressions on plain ``(W, C, N)`` context arrays, solved in closed form over a grid of
lags, penalties and targets (level, or change from the last frame, which shrinks towards
copy-last), the best kept on validation windows:

``var``
    a direct VAR: the last ``p`` frames of all neurons → the next ``H`` frames of all neurons;
``ar``
    a pooled univariate AR: a neuron's own last ``p`` frames → its next ``H`` frames, one map shared
    by all neurons (every neuron of every window is a sample) — the closed-form cousin of
    NLinear/DLinear, robust where a VAR over all neurons overfits.

:class:`LinearSkip` fits both on a recording's training windows and stacks them with CalM's
forecasts (:func:`simplex_weights`). The benchmark's ``ridge_var`` row wraps :func:`fit_ridge`.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations
from typing import Any

import numpy as np

from src_models.dat.range_guard import RangeGuard
from src_models.metrics import window_starts
from src_models.preparation import PreparedRecording

#: VAR lags tried (capped by the context and by ``max_features``)
VAR_LAGS = (1, 2, 4, 8, 16)
#: pooled AR lags tried (capped by the context)
AR_LAGS = (4, 8, 16, 32, 48)
#: ridge penalty per training sample (the penalty is ``lam · n_samples``)
LAMBDAS = tuple(10.0 ** np.arange(-4, 2.5, 0.75))


def _features(kind: str, ctx: np.ndarray, lag: int) -> np.ndarray:
    """Design matrix: ``(W, lag·N)`` for ``var``, ``(W·N, lag)`` for ``ar``."""
    x = ctx[:, -lag:, :]
    if kind == "ar":
        return x.transpose(0, 2, 1).reshape(-1, lag).astype(np.float64)
    return x.reshape(len(ctx), -1).astype(np.float64)


def _rows(kind: str, y: np.ndarray) -> np.ndarray:
    """``(W, H, N)`` → regression targets: ``(W, H·N)`` for ``var``, ``(W·N, H)`` for ``ar``."""
    return y.transpose(0, 2, 1).reshape(-1, y.shape[1]) if kind == "ar" else y.reshape(len(y), -1)


@dataclass
class RidgeFit:
    """A fitted closed-form forecaster (:func:`fit_ridge`).

    Attributes
    ----------
    kind : str
        ``var`` or ``ar``.
    lag, delta, lam : int, bool, float
        Frames used, change target (else level), penalty per sample.
    coef, x_mean, y_mean : ndarray
        Ridge coefficients and the centring of features and targets.
    horizon : int
        Frames forecast.
    val_mse : float
        Validation MSE of the selected setting.
    """

    kind: str
    lag: int
    delta: bool
    lam: float
    coef: np.ndarray
    x_mean: np.ndarray
    y_mean: np.ndarray
    horizon: int
    val_mse: float

    def predict(self, ctx: np.ndarray) -> np.ndarray:
        """``(W, C, N)`` contexts → ``(W, H, N)`` float32 forecasts."""
        W, _, N = ctx.shape
        out = (_features(self.kind, ctx, self.lag) - self.x_mean) @ self.coef + self.y_mean
        pred = out.reshape(W, N, self.horizon).transpose(0, 2, 1) if self.kind == "ar" else out.reshape(W, -1, N)
        if self.delta:
            pred = pred + ctx[:, -1:, :]
        return pred.astype(np.float32)

    @property
    def report(self) -> dict[str, Any]:
        """``{"lag", "lambda", "delta"}``."""
        return {"lag": self.lag, "lambda": self.lam, "delta": self.delta}


def fit_ridge(kind: str, ctx: np.ndarray, y: np.ndarray, val_ctx: np.ndarray, val_y: np.ndarray, *,
              max_features: int = 3072) -> RidgeFit:
    """Fit a ``var`` or ``ar`` ridge forecaster; lag, penalty and target chosen on validation.

    Parameters
    ----------
    kind : str
        ``var`` (lags :data:`VAR_LAGS`, ``lag · N ≤ max_features``) or ``ar`` (:data:`AR_LAGS`).
    ctx, y : ndarray
        ``(W, C, N)`` training contexts and ``(W, H, N)`` targets.
    val_ctx, val_y : ndarray
        The same for the validation windows.
    max_features : int
        Largest VAR design width (bounds the Gram matrix).
    """
    C, N = ctx.shape[1], ctx.shape[2]
    if kind == "var":
        lags = [p for p in VAR_LAGS if p <= C and p * N <= max_features] or [1]
    else:
        lags = [p for p in AR_LAGS if p <= C] or [C]
    last = ctx[:, -1:, :].astype(np.float64)
    val_last = _rows(kind, np.broadcast_to(val_ctx[:, -1:, :], val_y.shape).astype(np.float64))
    y_va = _rows(kind, val_y.astype(np.float64))
    targets = {}
    for delta in (True, False):
        Y = _rows(kind, y.astype(np.float64) - last if delta else y.astype(np.float64))
        targets[delta] = (Y.mean(0), Y - Y.mean(0))
    best: tuple[float, tuple | None] = (np.inf, None)
    for lag in lags:
        X = _features(kind, ctx, lag)
        xm = X.mean(0)
        Xc = X - xm
        Xv = _features(kind, val_ctx, lag) - xm
        primal = Xc.shape[1] <= Xc.shape[0]
        evals, evecs = np.linalg.eigh(Xc.T @ Xc if primal else Xc @ Xc.T)
        evals = np.clip(evals, 0, None)
        # coef(a) = V diag(1/(l+a)) V^T Xc^T Yc (primal) = Xc^T U diag(1/(l+a)) U^T Yc (dual), so the
        # validation residual is R0 - Z diag(d) B and its squared norm a quadratic form in d
        Z = Xv @ evecs if primal else Xv @ (Xc.T @ evecs)
        Gz = Z.T @ Z
        for delta, (ym, Yc) in targets.items():
            B = evecs.T @ (Xc.T @ Yc) if primal else evecs.T @ Yc
            R0 = y_va - ym - (val_last if delta else 0.0)
            u, M, r0 = np.einsum("rk,rk->r", Z.T @ R0, B), Gz * (B @ B.T), float(np.sum(R0 * R0))
            for lam in LAMBDAS:
                d = 1.0 / (evals + lam * len(X))
                mse = (r0 - 2.0 * float(d @ u) + float(d @ M @ d)) / R0.size
                if mse < best[0]:
                    coef = evecs @ (d[:, None] * B) if primal else Xc.T @ (evecs @ (d[:, None] * B))
                    best = (mse, (lag, delta, float(lam), coef, xm, ym))
    mse, (lag, delta, lam, coef, xm, ym) = best
    return RidgeFit(kind, lag, delta, lam, coef, xm, ym, y.shape[1], mse)


def simplex_weights(parts: list[np.ndarray], y: np.ndarray) -> np.ndarray:
    """Per horizon step, the convex combination of ``parts`` closest to ``y`` in least squares.

    Solves ``min ‖y_h − Σ_i w_hi · part_i,h‖²`` subject to ``w_h ≥ 0``, ``Σ_i w_hi = 1`` exactly, by
    enumerating the active sets: the equality-constrained optimum of every support is computed from
    its KKT system and the best feasible one kept (a convex QP's optimum is one of them).

    Parameters
    ----------
    parts : list of ndarray
        ``k`` forecasts, each ``(W, H, N)``.
    y : ndarray
        ``(W, H, N)`` truth.

    Returns
    -------
    ndarray
        ``(k, H)`` weights.
    """
    P = np.stack([p.astype(np.float64) for p in parts])  # (k, W, H, N)
    k, H = len(parts), y.shape[1]
    G = np.einsum("iwhn,jwhn->hij", P, P)
    r = np.einsum("iwhn,whn->hi", P, y.astype(np.float64))
    out = np.zeros((k, H))
    for h in range(H):
        best = (np.inf, None)
        for size in range(1, k + 1):
            for S in map(list, combinations(range(k), size)):
                kkt = np.zeros((size + 1, size + 1))
                kkt[:size, :size], kkt[:size, size], kkt[size, :size] = G[h][np.ix_(S, S)], 1.0, 1.0
                sol = np.linalg.lstsq(kkt, np.append(r[h, S], 1.0), rcond=None)[0][:size]
                if sol.min() < -1e-12 or abs(sol.sum() - 1.0) > 1e-9:
                    continue
                w = np.zeros(k)
                w[S] = np.clip(sol, 0.0, None)
                w /= w.sum()
                obj = w @ G[h] @ w - 2.0 * r[h] @ w
                if obj < best[0]:
                    best = (obj, w)
        out[:, h] = best[1]
    return out


def _mix(parts: list[np.ndarray], w: np.ndarray) -> np.ndarray:
    """``Σ_i w_i,h · part_i`` of ``(W, H, N)`` forecasts with ``(k, H)`` weights."""
    return sum(wi[None, :, None] * p for wi, p in zip(w, parts)).astype(np.float32)


def evenly(starts: np.ndarray, n: int) -> np.ndarray:
    """At most ``n`` of ``starts``, evenly spaced (deterministic)."""
    if len(starts) <= n:
        return starts
    return starts[np.unique(np.linspace(0, len(starts) - 1, n).round().astype(int))]


def windows(z: np.ndarray, starts: np.ndarray, context: int, horizon: int) -> tuple[np.ndarray, np.ndarray]:
    """``(W, C, N)`` contexts and ``(W, H, N)`` targets of ``(N, T)`` frames at window ``starts``."""
    rows = np.asarray(starts)[:, None] + np.arange(context + horizon)[None, :]
    x = np.ascontiguousarray(z[:, rows].transpose(1, 2, 0))
    return x[:, :context], x[:, context:]


class LinearSkip:
    """The linear skip path: a ridge VAR and a pooled ridge AR of the training split, stacked with CalM.

    Both are fitted on the training windows (:func:`fit_ridge`; lag, penalty and target chosen on
    the validation windows). Variants: ``var`` and ``ar`` alone; ``blend_linear`` =
    ``b_h · var + c_h · ar + d_h · last + e_h · mean``; ``blend_k`` = ``a_h · k + b_h · var + c_h ·
    ar + d_h · last + e_h · mean`` for each CalM variant ``k`` — per horizon step a convex
    combination fitted by least squares on the validation windows (:func:`simplex_weights`); the
    anchors ``last`` (copy-last) and ``mean`` (the training mean) let it damp or shrink. A stack's validation MSE is cross-fitted
    (weights of each half of the windows scored on the other half), so selection does not favour
    it for having been fitted there.

    Parameters
    ----------
    prep : PreparedRecording
        The recording (training and validation parts are used).
    context, horizon : int
        Window layout in recorded frames.
    val : dict of str to ndarray
        CalM's ``(W, H, N)`` validation forecasts by variant.
    y : ndarray
        Their truth.
    starts : ndarray
        First frames of those validation windows (also what the VAR and AR are selected on).
    max_train_windows : int
        Training windows of the VAR (evenly spaced subset beyond this).
    max_ar_samples : int
        Neuron-windows of the AR (bounds its memory).
    guard : RangeGuard, optional
        The out-of-range guard both regressions forecast through (contexts clipped to the training
        range, the excess of the last frame carried over the horizon); ``None``: none.
    """

    def __init__(self, prep: PreparedRecording, context: int, horizon: int, val: dict[str, np.ndarray],
                 y: np.ndarray, starts: np.ndarray, *, max_train_windows: int = 6000,
                 max_ar_samples: int = 100_000, guard: RangeGuard | None = None) -> None:
        self.context, self.horizon = context, horizon
        self.guard = guard
        train = window_starts(context, horizon, *prep.bounds[0])
        val_ctx, val_y = windows(prep.z, starts, context, horizon)
        if guard is not None:  # selected on what forecast() will do: f(clip(ctx)) + excess
            val_ctx, excess = guard.clip_windows(val_ctx)
            val_y = val_y - excess[:, None, :]
        self.fits = {}
        for kind, n in (("var", max_train_windows), ("ar", max(1, max_ar_samples // prep.n_neurons))):
            self.fits[kind] = fit_ridge(kind, *windows(prep.z, evenly(train, n), context, horizon), val_ctx, val_y)
        lin = self.forecast(prep, starts)
        self.weights = {"linear": simplex_weights(list(lin.values()), y)}
        self.weights.update({k: simplex_weights([a, *lin.values()], y) for k, a in val.items()})
        h = len(y) // 2
        self.val_mse = {k: float(np.mean((lin[k] - y) ** 2)) for k in self.fits}
        for k in self.weights:
            parts = list(lin.values()) if k == "linear" else [val[k], *lin.values()]
            oof = [_mix([p[s] for p in parts], simplex_weights([p[f] for p in parts], y[f]))
                   for f, s in ((slice(h, None), slice(None, h)), (slice(None, h), slice(h, None)))]
            self.val_mse[f"blend_{k}"] = float(np.mean((np.concatenate(oof) - y) ** 2))
        self.report = {
            **self.fits["var"].report,
            "ar": self.fits["ar"].report,
            "blend_weights": {k: w[0].round(3).tolist() for k, w in self.weights.items() if k != "linear"},
            "stack_weights": {f"blend_{k}": dict(zip([*(["calm"] if k != "linear" else []), *lin],
                                                     w.round(3).tolist()))
                              for k, w in self.weights.items()},
        }

    def forecast(self, prep: PreparedRecording, starts: np.ndarray) -> dict[str, np.ndarray]:
        """The stack's components for the windows at ``starts`` (context frames of ``prep.z``).

        ``(W, H, N)`` forecasts ``var`` and ``ar``, and the two anchors every stack may lean on:
        ``last`` (copy-last) and ``mean`` (the training mean, 0 in the training split's z-space) —
        with them the convex weights can also damp a forecast towards the last frame or shrink it
        towards the mean.
        """
        ctx = windows(prep.z, starts, self.context, 0)[0]
        last = np.repeat(ctx[:, -1:, :], self.horizon, axis=1).astype(np.float32)
        anchors = {"last": last, "mean": np.zeros_like(last)}
        if self.guard is None:
            return {**{k: f.predict(ctx) for k, f in self.fits.items()}, **anchors}
        ctx, excess = self.guard.clip_windows(ctx)
        return {**{k: f.predict(ctx) + excess[:, None, :] for k, f in self.fits.items()}, **anchors}

    def apply(self, forecasts: dict[str, np.ndarray], linear: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """``var``, ``ar`` and the stacks (``blend_linear``; ``blend_k`` for CalM variants in ``forecasts``)."""
        lin = list(linear.values())
        out = {k: linear[k] for k in self.fits}
        out["blend_linear"] = _mix(lin, self.weights["linear"])
        out.update({f"blend_{k}": _mix([forecasts[k], *lin], w) for k, w in self.weights.items() if k in forecasts})
        return out
