"""NQ training: determinism for a seed, resume after interruption, code usage, schedules."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nq_helpers import calcium_like, tiny_config
from src_models.checkpoint import read_meta
from src_models.errors import CalmError
from src_models.nq.data import WindowSampler, fill_gaps, prepare_source
from src_models.nq.io import load_nq
from src_models.nq.tokenize import tokenize_traces
from src_models.nq.train import learning_rate, temperature, train_nq


def _sources(cfg):
    return [prepare_source("a", calcium_like(10, 300, seed=1), 10.0, cfg),
            prepare_source("b", calcium_like(6, 200, seed=2), 30.0, cfg)]


def _state(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


def test_deterministic_for_a_seed(tmp_path):
    cfg = tiny_config(steps=8)
    a = _state(train_nq(_sources(cfg), cfg, tmp_path / "a", device="cpu"))
    b = _state(train_nq(_sources(cfg), cfg, tmp_path / "b", device="cpu"))
    assert all(torch.equal(a[k], b[k]) for k in a)
    cfg2 = tiny_config(steps=8, seed=1)
    c = _state(train_nq(_sources(cfg2), cfg2, tmp_path / "c", device="cpu"))
    assert not all(torch.equal(a[k], c[k]) for k in a)


@pytest.mark.parametrize("quantizer", ["gumbel", "vq_ema"])
def test_resume_after_interruption_matches_uninterrupted_run(tmp_path, quantizer):
    cfg = tiny_config(steps=12, checkpoint_every=5, quantizer=quantizer)
    full = _state(train_nq(_sources(cfg), cfg, tmp_path / "full", device="cpu"))

    def stop_at_8(info):
        if info["step"] == 8:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train_nq(_sources(cfg), cfg, tmp_path / "run", device="cpu", progress=stop_at_8)
    meta = read_meta(tmp_path / "run")
    assert meta["state"]["step"] == 5 and not meta["state"]["complete"]
    # the unfinished checkpoint is already a usable tokenizer
    assert load_nq(tmp_path / "run").config == cfg
    steps = []
    resumed = train_nq(_sources(cfg), cfg, tmp_path / "run", device="cpu",
                       progress=lambda info: steps.append(info["step"]))
    assert steps[0] == 6 and steps[-1] == 12
    state = _state(resumed)
    assert all(torch.equal(full[k], state[k]) for k in full)
    final = read_meta(tmp_path / "run")
    assert final["state"]["complete"] and final["state"]["step"] == 12
    assert not any(k.startswith("train.") for k in load_nq(tmp_path / "run").state_dict())


def test_resume_refuses_a_different_config_or_data(tmp_path):
    cfg = tiny_config(steps=5)
    train_nq(_sources(cfg), cfg, tmp_path / "run", device="cpu")
    with pytest.raises(CalmError, match="different config"):
        train_nq(_sources(cfg), tiny_config(steps=6), tmp_path / "run", device="cpu")
    with pytest.raises(CalmError, match="different training data"):
        train_nq(_sources(cfg)[:1], cfg, tmp_path / "run", device="cpu")


def test_code_usage_statistics_after_training(tmp_path):
    """Gumbel + usage regulariser keeps most of a small vocabulary in use."""
    cfg = tiny_config(steps=30)
    model = train_nq(_sources(cfg), cfg, tmp_path / "m", device="cpu")
    res = tokenize_traces(model, calcium_like(10, 300, seed=1), 10.0)
    m = res.metrics
    counts = np.bincount(res.tokens.ravel(), minlength=cfg.codebook_size)
    p = counts / counts.sum()
    assert m["codebook_used_fraction"] == pytest.approx((counts > 0).mean())
    assert m["codebook_perplexity"] == pytest.approx(np.exp(-(p[p > 0] * np.log(p[p > 0])).sum()))
    assert m["codebook_used_fraction"] >= 0.75
    assert m["codebook_perplexity"] >= cfg.codebook_size / 4
    assert m["recon_r_median"] > 0.5


def test_schedules():
    cfg = tiny_config(steps=100, warmup_steps=10, tau_start=1.0, tau_end=0.1, tau_anneal_fraction=0.5)
    assert temperature(0, cfg) == pytest.approx(1.0)
    assert temperature(50, cfg) == pytest.approx(0.1)
    assert temperature(99, cfg) == pytest.approx(0.1)
    assert learning_rate(0, cfg) == pytest.approx(cfg.lr / 10)
    assert learning_rate(10, cfg) == pytest.approx(cfg.lr)
    assert learning_rate(100, cfg) == pytest.approx(cfg.lr / 10)


def test_sampler_batches_depend_only_on_step():
    cfg = tiny_config()
    s1, s2 = WindowSampler(_sources(cfg), cfg), WindowSampler(_sources(cfg), cfg)
    assert np.array_equal(s1.batch(7), s2.batch(7))
    assert not np.array_equal(s1.batch(7), s1.batch(8))
    assert s1.batch(0).shape == (cfg.batch_size, cfg.window)


def test_prepare_source_handles_bad_traces():
    cfg = tiny_config()
    x = calcium_like(5, 100)
    x[1] = 2.0                       # constant neuron: dropped
    x[2, 10:20] = np.nan             # gap: interpolated
    src = prepare_source("x", x, 10.0, cfg)
    assert src.traces.shape == (4, 100) and np.isfinite(src.traces).all()
    assert src.report["constant_dropped"] == 1 and src.report["nan_frames_filled"] == 10
    # z-scored with statistics of the finite frames (row 1 is the gap row after dropping row 1)
    assert np.allclose(src.traces[[0, 2, 3]].mean(1), 0, atol=1e-4)
    finite = np.r_[0:10, 20:100]
    assert abs(src.traces[1, finite].mean()) < 1e-4 and abs(src.traces[1, finite].std() - 1) < 1e-4
    assert prepare_source("short", calcium_like(3, cfg.window - 1), 10.0, cfg) is None
    with pytest.raises(CalmError):
        WindowSampler([], cfg)


def test_fill_gaps_interpolates_linearly():
    x = np.array([[0.0, np.nan, np.nan, 3.0, np.nan], [np.nan] * 5], np.float32)
    filled, bad = fill_gaps(x)
    assert np.allclose(filled[0], [0, 1, 2, 3, 3]) and np.allclose(filled[1], 0)
    assert bad.sum() == 8
