"""``calm decode`` and ``calm embed``: JSON keys, output files, bad inputs (exit 2, one error line)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from napari_calm.cli.main import main


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A small task-like recording as a CalM .npz and a tiny CalM checkpoint."""
    from src_models.dat.calm import save_calm
    from src_models.dat.tiny import tiny_calm
    from src_models.simulation import simulate

    root = tmp_path_factory.mktemp("cli")
    rec = simulate("task", seed=4, n_neurons=30, n_frames=4500)[0].recording
    arrays = {"traces": rec.traces, "fs": np.float64(rec.fs)}
    arrays.update({f"behavior_{k}": v for k, v in rec.behavior.items()})
    arrays.update({f"trials_{k}": v for k, v in rec.trials.items()})
    few = dict(arrays)
    few["trials_outcome"] = np.r_[np.ones(len(rec.trials["cue"]) - 2), 0, 0].astype(int)
    np.savez(root / "task.npz", **arrays)
    np.savez(root / "few.npz", **few)
    save_calm(tiny_calm(), root / "ckpt")
    return root


def _fast(files):
    return ["--checkpoint", str(files / "ckpt"), "--no-adapt", "--shifts", "2"]


def test_decode_json_and_npz(files, capsys):
    out = files / "decoded.npz"
    code = main(
        [
            "decode",
            str(files / "task.npz"),
            "--target",
            "angular_velocity",
            "--json",
            "--baselines",
            "ridge",
            "--heads",
            "linear",
            "--out",
            str(out),
            *_fast(files),
        ]
    )
    assert code == 0
    js = json.loads(capsys.readouterr().out)
    assert {
        "target",
        "metric",
        "calm",
        "baselines",
        "chance",
        "calm_model",
        "scores",
        "gap",
        "n_samples",
    } <= set(js)
    assert js["target"] == "angular_velocity" and js["metric"] == "r2"
    assert set(js["baselines"]) == {"ridge"} and js["calm_model"] == "calm_frozen_neurons_linear"
    with np.load(out, allow_pickle=False) as z:
        assert {
            "frames",
            "times",
            "true",
            "fold",
            "pred_ridge",
            "pred_calm_frozen_neurons_linear",
            "json",
        } <= set(z.files)
        assert z["true"].shape == z["pred_ridge"].shape
        assert json.loads(str(z["json"]))["target"] == "angular_velocity"


def test_decode_discrete_trial_target_text_output(files, capsys):
    code = main(
        [
            "decode",
            str(files / "task.npz"),
            "--target",
            "choice",
            "--baselines",
            "ridge",
            "--heads",
            "linear",
            "--readouts",
            "neurons,pooled",
            *_fast(files),
        ]
    )
    assert code == 0
    out = capsys.readouterr().out
    assert "balanced_accuracy" in out and "calm_frozen_pooled_linear" in out and "chance" in out


def test_decode_unknown_target_lists_what_exists(files, capsys):
    code = main(["decode", str(files / "task.npz"), "--target", "speed", *_fast(files)])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: ") and err.count("\n") == 1
    assert (
        "behavior variables: angular_velocity, running_speed" in err
        and "trial columns: choice, cue, outcome" in err
    )


def test_decode_too_few_trials_per_condition(files, capsys):
    code = main(["decode", str(files / "few.npz"), "--target", "outcome", *_fast(files)])
    err = capsys.readouterr().err
    assert code == 2 and "too few trials per condition of 'outcome'" in err and "0: 2" in err


def test_decode_refuses_unknown_readouts(files, capsys):
    code = main(
        [
            "decode",
            str(files / "task.npz"),
            "--target",
            "cue",
            "--readouts",
            "tokens",
            *_fast(files),
        ]
    )
    assert code == 2 and "unknown --readouts" in capsys.readouterr().err


def test_decode_refuses_a_bad_output_name(files, capsys):
    code = main(
        [
            "decode",
            str(files / "task.npz"),
            "--target",
            "cue",
            "--out",
            str(files / "x.txt"),
            *_fast(files),
        ]
    )
    assert code == 2 and "must end in .npz" in capsys.readouterr().err
    assert not (files / "x.txt").exists()


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--out", "no/such/folder/d.npz"], "output folder does not exist"),
        (["--device", "gpu9"], "unknown device"),
        (["--context", "2"], "at least one token"),
    ],
)
def test_decode_refuses_a_missing_output_folder_and_an_unknown_device(files, capsys, extra, message):
    if extra[0] == "--out":
        extra = ["--out", str(files / extra[1])]
    code = main(["decode", str(files / "task.npz"), "--target", "cue", *extra, *_fast(files)])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error:") and message in err
    assert len(err.strip().splitlines()) == 1


def test_embed_json_and_npz(files, capsys):
    out = files / "emb.npz"
    code = main(
        [
            "embed",
            str(files / "task.npz"),
            "--out",
            str(out),
            "--json",
            "--checkpoint",
            str(files / "ckpt"),
            "--no-adapt",
            "--method",
            "pca",
            "--perm",
            "50",
            "--shuffles",
            "10",
        ]
    )
    assert code == 0
    js = json.loads(capsys.readouterr().out)
    assert {
        "n_neurons",
        "method",
        "primary",
        "embeddings",
        "selectivity",
        "probes",
        "adapted",
    } <= set(js)
    assert js["n_neurons"] == 30 and js["method"] == "pca" and js["adapted"] is False
    assert js["primary"] == "state_loadings"
    probes = js["probes"][js["primary"]]
    assert {"si_cue", "si_choice", "strength", "gradient", "separation"} <= set(probes)
    assert {"score", "shuffled_mean", "p"} <= set(probes["si_cue"])
    with np.load(out, allow_pickle=False) as z:
        assert z["coords"].shape == (30, 2)
        assert {"si_cue", "p_cue", "q_cue", "si_choice", "p_choice", "emb_state_loadings"} <= set(
            z.files
        )


def test_embed_missing_recording(files, capsys):
    code = main(
        [
            "embed",
            str(files / "nope.npz"),
            "--out",
            str(files / "e.npz"),
            "--checkpoint",
            str(files / "ckpt"),
        ]
    )
    assert code == 2 and capsys.readouterr().err.startswith("error: ")
