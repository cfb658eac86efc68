"""``calm bench``: smoke run of every model, outputs, and bad inputs."""

from __future__ import annotations

import json

import numpy as np
import pytest

from napari_calm.cli.main import main
from src_models.bench.registry import known_models


def _npz(path, n=8, t=400, seed=0):
    rng = np.random.default_rng(seed)
    tt = np.arange(t)
    x = (
        np.sin(2 * np.pi * tt / rng.uniform(10, 30, (n, 1)))
        + 0.3 * rng.standard_normal((n, t))
        + 4
    )
    np.savez(path, traces=x.astype(np.float32), fs=np.float64(10.0))
    return path


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory):
    from src_models.dat.calm import save_calm
    from src_models.dat.tiny import tiny_calm

    return save_calm(tiny_calm(), tmp_path_factory.mktemp("calm") / "tiny")


def test_smoke_every_model(tmp_path, tiny_checkpoint, capsys):
    data = _npz(tmp_path / "rec.npz")
    out = tmp_path / "out"
    code = main(
        [
            "bench",
            "--datasets",
            "none",
            "--data",
            str(data),
            "--seeds",
            "1",
            "--steps",
            "2",
            "--context",
            "16",
            "--horizon",
            "4",
            "--calm-checkpoint",
            str(tiny_checkpoint),
            "--out",
            str(out),
            "--quiet",
        ]
    )
    assert code == 0
    res = json.loads((out / "results.json").read_text())
    models = known_models()
    assert len(res["rows"]) == len(models)
    assert {r["model"] for r in res["rows"]} == set(models)
    row = res["rows"][0]
    for key in (
        "dataset",
        "model",
        "seed",
        "corr",
        "corr_median",
        "corr_per_step",
        "mse",
        "mae",
        "r2",
        "prediction_score",
        "n_params",
        "train_time_s",
        "device",
    ):
        assert key in row
    assert all(len(r["corr_per_step"]) == 4 for r in res["rows"])
    copy = [r for r in res["rows"] if r["model"] == "copy_last"]
    assert copy[0]["prediction_score"] == pytest.approx(0.0, abs=1e-9)
    assert res["datasets"][0]["preprocessing"].startswith("ΔF/F")  # positive raw traces
    assert len(res["summary"]) == len(models) and res["summary"][0]["n_seeds"] == 1
    md = (out / "results.md").read_text()
    assert (
        "| Model | rec |" in md and "CalM (pretrained → adapted)" in md and "CalM (scratch)" in md
    )
    assert "Prediction score" in md and "MSE" in md
    printed = capsys.readouterr().out
    assert "| Model | rec |" in printed and "POCO" in printed


def test_quick_suite_simulation_runs(tmp_path, capsys):
    out = tmp_path / "q"
    code = main(
        [
            "bench",
            "--suite",
            "quick",
            "--datasets",
            "sim-poco",
            "--models",
            "copy_last,ridge_var,mlp",
            "--steps",
            "2",
            "--seeds",
            "2",
            "--out",
            str(out),
            "--quiet",
        ]
    )
    assert code == 0
    res = json.loads((out / "results.json").read_text())
    assert (
        res["datasets"][0]["name"] == "sim-poco" and res["datasets"][0]["column"] == "Simulation"
    )
    assert res["datasets"][0]["n_neurons"] == 48
    assert "| Model | Simulation |" in (out / "results.md").read_text()
    assert [(r["model"], r["seed"]) for r in res["rows"]] == [
        (m, s) for m in ("copy_last", "ridge_var", "mlp") for s in (0, 1)
    ]
    ridge = [r for r in res["rows"] if r["model"] == "ridge_var"]
    assert ridge[0]["prediction_score"] > 0  # the chaotic network is forecastable
    assert ridge[0]["corr"] == ridge[1]["corr"]  # deterministic: fitted once
    summary = {s["model"]: s for s in res["summary"]}
    assert summary["mlp"]["n_seeds"] == 2 and summary["mlp"]["corr_sem"] >= 0


def test_unknown_model_exits_2_listing_known_models(tmp_path, capsys):
    code = main(["bench", "--models", "mlp,transformerx", "--out", str(tmp_path / "o")])
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: unknown model 'transformerx'; known models: copy_last")
    assert "poco" in err and "calm_scratch" in err
    assert not (tmp_path / "o").exists()


def test_too_short_recording_exits_2(tmp_path, capsys):
    data = _npz(tmp_path / "short.npz", t=150)
    code = main(
        [
            "bench",
            "--datasets",
            "none",
            "--data",
            str(data),
            "--models",
            "copy_last",
            "--out",
            str(tmp_path / "o"),
        ]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert "short.npz" in err and "too short" in err and "need at least 320 frames" in err
    assert not (tmp_path / "o" / "results.json").exists()


def test_unknown_builtin_dataset_and_bad_numbers_exit_2(tmp_path, capsys):
    assert main(["bench", "--datasets", "zapbench", "--out", str(tmp_path)]) == 2
    assert "unknown dataset 'zapbench'" in capsys.readouterr().err
    assert main(["bench", "--seeds", "0", "--out", str(tmp_path)]) == 2
    assert "--seeds" in capsys.readouterr().err


def test_resume_reuses_finished_rows_and_refuses_other_settings(tmp_path, capsys):
    data = _npz(tmp_path / "rec.npz")
    out = tmp_path / "out"
    common = [
        "bench",
        "--datasets",
        "none",
        "--data",
        str(data),
        "--context",
        "16",
        "--horizon",
        "4",
        "--steps",
        "2",
        "--out",
        str(out),
        "--quiet",
    ]
    assert main([*common, "--models", "copy_last,mlp"]) == 0
    first = {r["model"]: r for r in json.loads((out / "results.json").read_text())["rows"]}
    assert main([*common, "--models", "copy_last,mlp,nlinear", "--resume"]) == 0
    second = {r["model"]: r for r in json.loads((out / "results.json").read_text())["rows"]}
    assert set(second) == {"copy_last", "mlp", "nlinear"}
    assert second["mlp"] == first["mlp"]  # reused, not retrained
    # a partial run adds its rows and keeps the others, in table order
    assert main([*common, "--models", "dlinear", "--resume"]) == 0
    third = json.loads((out / "results.json").read_text())["rows"]
    assert [r["model"] for r in third] == ["copy_last", "nlinear", "dlinear", "mlp"]
    assert third[3] == first["mlp"]
    capsys.readouterr()
    args = [a if a != "2" else "3" for a in common]  # another step budget
    assert main([*args, "--models", "mlp", "--resume"]) == 2
    assert "cannot resume: written with other settings (budget, foundation_budget)" in capsys.readouterr().err


def test_triplett_recording_is_a_builtin_dataset(real_data, monkeypatch, tmp_path):
    monkeypatch.setenv("CALM_REAL_DATA", str(real_data))
    out = tmp_path / "t"
    code = main(
        [
            "bench",
            "--suite",
            "quick",
            "--datasets",
            "triplett",
            "--models",
            "copy_last",
            "--out",
            str(out),
            "--quiet",
        ]
    )
    assert code == 0
    ds = json.loads((out / "results.json").read_text())["datasets"][0]
    assert ds["column"] == "Single-session (Triplett)"
    assert ds["n_neurons"] == 114 and ds["n_frames"] == 1500 and ds["fs"] == 2.2
    assert ds["preprocessing"] == "z-score"  # already ΔF/F
