"""Benchmark windows: splits, training-only normalisation, identical windows for every model."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import pytest

from src_models.bench import registry
from src_models.bench.base import FitReport, Forecaster
from src_models.bench.datasets import Source
from src_models.bench.runner import run_benchmark
from src_models.bench.training import Budget
from src_models.bench.windows import make_windows
from src_models.errors import CalmError
from src_models.recording import Recording


def _traces(n=5, t=400, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((n, t)).cumsum(1) * 0.1 + rng.normal(3, 1, (n, 1))).astype(
        np.float32
    )


def test_splits_and_window_layout():
    x = _traces()
    d = make_windows(x, name="toy", fs=10.0, context=16, horizon=4)
    assert d.bounds == [(0, 240), (240, 320), (320, 400)]
    assert (
        len(d.train) == 240 - 20 + 1 and len(d.val) == 80 - 20 + 1 and len(d.test) == 80 - 20 + 1
    )
    z = (x - x[:, :240].mean(1, keepdims=True)) / x[:, :240].std(1, keepdims=True)
    # first test window: frames 320..335 context, 336..339 target
    assert np.allclose(d.test.contexts([0])[0], z[:, 320:336].T, atol=1e-5)
    assert np.allclose(d.test.targets([0])[0], z[:, 336:340].T, atol=1e-5)
    assert np.allclose(d.test.last([0])[0], z[:, 335], atol=1e-5)
    # the last window of each split ends exactly at the split's end
    for ws, (a, b) in zip((d.train, d.val, d.test), d.bounds):
        assert ws.first_frame == a
        assert ws.starts.max() + 20 == b - a


def test_normalisation_uses_training_frames_only():
    x = _traces()
    d1 = make_windows(x, name="a", fs=1.0, context=16, horizon=4)
    y = x.copy()
    y[:, 240:] = y[:, 240:] * 50 + 1000  # change validation and test frames only
    d2 = make_windows(y, name="b", fs=1.0, context=16, horizon=4)
    assert np.array_equal(d1.zscore.mean, d2.zscore.mean)
    assert np.array_equal(d1.zscore.std, d2.zscore.std)
    assert np.array_equal(d1.train.series, d2.train.series)
    train_z = d1.train.series
    assert np.allclose(train_z.mean(0), 0, atol=1e-5) and np.allclose(train_z.std(0), 1, atol=1e-4)
    # a model given the training windows holds no validation or test frame
    assert d1.train.series.shape[0] == 240


def test_too_short_recording_is_a_calm_error():
    with pytest.raises(CalmError, match="too short.*need at least 320 frames"):
        make_windows(_traces(t=200), name="x", fs=1.0, context=48, horizon=16, source="rec.npz")


def test_non_finite_traces_are_a_calm_error():
    x = _traces()
    x[1, 7] = np.nan
    with pytest.raises(CalmError, match="NaN"):
        make_windows(x, name="x", fs=1.0, context=16, horizon=4)


class _Spy(Forecaster):
    """Records what it is given; forecasts copy-last."""

    label = "spy"
    seen: ClassVar[list] = []

    def fit(self, train, val, budget, seed):
        type(self).seen.append((self.name, train.contexts(), val.targets()))
        return FitReport()

    def predict(self, context):
        type(self).seen.append((self.name, context))
        return np.repeat(context[:, -1:], self.horizon, axis=1)

    @property
    def n_params(self):
        return 0


def test_every_model_sees_identical_windows(monkeypatch):
    registry.known_models()
    _Spy.seen = []
    a = type("SpyA", (_Spy,), {})
    b = type("SpyB", (_Spy,), {})
    monkeypatch.setitem(registry._REGISTRY, "spy_a", a)
    monkeypatch.setitem(registry._REGISTRY, "spy_b", b)
    a.name, b.name = "spy_a", "spy_b"
    rec = Recording(F=_traces(), fs=5.0, source="toy.npz", kind="traces")
    src = Source("toy", "Toy", lambda: rec)
    res = run_benchmark(
        [src], ["spy_a", "spy_b"], seeds=1, budget=Budget(steps=1), context=16, horizon=4
    )
    fits = [s for s in _Spy.seen if len(s) == 3]
    preds = [s for s in _Spy.seen if len(s) == 2]
    assert [f[0] for f in fits] == ["spy_a", "spy_b"]
    assert np.array_equal(fits[0][1], fits[1][1]) and np.array_equal(fits[0][2], fits[1][2])
    assert np.array_equal(preds[0][1], preds[1][1])
    assert res.rows[0]["corr"] == pytest.approx(res.rows[1]["corr"])
    assert res.rows[0]["prediction_score"] == pytest.approx(0.0, abs=1e-9)


def test_real_data_file_names_what_is_missing(tmp_path, monkeypatch):
    from src_models.bench.datasets import real_data_file
    from src_models.errors import CalmError

    monkeypatch.setenv("CALM_REAL_DATA", str(tmp_path))
    (tmp_path / "rec.mat").write_bytes(b"x")
    assert real_data_file("rec.mat") == tmp_path / "rec.mat"
    with pytest.raises(CalmError, match="missing.mat not found in the real-data folder"):
        real_data_file("missing.mat")
