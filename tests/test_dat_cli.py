"""``calm pretrain``, ``calm finetune`` and ``calm forecast`` on tiny models."""

from __future__ import annotations

import json

import numpy as np
import pytest

from napari_calm.cli.main import main
from src_models.dat.tiny import TINY_DAT, tiny_nq, tiny_recording
from src_models.nq.io import save_nq

METRIC_KEYS = {"corr", "mse", "prediction_score", "mae", "r2", "corr_median", "corr_per_step"}


def _npz(path, n, T, seed):
    rec = tiny_recording(n, T, seed=seed)
    np.savez(path, traces=rec.F, fs=np.float64(rec.fs))
    return str(path)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    save_nq(tiny_nq(), root / "nq")
    cfg = {"model": TINY_DAT, "tokenizer": {"causal_frames": 8},
           "train": {"batch_size": 2, "window_tokens": 6, "max_neurons": 6, "val_every": 2,
                     "checkpoint_every": 2, "val_windows": 2, "warmup_steps": 1}}
    (root / "cfg.json").write_text(json.dumps(cfg))
    a, b = _npz(root / "a.npz", 6, 300, 1), _npz(root / "b.npz", 8, 300, 2)
    assert main(["pretrain", "--data", a, f"{b}@0:0.6", "--out", str(root / "run"), "--nq", str(root / "nq"),
                 "--config", str(root / "cfg.json"), "--max-steps", "2", "--device", "cpu"]) == 0
    return root


def test_pretrain_writes_best_and_last(trained, capsys):
    assert (trained / "run" / "best" / "config.json").is_file()
    meta = json.loads((trained / "run" / "last" / "config.json").read_text())
    assert meta["state"]["step"] == 2
    assert [s["source"].endswith("b.npz@0:0.6") for s in meta["sessions"]] == [False, True]


def test_forecast_json_keys(trained, tmp_path, capsys):
    path = _npz(tmp_path / "new.npz", 5, 400, 3)
    code = main(["forecast", path, "--checkpoint", str(trained / "run"), "--context", "16", "--horizon", "8",
                 "--json", "--samples", "2", "--steps", "2", "--out", str(tmp_path / "f.npz"), "--device", "cpu"])
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    assert METRIC_KEYS <= set(report["metrics"]) and METRIC_KEYS <= set(report["baseline_copy_last"])
    assert report["baseline_copy_last"]["prediction_score"] == 0.0
    assert report["selected"] in report["variants"] and set(report["val_mse"]) == set(report["variants"])
    assert report["n_windows"] == 80 - 24 + 1 and report["n_neurons"] == 5
    assert report["adapted"] is True and report["band"]["quantiles"] == [0.1, 0.9]
    with np.load(tmp_path / "f.npz") as z:
        assert z["pred"].shape == z["true"].shape == (57, 8, 5)
        assert json.loads(str(z["metrics_json"]))["selected"] == report["selected"]


def test_forecast_linear_skip_variants_and_no_skip(trained, tmp_path, capsys):
    path = _npz(tmp_path / "new.npz", 5, 400, 3)
    args = ["forecast", path, "--checkpoint", str(trained / "run"), "--context", "16", "--horizon", "8", "--json",
            "--samples", "0", "--no-adapt", "--stride", "8", "--device", "cpu"]
    assert main(args) == 0
    report = json.loads(capsys.readouterr().out)
    linear = {"var", "ar", "blend_linear", "blend_greedy", "blend_regression"}
    assert linear <= set(report["variants"]) and linear <= set(report["val_mse"])
    skip = report["linear_skip"]
    assert {"lag", "lambda", "delta", "blend_weights", "stack_weights"} <= set(skip) and skip["ar"]["lag"] >= 4
    for name, w in skip["stack_weights"].items():
        anchors = {"var", "ar", "last", "mean"}
        assert set(w) == (anchors if name == "blend_linear" else {"calm", *anchors})
        assert np.allclose(np.sum(list(w.values()), axis=0), 1.0, atol=2e-3)
    assert not {"last", "mean"} & set(report["variants"])  # anchors are stack parts, not variants
    assert main([*args, "--no-skip"]) == 0
    plain = json.loads(capsys.readouterr().out)
    assert set(plain["variants"]) == {"greedy", "regression"} and "linear_skip" not in plain


def test_forecast_refuses_a_recording_shorter_than_context_plus_horizon(trained, tmp_path, capsys):
    path = _npz(tmp_path / "short.npz", 4, 50, 4)
    assert main(["forecast", path, "--checkpoint", str(trained / "run"), "--json"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "short.npz" in err and "shorter than context + horizon = 64" in err


def test_finetune_cli(trained, tmp_path, capsys):
    path = _npz(tmp_path / "ft.npz", 5, 300, 5)
    code = main(["finetune", path, "--checkpoint", str(trained / "run"), "--out", str(tmp_path / "ft"),
                 "--steps", "2", "--device", "cpu"])
    assert code == 0
    assert capsys.readouterr().out.strip().endswith("best")
    meta = json.loads((tmp_path / "ft" / "last" / "config.json").read_text())
    assert meta["state"]["step"] == 2 and meta["state"]["config"]["full_steps"] == 1


def test_finetune_ctrl_c_saves_a_consistent_checkpoint(trained, tmp_path):
    import os
    import signal
    import subprocess
    import sys

    from src_models.dat.calm import load_calm

    path = _npz(tmp_path / "ft.npz", 5, 300, 6)
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.Popen(
        [sys.executable, "-m", "napari_calm.cli.main", "finetune", path, "--checkpoint", str(trained / "run"),
         "--out", str(tmp_path / "ft"), "--steps", "100000", "--device", "cpu"],
        stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env,
    )
    line = proc.stderr.readline()  # first progress line: training is under way
    assert "step" in line, line
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "stopping" in err and out.strip().endswith("best")
    model, extra, meta = load_calm(tmp_path / "ft" / "last", with_extra=True)
    assert 0 < meta["state"]["step"] < 100000 and meta["state"]["phase"] == "embeddings" and extra
    load_calm(tmp_path / "ft")


def test_pretrain_refuses_a_mask_fraction_outside_0_1(trained, tmp_path, capsys):
    (tmp_path / "cfg.json").write_text(json.dumps({"train": {"mask_neurons": 1.5}}))
    a = _npz(tmp_path / "a.npz", 6, 300, 1)
    assert main(["pretrain", "--data", a, "--out", str(tmp_path / "run"), "--nq", str(trained / "nq"),
                 "--config", str(tmp_path / "cfg.json"), "--device", "cpu"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:") and "cfg.json" in err[0] and "mask_neurons" in err[0]
    assert not (tmp_path / "run").exists()
