"""Every baseline fits and forecasts with the right shapes on a tiny recording."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from src_models.bench.base import Forecaster
from src_models.bench.registry import get_model, known_models, parse_models
from src_models.bench.training import Budget
from src_models.bench.windows import make_windows
from src_models.errors import CalmError
from src_models.metrics import forecast_metrics

C, H = 16, 4
BASELINES = [m for m in known_models() if get_model(m).family != "foundation"]
TRAINED = [m for m in BASELINES if get_model(m).family not in ("naive",) and m != "ridge_var"]


@pytest.fixture(scope="module")
def data():
    """Six noisy oscillators with distinct periods: easy to beat copy-last on."""
    rng = np.random.default_rng(0)
    t = np.arange(600)
    periods = np.array([9, 12, 15, 18, 22, 27])[:, None]
    x = np.sin(2 * np.pi * t / periods + rng.uniform(0, 6, (6, 1))) + 0.2 * rng.standard_normal(
        (6, 600)
    )
    return make_windows(x, name="osc", fs=10.0, context=C, horizon=H)


BUDGET = Budget(
    steps=40, batch_size=8, lr_grid=(3e-3,), eval_every=20, patience=2, max_val_windows=32
)


def _fit(name, data, seed=0):
    torch.set_num_threads(1)
    model = get_model(name)(context=C, horizon=H, n_neurons=data.n_neurons, fs=data.fs)
    report = model.fit(data.train, data.val, BUDGET, seed)
    return model, report


@pytest.mark.parametrize("name", BASELINES)
def test_baseline_fits_and_predicts_shapes(name, data):
    model, report = _fit(name, data)
    assert isinstance(model, Forecaster)
    pred = model.predict(data.test.contexts())
    assert pred.shape == (len(data.test), H, data.n_neurons)
    assert np.isfinite(pred).all()
    assert model.n_params >= 0
    if name in TRAINED:
        assert model.n_params > 0 and report.lr == 3e-3 and 0 < report.steps <= BUDGET.steps
        assert report.val_mse is not None and np.isfinite(report.val_mse)


@pytest.mark.parametrize("name", ["nlinear", "dlinear", "ridge_var", "mlp", "poco"])
def test_learned_models_beat_copy_last(name, data):
    model, _ = _fit(name, data)
    m = forecast_metrics(
        model.predict(data.test.contexts()), data.test.targets(), data.test.last()
    )
    assert m["prediction_score"] > 0.2, m
    assert m["corr"] > 0.5, m


def test_fixed_seed_gives_identical_forecasts(data):
    a, _ = _fit("itransformer", data, seed=3)
    b, _ = _fit("itransformer", data, seed=3)
    ctx = data.test.contexts()
    assert np.array_equal(a.predict(ctx), b.predict(ctx))


def test_naive_forecasts():
    ctx = np.arange(2 * 5 * 3, dtype=np.float32).reshape(2, 5, 3)
    last = get_model("copy_last")(context=5, horizon=2, n_neurons=3).predict(ctx)
    mean = get_model("context_mean")(context=5, horizon=2, n_neurons=3).predict(ctx)
    assert np.array_equal(last, np.repeat(ctx[:, -1:], 2, axis=1))
    assert np.allclose(mean, np.repeat(ctx.mean(1, keepdims=True), 2, axis=1))


def test_ridge_recovers_a_linear_system():
    """On a noiseless stable VAR(1) the ridge forecast is almost exact."""
    rng = np.random.default_rng(1)
    n = 4
    q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    A = 0.97 * q
    x = np.zeros((n, 800))
    x[:, 0] = rng.standard_normal(n)
    for t in range(1, 800):
        x[:, t] = A @ x[:, t - 1] + 0.05 * rng.standard_normal(n)
    d = make_windows(x, name="var", fs=1.0, context=8, horizon=2)
    model = get_model("ridge_var")(context=8, horizon=2, n_neurons=n)
    report = model.fit(d.train, d.val, BUDGET, 0)
    m = forecast_metrics(model.predict(d.test.contexts()), d.test.targets(), d.test.last())
    assert m["corr"] > 0.95 and m["prediction_score"] > 0.5
    assert report.selected["lag"] >= 1 and report.selected["lambda"] > 0


def test_poco_film_is_zero_initialised_and_uses_unit_embeddings(data):
    model = get_model("poco")(context=C, horizon=H, n_neurons=data.n_neurons)
    torch.manual_seed(0)
    net = model.build()
    assert net.encoder.unit_emb.num_embeddings == data.n_neurons
    x = torch.randn(3, C, data.n_neurons)
    out = net(x, torch.arange(data.n_neurons))
    assert out.shape == (3, H, data.n_neurons)
    # α = β = 0 at init: the forecast is the output bias, whatever the input
    assert torch.allclose(out, net.out.bias[None, :, None].expand_as(out))
    # a subset of neurons (training-time subsampling) works too
    assert net(x[:, :, [1, 4]], torch.tensor([1, 4])).shape == (3, H, 2)


def test_unknown_model_lists_known_models():
    with pytest.raises(
        CalmError, match="unknown model 'nope'; known models: copy_last, context_mean"
    ):
        parse_models("mlp,nope")
    assert parse_models("mlp, poco") == ["mlp", "poco"]
    assert parse_models(None) == known_models()


@pytest.fixture(scope="module")
def tiny_ckpt(tmp_path_factory):
    from src_models.dat.calm import save_calm
    from src_models.dat.tiny import tiny_calm

    return save_calm(tiny_calm(), tmp_path_factory.mktemp("calm") / "tiny")


def test_calm_rows_wrap_dat(tiny_ckpt, data):
    from src_models.dat.calm import load_calm

    ref = load_calm(tiny_ckpt)
    scratch = get_model("calm_scratch")(
        context=C, horizon=H, n_neurons=6, fs=10.0, checkpoint=tiny_ckpt
    )
    fresh = scratch.initial_model(seed=1)
    assert (
        fresh.dat.cfg.d_model == ref.dat.cfg.d_model
        and fresh.dat.cfg.n_layers == ref.dat.cfg.n_layers
    )
    assert not torch.equal(fresh.dat.blocks[0].mlp[0].weight, ref.dat.blocks[0].mlp[0].weight)
    adapted = get_model("calm")(context=C, horizon=H, n_neurons=6, fs=10.0, checkpoint=tiny_ckpt)
    assert torch.equal(
        adapted.initial_model(0).dat.blocks[0].mlp[0].weight, ref.dat.blocks[0].mlp[0].weight
    )
    budget = Budget(
        steps=4, batch_size=4, lr_grid=(1e-3,), eval_every=2, max_val_windows=8, max_neurons=6
    )
    report = adapted.fit(data.train, data.val, budget, 0)
    assert report.selected["variant"] == min(report.selected["variant_val_mse"], key=report.selected["variant_val_mse"].get)
    assert {"var", "blend_greedy"} <= set(report.selected["variant_val_mse"])
    assert report.selected["strategy"] in ("embeddings", "full")
    pred = adapted.predict(data.test.contexts([0, 5, 9]))
    assert pred.shape == (3, H, 6) and np.isfinite(pred).all()
    assert adapted.n_params > 0


def test_calm_is_unavailable_without_weights(tmp_path):
    cls = get_model("calm")
    assert "not found" in cls.unavailable(checkpoint=tmp_path / "missing")
