"""Forecasting metrics on hand-made arrays (src_models.metrics)."""

from __future__ import annotations

import numpy as np
import pytest

from src_models.metrics import (
    forecast_metrics,
    per_step_corr,
    pooled_corr_per_neuron,
    window_starts,
)


@pytest.fixture
def toy():
    rng = np.random.default_rng(0)
    true = rng.standard_normal((20, 4, 3))
    last = rng.standard_normal((20, 3))
    return true, last


def test_perfect_forecast_has_r_one_and_score_one(toy):
    true, last = toy
    m = forecast_metrics(true, true, last)
    assert m["corr"] == pytest.approx(1.0)
    assert m["corr_median"] == pytest.approx(1.0)
    assert m["corr_per_step"] == pytest.approx([1.0] * 4)
    assert m["mse"] == 0 and m["mae"] == 0
    assert m["r2"] == pytest.approx(1.0)
    assert m["prediction_score"] == pytest.approx(1.0)


def test_copy_last_has_prediction_score_zero(toy):
    true, last = toy
    copy = np.repeat(last[:, None, :], 4, axis=1)
    m = forecast_metrics(copy, true, last)
    assert m["prediction_score"] == pytest.approx(0.0, abs=1e-12)
    assert m["mse"] == pytest.approx(np.mean((copy - true) ** 2))


def test_correlation_ignores_scale_but_mse_does_not(toy):
    true, last = toy
    m = forecast_metrics(2 * true + 1, true, last)
    assert m["corr"] == pytest.approx(1.0)
    assert m["mse"] == pytest.approx(np.mean((true + 1) ** 2))
    assert m["mae"] == pytest.approx(np.mean(np.abs(true + 1)))


def test_anticorrelated_forecast_has_r_minus_one(toy):
    true, last = toy
    assert forecast_metrics(-true, true, last)["corr"] == pytest.approx(-1.0)


def test_pooled_correlation_matches_numpy_per_neuron():
    rng = np.random.default_rng(1)
    true = rng.standard_normal((30, 5, 4))
    pred = true + rng.standard_normal(true.shape)
    r = pooled_corr_per_neuron(pred, true)
    for n in range(4):
        expect = np.corrcoef(pred[:, :, n].ravel(), true[:, :, n].ravel())[0, 1]
        assert r[n] == pytest.approx(expect)
    assert forecast_metrics(pred, true, true[:, 0])["corr"] == pytest.approx(r.mean())


def test_per_step_correlation_is_computed_across_windows():
    rng = np.random.default_rng(2)
    true = rng.standard_normal((50, 3, 2))
    pred = true.copy()
    pred[:, 2] = rng.standard_normal((50, 2))  # step 3 is noise
    r = per_step_corr(pred, true)
    assert r[0] == pytest.approx(1.0) and r[1] == pytest.approx(1.0)
    assert abs(r[2]) < 0.5


def test_hand_computed_values():
    true = np.array([[[1.0], [2.0]], [[3.0], [4.0]]])  # W=2, H=2, N=1
    pred = np.array([[[1.0], [3.0]], [[3.0], [3.0]]])
    last = np.array([[0.0], [2.0]])
    m = forecast_metrics(pred, true, last)
    assert m["mse"] == pytest.approx(0.5)  # errors 0, 1, 0, -1
    assert m["mae"] == pytest.approx(0.5)
    # copy-last errors: -1, -2, -1, -2 → MSE 2.5
    assert m["prediction_score"] == pytest.approx(1 - 0.5 / 2.5)
    # R² around the test mean 2.5: SST = 5, SSE = 2
    assert m["r2"] == pytest.approx(1 - 2 / 5)
    assert m["corr"] == pytest.approx(np.corrcoef([1, 3, 3, 3], [1, 2, 3, 4])[0, 1])


def test_constant_neuron_is_left_out_of_the_mean():
    rng = np.random.default_rng(3)
    true = rng.standard_normal((10, 2, 2))
    true[:, :, 1] = 5.0
    m = forecast_metrics(true, true, true[:, 0])
    assert m["corr"] == pytest.approx(1.0)


@pytest.mark.filterwarnings("error")
def test_single_window_gives_undefined_per_step_r_without_warnings():
    rng = np.random.default_rng(4)
    true = rng.standard_normal((1, 4, 3))
    m = forecast_metrics(true + 0.1, true, true[:, 0])
    assert np.isnan(m["corr_per_step"]).all()
    assert m["corr"] == pytest.approx(1.0)


def test_window_starts_stay_inside_the_range():
    s = window_starts(4, 2, 10, 20)
    assert s.tolist() == [10, 11, 12, 13, 14]
    assert (s + 4 + 2 <= 20).all()
    assert window_starts(4, 2, 10, 20, stride=2).tolist() == [10, 12, 14]
    assert len(window_starts(8, 4, 0, 11)) == 0
