"""The output policy and crash-safe checkpoints: one test per data-loss case of issue 13."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch

from napari_calm.cli.main import main
from fuzz_corpus import npz_file
from nq_helpers import tiny_config
from src_models import checkpoint
from src_models.checkpoint import load_checkpoint, save_checkpoint
from src_models.errors import CalmError
from src_models.outputs import MARKER, claim_output, read_marker


@pytest.fixture(scope="module")
def rec(tmp_path_factory):
    return npz_file(tmp_path_factory.mktemp("rec"))


@pytest.fixture(scope="module")
def nq_config(tmp_path_factory):
    path = tmp_path_factory.mktemp("cfg") / "tiny.json"
    tiny_config(steps=2).to_json(path)
    return path


def _one_error(capsys) -> str:
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def test_train_nq_never_deletes_a_user_folder(rec, nq_config, tmp_path, capsys):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "thesis.txt").write_text("irreplaceable")
    for extra in ([], ["--overwrite"]):
        assert main(["train-nq", "--data", str(rec), "--out", str(mine), "--config", str(nq_config), *extra]) == 2
        assert "not written by calm" in _one_error(capsys)
        assert (mine / "thesis.txt").read_text() == "irreplaceable"


def test_train_nq_never_replaces_a_file_or_a_pretrain_run(rec, nq_config, tmp_path, capsys):
    f = tmp_path / "notes.txt"
    f.write_text("keep")
    assert main(["train-nq", "--data", str(rec), "--out", str(f), "--config", str(nq_config)]) == 2
    assert f.read_text() == "keep"
    _one_error(capsys)
    run = tmp_path / "run"
    (run / "best").mkdir(parents=True)
    (run / MARKER).write_text(json.dumps({"kind": "pretrain"}))
    assert main(["train-nq", "--data", str(rec), "--out", str(run), "--config", str(nq_config)]) == 2
    assert "pretrain run" in _one_error(capsys)
    assert (run / "best").is_dir()


def test_save_checkpoint_never_swaps_away_a_foreign_folder(tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "data.csv").write_text("1,2")
    with pytest.raises(CalmError, match="not a checkpoint folder"):
        save_checkpoint(tmp_path / "d", {"w": torch.ones(2)}, {"model": "x"})
    assert (tmp_path / "d" / "data.csv").read_text() == "1,2"


def test_train_nq_resumes_its_own_run_and_overwrite_restarts(rec, nq_config, tmp_path, capsys):
    out = tmp_path / "nq"
    args = ["train-nq", "--data", str(rec), "--out", str(out), "--config", str(nq_config)]
    assert main(args) == 0 and read_marker(out) == "train-nq"
    assert main(args) == 0   # re-run: resumes (already complete)
    assert main([*args, "--overwrite"]) == 0 and read_marker(out) == "train-nq"
    assert not list(tmp_path.glob(".*calm-lock"))


def test_tokenize_out_file_is_not_replaced_without_overwrite(rec, tmp_path, capsys):
    out = tmp_path / "tokens.npz"
    out.write_bytes(b"earlier results")
    assert main(["tokenize", str(rec), "--out", str(out)]) == 2
    assert "--overwrite" in _one_error(capsys)
    assert out.read_bytes() == b"earlier results"
    assert main(["tokenize", str(rec), "--out", str(out), "--overwrite"]) == 0
    assert "tokens" in np.load(out)


def test_bench_refuses_an_earlier_run_without_resume_or_overwrite(tmp_path, capsys):
    out = tmp_path / "bench"
    out.mkdir()
    (out / MARKER).write_text(json.dumps({"kind": "bench"}))
    (out / "results.json").write_text('{"rows": [1]}')
    assert main(["bench", "--datasets", "none", "--data", str(tmp_path / "x.npz"), "--out", str(out)]) == 2
    assert "--overwrite" in _one_error(capsys)
    assert (out / "results.json").read_text() == '{"rows": [1]}'


def test_pretrain_never_resumes_a_finetune_run(rec, tmp_path, capsys):
    run = tmp_path / "ft"
    (run / "last").mkdir(parents=True)
    (run / MARKER).write_text(json.dumps({"kind": "finetune"}))
    assert main(["pretrain", "--data", str(rec), "--out", str(run)]) == 2
    assert "finetune run" in _one_error(capsys)
    assert sorted(p.name for p in run.iterdir()) == [MARKER, "last"]


def test_pretrain_max_steps_0_is_refused(rec, tmp_path, capsys):
    assert main(["pretrain", "--data", str(rec), "--out", str(tmp_path / "o"), "--max-steps", "0"]) == 2
    _one_error(capsys)
    assert not (tmp_path / "o").exists()


def test_finetune_into_an_existing_file_fails_before_training(rec, tmp_path, capsys, monkeypatch):
    import src_models.dat.finetune as ft

    monkeypatch.setattr(ft, "finetune", lambda *a, **k: pytest.fail("trained before checking --out"))
    f = tmp_path / "ft"
    f.write_text("a file")
    assert main(["finetune", str(rec), "--out", str(f)]) == 2
    _one_error(capsys)
    assert f.read_text() == "a file"


def test_a_second_run_on_the_same_output_is_refused_and_stale_locks_are_taken(tmp_path):
    out = tmp_path / "run"
    with claim_output(out, "pretrain", folder=True, resume=True):
        with pytest.raises(CalmError, match=rf"in use by another calm run \(pid {os.getpid()}\)"):
            claim_output(out, "pretrain", folder=True, resume=True)
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        (tmp_path / ".run.calm-lock").write_text(f"{live.pid}\n")
        with pytest.raises(CalmError, match=f"pid {live.pid}"):
            claim_output(out, "pretrain", folder=True, resume=True)
    finally:
        live.kill()
        live.wait()
    claim_output(out, "pretrain", folder=True, resume=True).release()   # the dead pid's lock is taken over
    assert not (tmp_path / ".run.calm-lock").exists()


class _Crash(Exception):
    pass


def _crash_after(monkeypatch, k: int) -> list[str]:
    """Make the k-th filesystem step of a checkpoint save (and every later one) fail, as a crash would."""
    steps: list[str] = []

    def wrap(name, fn):
        def inner(*a, **kw):
            steps.append(name)
            if len(steps) > k:
                raise _Crash(name)
            return fn(*a, **kw)
        return inner

    monkeypatch.setattr(checkpoint, "save_file", wrap("save_file", checkpoint.save_file))
    monkeypatch.setattr(checkpoint.os, "replace", wrap("replace", os.replace))
    monkeypatch.setattr(checkpoint.shutil, "rmtree", wrap("rmtree", shutil.rmtree))
    monkeypatch.setattr(checkpoint.shutil, "copyfile", wrap("copyfile", shutil.copyfile))
    monkeypatch.setattr(checkpoint, "_set_default_permissions", wrap("chmod", checkpoint._set_default_permissions))
    monkeypatch.setattr(checkpoint.tempfile, "mkdtemp", wrap("mkdtemp", checkpoint.tempfile.mkdtemp))
    return steps


def test_checkpoint_survives_a_crash_between_any_two_filesystem_steps(tmp_path, monkeypatch):
    last = tmp_path / "last"
    save_checkpoint(last, {"w": torch.zeros(3)}, {"model": "x", "step": 1})
    (last / MARKER).write_text(json.dumps({"kind": "pretrain"}))
    k = 0
    while True:
        with monkeypatch.context() as m:
            steps = _crash_after(m, k)
            try:
                save_checkpoint(last, {"w": torch.full((3,), 2.0)}, {"model": "x", "step": 2})
                done = True
            except _Crash:
                done = False
        tensors, meta = load_checkpoint(last)    # recovers leftovers of the crash
        assert meta["step"] in (1, 2) and float(tensors["w"][0]) == 2.0 * (meta["step"] - 1)
        assert read_marker(last) == "pretrain"
        if done:
            break
        save_checkpoint(last, {"w": torch.zeros(3)}, {"model": "x", "step": 1})   # back to the start
        assert sorted(p.name for p in tmp_path.iterdir()) == ["last"]   # the next save clears leftovers
        k += 1
    assert k >= 6 and len(steps) >= 6


def test_pretrain_rerun_resumes_from_a_save_interrupted_between_its_renames(tmp_path):
    from src_models.dat.data import DataSource
    from src_models.dat.pretrain import pretrain
    from src_models.dat.tiny import TINY_DAT, tiny_nq, tiny_recording

    sources = [DataSource("s0", recording=tiny_recording(6, 240, seed=0, source="s0"))]
    said: list[str] = []
    kw = dict(nq=tiny_nq(), model_config=TINY_DAT, seed=0, device="cpu", log=said.append,
              train_config=dict(batch_size=2, window_tokens=6, max_neurons=6, val_every=2, checkpoint_every=2,
                                val_windows=2, warmup_steps=1))
    run = tmp_path / "run"
    pretrain(sources, run, max_steps=2, **kw)
    os.replace(run / "last", run / f".last.old-{os.getpid()}")   # the state a crash mid-save leaves
    pretrain(sources, run, max_steps=4, **kw)
    assert any("resuming" in m and "step 2" in m for m in said)
    assert load_checkpoint(run / "last")[1]["state"]["step"] == 4
    assert not list(run.glob(".last.*"))
