"""The one engine: preparation, the CalM/Adapted object and its cache, jobs, and bench == forecast."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest
import torch

from napari_calm.cli.main import main
from src_models import CalM
from src_models.bench.datasets import file_source
from src_models.bench.runner import run_benchmark
from src_models.bench.training import Budget
from src_models.dat.calm import save_calm
from src_models.dat.tiny import tiny_calm, tiny_recording
from src_models.engine import _MEMORY
from src_models.jobs import Job, JobCancelled, Progress, job_environment
from src_models.preparation import prepare_recording
from src_models.readers import read_recording
from src_models.settings import AdaptSettings

STEPS = 4


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("engine")
    rec = tiny_recording(6, 400, seed=3)
    np.savez(root / "rec.npz", traces=rec.F, fs=np.float64(rec.fs))
    return save_calm(tiny_calm(), root / "calm"), root / "rec.npz"


def test_preparation_converts_raw_fluorescence_only_and_reports_it():
    rec = tiny_recording(4, 300)
    prep = prepare_recording(rec)
    assert prep.report["dff"].startswith("ΔF/F") and prep.report["splits"]["val"] == [180, 240]
    assert np.allclose(prep.z[:, :180].mean(1), 0, atol=1e-5)  # training statistics only
    already = prepare_recording(prep.z, rec.fs)
    assert already.report["dff"] is None and np.array_equal(already.traces, prep.z)


def test_api_forecast_equals_cli_and_second_adapt_comes_from_the_cache(tiny, capsys):
    ckpt, path = tiny
    _MEMORY.clear()
    rec = read_recording(path)
    model = CalM.load(ckpt)
    before = [dict(s) for s in model.bundle.sessions]
    ad = model.adapt(rec, steps=STEPS)
    assert ad.info["cache"] is None and ad.info["adapted"] and model.bundle.sessions == before
    fc = ad.forecast(context=16, horizon=8, samples=2)
    assert main(["forecast", str(path), "--checkpoint", str(ckpt), "--context", "16", "--horizon", "8",
                 "--samples", "2", "--steps", str(STEPS), "--json", "--device", "cpu"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["metrics"] == json.loads(json.dumps(fc.metrics))
    assert report["adapt_cache"] == "memory" and report["preparation"]["dff"].startswith("ΔF/F")
    _MEMORY.clear()
    again = CalM.load(ckpt).adapt(rec, steps=STEPS)
    assert again.info["cache"] == "disk"
    assert again.forecast(context=16, horizon=8, samples=2).metrics == fc.metrics


def test_bench_calm_row_equals_calm_forecast(tiny):
    ckpt, path = tiny
    res = run_benchmark([file_source(path, read_recording)], ["calm"], seeds=1, budget=Budget(steps=2),
                        context=16, horizon=8, model_options={"calm": {"checkpoint": ckpt, "adapt_steps": STEPS,
                                                                        "n_samples": 2, "strategy": "embeddings"}})
    row = res.rows[0]
    fc = CalM.load(ckpt).adapt(read_recording(path), steps=STEPS, strategy="embeddings").forecast(
        context=16, horizon=8, samples=2)
    assert row["selected"]["variant"] == fc.selected
    for key in ("corr", "mse", "prediction_score"):
        assert row[key] == pytest.approx(fc.metrics[key], abs=1e-6)
    assert res.datasets[0]["preparation"]["dff"] == fc.info["preparation"]["dff"]


def test_adaptation_strategy_is_chosen_on_validation_within_its_budget(tiny):
    ckpt, path = tiny
    model, rec = CalM.load(ckpt), read_recording(path)
    auto = model.adapt_job(rec, steps=STEPS, full_steps=STEPS, strategy="auto", cache=False).run()
    losses = auto.info["adapt_val_loss"]
    assert set(losses) == {"embeddings", "lora", "full"} and auto.info["strategy"] == min(losses, key=losses.get)
    frozen = model.adapt_job(rec, steps=STEPS, full_steps=STEPS, strategy="embeddings", cache=False).run()
    assert set(frozen.info["adapt_val_loss"]) == {"embeddings"} and frozen.info["strategy"] == "embeddings"
    hurried = model.adapt_job(rec, steps=STEPS, full_steps=50, strategy="auto", budget_s=1e-3, cache=False).run()
    assert hurried.info["adapt_steps"] == STEPS and set(hurried.info["adapt_val_loss"]) == {"embeddings"}


def test_state_loadings_come_from_the_pretrained_states_and_the_rest_from_the_adapted_model(tiny):
    from src_models.analysis.calm_features import CalmFeatures

    ckpt, path = tiny
    model, rec = CalM.load(ckpt), read_recording(path)
    adapted = model.adapt_job(rec, steps=STEPS, full_steps=STEPS, strategy="full", cache=False).run()
    assert adapted.pretrained is model.bundle and adapted.model is not model.bundle
    emb = adapted.features().neuron_embeddings(rec)
    frozen = CalmFeatures(model.bundle).neuron_embeddings(rec)
    np.testing.assert_array_equal(emb["state_loadings"], frozen["state_loadings"])
    assert not np.allclose(emb["mean_state"], frozen["mean_state"])  # the adapted model's states
    own = adapted.features(loadings_model=adapted.model).neuron_embeddings(rec)
    assert not np.allclose(own["state_loadings"], emb["state_loadings"])


def test_a_dock_asking_for_zero_steps_gets_no_adaptation_under_the_default_strategy(tiny):
    from napari_calm.workers import adapted_job

    ckpt, path = tiny
    rec = read_recording(path)
    assert AdaptSettings().strategy == "auto" and AdaptSettings().full_steps > 0
    generic = Job(lambda c: adapted_job(rec, str(ckpt), "cpu", steps=0)).run()
    assert generic.info["adapted"] is False and "adapt_tried" not in generic.info
    frozen_dat = CalM.load(ckpt).bundle.dat.state_dict()
    assert all(torch.equal(v, frozen_dat[k]) for k, v in generic.model.dat.state_dict().items())


def test_inspector_tokens_are_the_tokens_the_dat_reads(tiny):
    from napari_calm.workers import tokenize_job
    from src_models.dat.calm import load_calm
    from src_models.dat.states import dat_input

    ckpt, path = tiny
    rec = read_recording(path)
    cache = Job(lambda c: tokenize_job(rec, str(ckpt), "cpu")).run()  # what the inspector shows
    inp = dat_input(load_calm(ckpt), rec)  # what the DAT receives (neuron_states, forecasting)
    assert np.array_equal(cache.tokens, inp.tokens.numpy())
    adapted = CalM.load(ckpt).adapt(rec, steps=STEPS)
    assert np.array_equal(adapted.tokens(), cache.tokens)  # adaptation does not change them
    assert cache.recon.shape == cache.z.shape == (rec.n_neurons, rec.n_frames)
    assert np.isfinite(cache.recon[:, : inp.token_frames[-1] + 1]).all() and cache.metrics["recon_r_median"] > -1


def test_job_cancel_and_environment_is_restored():
    import torch

    def run(cancel):
        for i in range(5):
            yield Progress(i, 5, "x")
        return "done"

    assert Job(run).run() == "done"
    job = Job(run, threads=1)
    threads = torch.get_num_threads()
    triton_loaded = sys.modules.get("triton") is not None  # an earlier test may have loaded it
    with pytest.raises(JobCancelled):
        for p in job:
            assert torch.get_num_threads() == 1
            assert triton_loaded or sys.modules.get("triton", 0) is None
            job.cancel()
    assert torch.get_num_threads() == threads
    with job_environment():
        pass
    assert "triton" not in sys.modules or sys.modules["triton"] is not None


def test_dock_workers_and_cli_commands_give_identical_numbers(tiny, tmp_path, capsys):
    from napari_calm.workers import decode_job, embed_job, forecast_job

    ckpt, _ = tiny
    rec = tiny_recording(6, 400, seed=5)
    speed = np.convolve(np.random.default_rng(0).normal(size=400), np.ones(10) / 10, "same")
    path = tmp_path / "beh.npz"
    np.savez(path, traces=rec.F, fs=np.float64(rec.fs), behavior_speed=speed)
    rec = read_recording(path)
    common = ["--checkpoint", str(ckpt), "--steps", str(STEPS), "--device", "cpu", "--json"]

    fc = Job(lambda c: forecast_job(rec, str(ckpt), "cpu", 16, 8, n_samples=2, adapt_steps=STEPS)).run()
    assert main(["forecast", str(path), "--context", "16", "--horizon", "8", "--samples", "2",
                 "--stride", "8", *common]) == 0
    assert json.loads(capsys.readouterr().out)["metrics"] == json.loads(json.dumps(fc.metrics))

    emb = Job(lambda c: embed_job(rec, str(ckpt), "cpu", adapt_steps=STEPS)).run()
    assert main(["embed", str(path), "--out", str(tmp_path / "e.npz"), "--method", "pca", *common]) == 0
    capsys.readouterr()
    with np.load(tmp_path / "e.npz") as z:
        np.testing.assert_array_equal(z["coords"], emb.coords["PCA"])

    dec = Job(lambda c: decode_job(rec, "speed", checkpoint=str(ckpt), device="cpu", baselines=("ridge",),
                                   n_folds=3, context=16, n_shifts=2, adapt_steps=STEPS)).run()
    assert main(["decode", str(path), "--target", "speed", "--baselines", "ridge", "--folds", "3",
                 "--context", "16", "--shifts", "2", *common]) == 0
    scores = json.loads(capsys.readouterr().out)["scores"]
    for name in ("ridge", "calm_adapted_neurons_hybrid"):
        assert scores[name] == json.loads(json.dumps(dec.scores[name]))
