"""The engine's closed-form linear forecasters (ridge VAR, pooled AR) and the stack weights."""

from __future__ import annotations

from itertools import product

import numpy as np
import pytest

from src_models.bench.registry import get_model
from src_models.bench.training import Budget
from src_models.bench.windows import make_windows
from src_models.dat.linear_skip import LinearSkip, evenly, fit_ridge, simplex_weights, windows
from src_models.metrics import window_starts
from src_models.preparation import prepare_recording
from var_helpers import var1


def test_engine_var_is_the_bench_ridge_var():
    x = var1(5, 700, 3)
    d = make_windows(x, name="toy", fs=1.0, context=12, horizon=3)
    bench = get_model("ridge_var")(context=12, horizon=3, n_neurons=5)
    report = bench.fit(d.train, d.val, Budget(max_val_windows=64), 0)
    # the numbers of the bench's RidgeVAR before its solver moved into the engine
    assert report.val_mse == pytest.approx(0.4172327339616148, rel=1e-9)
    assert report.selected == {"lag": 1, "lambda": pytest.approx(10 ** -2.5), "delta": False}
    test_mse = float(np.mean((bench.predict(d.test.contexts()) - d.test.targets()) ** 2))
    assert test_mse == pytest.approx(0.3836212456226349, rel=1e-6)

    # calm forecast's skip path fits the same VAR on the same windows of the prepared recording
    prep = prepare_recording(x.astype(np.float32), 1.0, dff="no")
    val = evenly(window_starts(12, 3, *prep.bounds[1]), 64)
    skip = LinearSkip(prep, 12, 3, {}, windows(prep.z, val, 12, 3)[1], val)
    assert skip.report["lag"] == 1 and skip.report["lambda"] == report.selected["lambda"]
    test = window_starts(12, 3, *prep.bounds[2])
    np.testing.assert_allclose(skip.forecast(prep, test)["var"], bench.predict(d.test.contexts()), atol=1e-4)


def test_ridge_coefficients_solve_the_normal_equations():
    x = var1(4, 600, 5)
    ctx, y = windows(x, np.arange(400), 8, 2)
    vctx, vy = windows(x, np.arange(400, 590), 8, 2)
    for kind in ("var", "ar"):
        fit = fit_ridge(kind, ctx, y, vctx, vy)
        p = fit.lag
        X = (ctx[:, -p:].transpose(0, 2, 1).reshape(-1, p) if kind == "ar" else ctx[:, -p:].reshape(len(ctx), -1))
        Y = y - ctx[:, -1:] if fit.delta else y
        Y = Y.transpose(0, 2, 1).reshape(-1, 2) if kind == "ar" else Y.reshape(len(Y), -1)
        Xc, Yc = X - X.mean(0), Y - Y.mean(0)
        coef = np.linalg.solve(Xc.T @ Xc + fit.lam * len(X) * np.eye(X.shape[1]), Xc.T @ Yc)
        np.testing.assert_allclose(fit.coef, coef, rtol=1e-6, atol=1e-9)
        assert fit.val_mse == pytest.approx(float(np.mean((fit.predict(vctx) - vy) ** 2)), rel=1e-5)


def test_pooled_ar_recovers_an_ar2_process():
    rng = np.random.default_rng(0)
    n, T = 30, 1500
    x = np.zeros((n, T))
    for t in range(2, T):
        x[:, t] = 1.5 * x[:, t - 1] - 0.7 * x[:, t - 2] + rng.standard_normal(n)
    ctx, y = windows(x, np.arange(1000), 16, 1)
    vctx, vy = windows(x, np.arange(1000, 1480), 16, 1)
    fit = fit_ridge("ar", ctx, y, vctx, vy)
    assert fit.lag in (4, 8, 16)
    # the fitted linear map, read off by impulses at each lag (delta or level target alike)
    zero = fit.predict(np.zeros((1, 16, 1)))[0, 0, 0]
    eff = np.array([fit.predict(np.eye(16)[None, :, j, None])[0, 0, 0] - zero for j in range(16)])
    np.testing.assert_allclose(eff[-2:], [-0.7, 1.5], atol=0.03)
    np.testing.assert_allclose(eff[:-2], 0.0, atol=0.03)


def test_stack_weights_are_the_exact_simplex_least_squares():
    rng = np.random.default_rng(1)
    y = rng.normal(size=(40, 3, 5))
    parts = [y + rng.normal(scale=s, size=y.shape) for s in (0.5, 1.0, 2.0)]
    w = simplex_weights(parts, y)
    assert w.shape == (3, 3) and np.all(w >= 0) and np.allclose(w.sum(0), 1.0)
    mix = sum(wi[None, :, None] * p for wi, p in zip(w, parts))
    step_mse = lambda f: np.mean((f - y) ** 2, axis=(0, 2))  # noqa: E731
    for p in parts:
        assert np.all(step_mse(mix) <= step_mse(p) + 1e-12)
    # no point of a fine grid on the simplex does better
    grid = [(a, b, 1 - a - b) for a, b in product(np.linspace(0, 1, 51), repeat=2) if a + b <= 1 + 1e-12]
    best = min(step_mse(sum(g[i] * parts[i] for i in range(3)))[0] for g in grid)
    assert step_mse(mix)[0] <= best + 1e-12
    # the truth itself takes all the weight; two copies of one forecast split nothing away from it
    np.testing.assert_allclose(simplex_weights([y, parts[2]], y)[0], 1.0)
    np.testing.assert_allclose(simplex_weights([parts[0], parts[0], y], y)[2], 1.0)
