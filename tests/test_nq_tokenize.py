"""tokenize_traces: metrics, windowing, NaN gaps, constant and short traces, streaming, frame rate."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nq_helpers import calcium_like, tiny_config
from src_models.errors import CalmError
from src_models.nq.kmeans_vq import KMeansVQ
from src_models.nq.model import NeuralQuantizer
from src_models.nq.rate import frames_to_tokens, from_model_rate, to_model_rate, tokens_to_frames
from src_models.nq.tokenize import tokenize_traces, window_plan


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return NeuralQuantizer(tiny_config()).eval()


@pytest.fixture(scope="module")
def kmeans():
    x = calcium_like(20, 400, seed=3)
    z = (x - x.mean(1, keepdims=True)) / x.std(1, keepdims=True)
    return KMeansVQ.fit([z], n_codes=16, patch_len=4, window=16)


def _zscore(x):
    return (x - x.mean(1, keepdims=True)) / x.std(1, keepdims=True)


def test_window_plan():
    assert window_plan(20, 8) == [(0, 0), (8, 0), (12, 4)]
    assert window_plan(16, 8) == [(0, 0), (8, 0)]
    assert window_plan(3, 8) == [(0, 0)]


def test_shapes_and_metrics_match_direct_computation(kmeans):
    x = calcium_like(6, 203, seed=4)
    res = tokenize_traces(kmeans, x, 10.0)
    assert res.tokens.shape == (6, 51) and res.tokens.dtype == np.int32
    assert res.recon.shape == x.shape and res.mask.shape == x.shape and not res.mask.any()
    z = _zscore(x)
    # k-means codes patch by patch: tokens equal nearest centroids of the z-scored patches
    direct = kmeans.encode(torch.from_numpy(z[:, :200].copy())).numpy()
    assert np.array_equal(res.tokens[:, :50], direct)
    zr = (res.recon - x.mean(1, keepdims=True)) / x.std(1, keepdims=True)
    r = [np.corrcoef(a, b)[0, 1] for a, b in zip(z, zr)]
    m = res.metrics
    assert m["recon_r_median"] == pytest.approx(np.median(r), abs=1e-5)
    assert m["recon_mse"] == pytest.approx(np.mean((z - zr) ** 2), abs=1e-5)
    assert m["recon_r2"] == pytest.approx(1 - np.sum((z - zr) ** 2) / np.sum(z**2), abs=1e-5)
    assert m["padded_frames"] == 1 and m["masked_fraction"] == 0 and not m["short_input"]
    assert m["bits_per_frame"] == pytest.approx(4 * 51 / 203)


def test_chunking_does_not_change_the_result(model):
    x = calcium_like(7, 150, seed=5)
    a = tokenize_traces(model, x, 5.0)
    b = tokenize_traces(model, x, 5.0, batch_windows=3)
    assert np.array_equal(a.tokens, b.tokens)
    assert np.allclose(a.recon, b.recon, atol=1e-5)
    assert a.metrics["recon_mse"] == pytest.approx(b.metrics["recon_mse"], rel=1e-5)


def test_nan_gaps_are_masked_and_reported(model):
    x = calcium_like(4, 160, seed=6)
    x[1, 20:60] = np.nan
    x[2, 5] = np.inf
    res = tokenize_traces(model, x, 10.0)
    assert res.mask[1, 20:60].all() and res.mask[2, 5] and res.mask.sum() == 41
    assert res.metrics["nan_fraction"] == pytest.approx(41 / x.size)
    assert res.metrics["masked_fraction"] == pytest.approx(41 / x.size)
    assert res.token_mask[1, 5:15].all() and res.token_mask.sum() == 10   # tokens fully inside the gap
    assert np.isfinite(res.recon).all() and np.isfinite(res.metrics["recon_r_median"])
    clean = tokenize_traces(model, np.nan_to_num(x, nan=0.0, posinf=0.0), 10.0)
    assert clean.metrics["masked_fraction"] == 0


def test_constant_traces_are_masked_and_reconstructed_exactly(model):
    x = calcium_like(3, 64, seed=7)
    x[0] = 5.0
    res = tokenize_traces(model, x, 10.0)
    assert res.metrics["constant_neurons"] == 1 and res.mask[0].all() and res.token_mask[0].all()
    assert np.all(res.recon[0] == 5.0)
    assert res.metrics["neurons_scored"] == 2
    assert res.metrics["masked_fraction"] == pytest.approx(1 / 3)
    everything_constant = tokenize_traces(model, np.ones((2, 40), np.float32), 10.0)
    assert np.isnan(everything_constant.metrics["recon_r_median"])


def test_traces_shorter_than_one_window_are_padded(model):
    x = calcium_like(3, 10, seed=8)           # window is 16 frames, patch 4
    res = tokenize_traces(model, x, 10.0)
    assert res.tokens.shape == (3, 3) and res.recon.shape == (3, 10)
    assert res.metrics["short_input"] and res.metrics["padded_frames"] == 6
    assert not res.mask.any() and np.isfinite(res.recon).all()


def test_streams_into_preallocated_outputs(model, tmp_path):
    from numpy.lib.format import open_memmap

    x = calcium_like(5, 120, seed=9)
    path = tmp_path / "x.npy"
    np.save(path, x)
    src = np.load(path, mmap_mode="r")
    tok = open_memmap(tmp_path / "t.npy", mode="w+", dtype=np.int32, shape=(5, 30))
    rec = open_memmap(tmp_path / "r.npy", mode="w+", dtype=np.float32, shape=(5, 120))
    res = tokenize_traces(model, src, 10.0, batch_windows=4, tokens_out=tok, recon_out=rec)
    ref = tokenize_traces(model, x, 10.0)
    assert res.tokens is tok and np.array_equal(np.asarray(tok), ref.tokens)
    assert np.allclose(np.asarray(rec), ref.recon, atol=1e-5)
    with pytest.raises(CalmError, match="tokens_out"):
        tokenize_traces(model, x, 10.0, tokens_out=np.zeros((5, 3), np.int32))


def test_bad_arguments(model):
    with pytest.raises(CalmError):
        tokenize_traces(model, np.zeros(10, np.float32), 10.0)
    with pytest.raises(CalmError):
        tokenize_traces(model, np.zeros((2, 0), np.float32), 10.0)
    with pytest.raises(CalmError):
        tokenize_traces(model, np.zeros((2, 20), np.float32), 0.0)


def test_frame_rate_maps():
    native = tiny_config()
    assert frames_to_tokens(48, 2.2, native) == 12 and tokens_to_frames(4, 100.0, native) == 16
    x = np.random.default_rng(0).standard_normal((2, 100)).astype(np.float32)
    assert to_model_rate(x, 30.0, native) is not None and np.array_equal(to_model_rate(x, 30.0, native), x)
    res = tiny_config(fs_policy="resample", canonical_fs=10.0)
    assert frames_to_tokens(48, 30.0, res) == 4 and tokens_to_frames(4, 30.0, res) == pytest.approx(48)
    slow = np.sin(np.linspace(0, 4 * np.pi, 300))[None].astype(np.float32)
    down = to_model_rate(slow, 30.0, res)
    assert down.shape == (1, 100)
    back = from_model_rate(down, 30.0, 300, res)
    assert back.shape == (1, 300) and np.corrcoef(back[0], slow[0])[0, 1] > 0.99


def test_resample_policy_tokenizes_on_the_model_axis():
    torch.manual_seed(0)
    m = NeuralQuantizer(tiny_config(fs_policy="resample", canonical_fs=10.0)).eval()
    x = calcium_like(3, 300, seed=10)
    x[0, 50:60] = np.nan
    res = tokenize_traces(m, x, 30.0)
    assert res.tokens.shape == (3, 25) and res.recon.shape == (3, 300)
    assert res.metrics["model_fs"] == 10.0 and res.mask[0, 50:60].all()
    assert res.metrics["bits_per_frame"] == pytest.approx(4 * 25 / 300)
