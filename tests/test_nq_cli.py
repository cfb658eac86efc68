"""``calm train-nq`` and ``calm tokenize``: outputs, JSON keys, resume, error contract."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from napari_calm.cli.main import main
from nq_helpers import calcium_like, tiny_config
from src_models.nq.io import default_nq_path, load_nq

JSON_KEYS = {"recon_r_median", "recon_r2", "recon_mse", "codebook_perplexity", "codebook_used_fraction",
             "masked_fraction"}


@pytest.fixture(scope="module")
def recording(tmp_path_factory):
    path = tmp_path_factory.mktemp("rec") / "rec.npz"
    np.savez(path, traces=calcium_like(8, 240, seed=11), fs=np.float64(15.0))
    return path


@pytest.fixture(scope="module")
def trained(tmp_path_factory, recording):
    root = tmp_path_factory.mktemp("nq")
    tiny_config(steps=6).to_json(root / "tiny.json")
    status = main(["train-nq", "--data", f"{recording}@0:0.6", "--out", str(root / "ckpt"),
                   "--config", str(root / "tiny.json"), "--threads", "1"])
    assert status == 0
    return root


def test_train_nq_writes_a_loadable_tokenizer_and_resumes(trained, recording, capsys):
    model = load_nq(trained / "ckpt")
    state = model.checkpoint_state
    assert state["complete"] and state["step"] == 6
    assert state["data"][0]["name"].endswith("rec.npz@0:0.6") and state["data"][0]["model_frames"] == 144
    # same command again: already complete, nothing to do, still exit 0
    assert main(["train-nq", "--data", f"{recording}@0:0.6", "--out", str(trained / "ckpt"),
                 "--config", str(trained / "tiny.json")]) == 0
    # --max-steps changes the run: refused for the existing folder
    assert main(["train-nq", "--data", f"{recording}@0:0.6", "--out", str(trained / "ckpt"),
                 "--config", str(trained / "tiny.json"), "--max-steps", "9"]) == 2
    assert "error:" in capsys.readouterr().err


def test_tokenize_json_keys_and_npz(trained, recording, tmp_path, capsys):
    out = tmp_path / "tokens.npz"
    status = main(["tokenize", str(recording), "--checkpoint", str(trained / "ckpt"), "--out", str(out), "--json"])
    assert status == 0
    metrics = json.loads(capsys.readouterr().out)
    assert JSON_KEYS <= set(metrics)
    assert 0 < metrics["codebook_used_fraction"] <= 1 and metrics["recon_r_median"] > 0
    with np.load(out, allow_pickle=False) as z:
        assert z["tokens"].shape == (8, 60) and z["recon"].shape == (8, 240)
        assert z["mask"].shape == (8, 240) and float(z["fs"]) == 15.0
        assert json.loads(str(z["metrics"]))["recon_mse"] == pytest.approx(metrics["recon_mse"])


def test_tokenize_with_the_shipped_default(recording, tmp_path, capsys):
    assert (default_nq_path() / "model.safetensors").is_file()
    assert main(["tokenize", str(recording), "--out", str(tmp_path / "t.npz"), "--json"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert JSON_KEYS <= set(metrics) and metrics["recon_r_median"] > 0.5


def _broken_checkpoint(trained, tmp_path, how):
    bad = tmp_path / how
    if how == "missing":
        return bad
    bad.mkdir()
    meta = json.loads((trained / "ckpt" / "config.json").read_text())
    if how == "wrong_kind":
        meta["model"] = "calm"
    (bad / "config.json").write_text(json.dumps(meta))
    (bad / "model.safetensors").write_bytes(b"\x00garbage" * 10)
    return bad


def test_corrupt_checkpoint_exits_2_with_error_line(trained, recording, tmp_path):
    """The real command line: one ``error:`` line on stderr, no traceback, no output file."""
    bad = _broken_checkpoint(trained, tmp_path, "garbage")
    proc = subprocess.run([sys.executable, "-m", "napari_calm.cli.main", "tokenize", str(recording),
                           "--checkpoint", str(bad), "--out", str(tmp_path / "t.npz")],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.startswith("error:") and "corrupt" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "t.npz").exists()


@pytest.mark.parametrize("how", ["wrong_kind", "missing"])
def test_wrong_or_missing_checkpoint_exits_2(trained, recording, tmp_path, capsys, how):
    bad = _broken_checkpoint(trained, tmp_path, how)
    assert main(["tokenize", str(recording), "--checkpoint", str(bad), "--out", str(tmp_path / "t.npz")]) == 2
    assert capsys.readouterr().err.startswith("error:")
    assert not (tmp_path / "t.npz").exists()


def test_train_nq_bad_split_exits_2(recording, tmp_path, capsys):
    assert main(["train-nq", "--data", f"{recording}@0.7:0.2", "--out", str(tmp_path / "o")]) == 2
    assert "error:" in capsys.readouterr().err
