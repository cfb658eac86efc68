"""The out-of-range guard of calm forecast: identity inside the training range, copy-last of the excess beyond."""

from __future__ import annotations

import numpy as np
import pytest

from src_models.dat.forecast import forecast_prepared, forecast_windows
from src_models.dat.linear_skip import LinearSkip, evenly, windows
from src_models.dat.range_guard import RangeGuard
from src_models.dat.tiny import tiny_calm, tiny_recording
from src_models.metrics import window_starts
from src_models.preparation import prepare_recording
from var_helpers import var1


def test_range_is_the_training_split_and_clipping_carries_the_excess():
    x = var1(3, 500, 0)
    x[1, 450] = 40.0  # far outside, in the test split
    prep = prepare_recording(x, 1.0, dff="no")
    guard = RangeGuard.of(prep)
    a, b = prep.bounds[0]
    np.testing.assert_array_equal(guard.lo, prep.z[:, a:b].min(1))
    np.testing.assert_array_equal(guard.hi, prep.z[:, a:b].max(1))
    ctx, _ = windows(prep.z, np.array([10, 403]), 48, 0)  # one training window, one ending at the spike
    clipped, excess = guard.clip_windows(ctx)
    np.testing.assert_array_equal(clipped[0], ctx[0])  # identity inside the range
    assert excess[0].tolist() == [0.0, 0.0, 0.0]
    assert clipped[1, -1, 1] == guard.hi[1]
    assert excess[1, 1] == pytest.approx(prep.z[1, 450] - guard.hi[1])
    assert excess[1, 0] == 0.0 and excess[1, 2] == 0.0
    report = guard.report(prep.z, *prep.bounds[2])
    assert report["fraction_outside"] > 0 and report["max_excess"] == pytest.approx(float(excess[1, 1]), abs=1e-3)
    assert guard.report(prep.z, a, b) == {"fraction_outside": 0.0, "max_excess": 0.0}


def test_skip_path_keeps_an_excursion_out_of_the_other_neurons():
    x = var1(6, 900, 1)
    prep = prepare_recording(x, 1.0, dff="no")
    val = evenly(window_starts(12, 3, *prep.bounds[1]), 64)
    y = windows(prep.z, val, 12, 3)[1]
    guard = RangeGuard.of(prep)
    plain = LinearSkip(prep, 12, 3, {}, y, val)
    guarded = LinearSkip(prep, 12, 3, {}, y, val, guard=guard)
    test = window_starts(12, 3, *prep.bounds[2])[:50]
    # inside the training range the guard changes nothing
    inside = guard.clip(prep.z)
    prep_in = prepare_recording(inside * prep.std + prep.mean, 1.0, dff="no")
    for k, v in plain.forecast(prep_in, test).items():
        np.testing.assert_allclose(guarded.forecast(prep_in, test)[k], v, atol=1e-5)

    t = test[10] + 11  # last context frame of window 10
    at_edge, spiked = prep.z.copy(), prep.z.copy()
    at_edge[2, t], spiked[2, t] = guard.hi[2], guard.hi[2] + 30.0
    prep_e = prepare_recording(at_edge * prep.std + prep.mean, 1.0, dff="no")
    prep_s = prepare_recording(spiked * prep.std + prep.mean, 1.0, dff="no")
    others = [n for n in range(6) if n != 2]
    for k in ("var", "ar"):
        g = guarded.forecast(prep_s, test[10:11])[k][0]
        ref = guarded.forecast(prep_e, test[10:11])[k][0]  # the same window, the spike at the range's edge
        np.testing.assert_allclose(g[:, others], ref[:, others], atol=1e-4)  # the excess reaches no one else
        np.testing.assert_allclose(g[:, 2], ref[:, 2] + 30.0, atol=1e-3)  # and persists as copy-last
    unguarded = plain.forecast(prep_s, test[10:11])["var"][0] - plain.forecast(prep_e, test[10:11])["var"][0]
    assert np.abs(unguarded[:, others]).max() > 0.1  # without the guard the VAR spreads it


def test_calm_forecasts_are_unchanged_inside_the_range_and_shifted_by_the_excess():
    model = tiny_calm(0)
    prep = prepare_recording(tiny_recording(n_neurons=5, n_frames=400, seed=2))
    guard = RangeGuard.of(prep)
    starts = window_starts(24, 8, *prep.bounds[0])[:20]  # training windows: inside the range
    a = forecast_windows(model, prep, starts, 24, 8, n_samples=2, seed=0)
    b = forecast_windows(model, prep, starts, 24, 8, n_samples=2, seed=0, guard=guard)
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])

    z = prep.z.copy()
    s = int(window_starts(24, 8, *prep.bounds[2])[0])
    z[1, s + 23] = guard.hi[1] + 25.0  # a transient on the last context frame of a test window
    spiked = prepare_recording(z * prep.std + prep.mean, prep.fs, dff="no")
    spiked_ref = spiked.z.copy()
    g = forecast_windows(model, spiked, np.array([s]), 24, 8, n_samples=0, seed=0, guard=guard,
                         variants=("greedy", "regression"))
    clipped = prepare_recording(guard.clip(spiked.z) * prep.std + prep.mean, prep.fs, dff="no")
    ref = forecast_windows(model, clipped, np.array([s]), 24, 8, n_samples=0, seed=0,
                           variants=("greedy", "regression"))
    np.testing.assert_array_equal(spiked.z, spiked_ref)  # the recording itself is never modified
    for k in ref:
        np.testing.assert_allclose(g[k][0, :, 0], ref[k][0, :, 0], atol=1e-5)
        np.testing.assert_allclose(g[k][0, :, 1], ref[k][0, :, 1] + spiked.z[1, s + 23] - guard.hi[1], atol=1e-4)


def test_guard_beats_extrapolation_on_test_transients_beyond_the_training_range():
    # a recording whose test split holds transients 10x larger than anything in training
    rng = np.random.default_rng(4)
    x = var1(8, 1500, 4)
    for t0 in rng.choice(np.arange(1220, 1440), 6, replace=False):
        n = rng.integers(8)
        x[n, t0:t0 + 40] += 60.0 * np.exp(-np.arange(40) / 12.0)
    prep = prepare_recording(x, 5.0, dff="no")
    model = tiny_calm(0)
    on = forecast_prepared(model, prep, 24, 8, n_samples=0, max_val_windows=32)
    off = forecast_prepared(model, prep, 24, 8, n_samples=0, max_val_windows=32, range_guard=False)
    assert on.info["range_guard"]["test"]["max_excess"] > 20 > on.info["range_guard"]["validation"]["max_excess"]
    assert on.metrics["mse"] < off.metrics["mse"]
    assert "range_guard" not in off.info
