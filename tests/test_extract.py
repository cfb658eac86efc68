"""Movie → suite2p → ROIs: settings, input checks, the all-or-nothing run, quality, cancel."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np
import pytest
import tifffile

from napari_calm.cli.main import main
from napari_calm.extraction import ExtractionJob, ExtractionSettings, probe_movie
from napari_calm.extraction.quality import extraction_quality, mask_iou
from napari_calm.extraction.run import _rescale_to_int16, _restore_units, commit
from napari_calm.extraction.settings import (
    MIN_BINNED_FRAMES,
    bin_size,
    block_plan,
    resolve_tau,
    spatial_scale,
)
from src_models.errors import CalmError
from src_models.recording import RoiSet

THREADS = "1"


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    """A small simulated session with its movie: 20 neurons, 64×64, 300 frames, 10 Hz, GCaMP6s."""
    from src_models.simulation import simulate, write_session

    session = simulate("demo", seed=1, n_neurons=20, n_frames=300)[0]
    folder = tmp_path_factory.mktemp("sim") / "session"
    write_session(session, folder)
    return folder, session


def _leftovers(folder: Path) -> list[str]:
    names = (p.name for p in folder.iterdir())
    return sorted(n for n in names if ".calm-extract-" in n or ".replaced-" in n)


# -- settings ----------------------------------------------------------------------------------
def test_block_plan_keeps_nonrigid_only_with_enough_blocks():
    assert block_plan(512, 512) == (True, (128, 128))
    assert block_plan(128, 128) == (True, (64, 64))  # default 128 blocks would fail in suite2p
    assert block_plan(128, 256) == (True, (64, 64))
    assert block_plan(100, 100)[0] is False
    assert block_plan(64, 64, nonrigid=True)[0] is False
    assert block_plan(512, 512, nonrigid=False)[0] is False


def test_scale_bins_and_tau():
    assert [spatial_scale(d) for d in (None, 6, 12, 24, 48, 100)] == [0, 1, 2, 3, 4, 4]
    assert bin_size(9000, 15.0, 1.25) == 19
    assert 100 // bin_size(100, 30.0, 1.0) >= MIN_BINNED_FRAMES
    assert resolve_tau(None, {"indicator": "GCaMP6f"}, Path("m.tif")) == (0.7, "indicator")
    assert resolve_tau(2.0, {"tau": 0.5}, Path("m.tif")) == (2.0, "argument")
    assert resolve_tau(None, {"tau": 0.5}, Path("m.tif")) == (0.5, "meta.json")
    assert resolve_tau(None, {}, Path("m.tif"))[1] == "default"


def test_probe_reads_metadata_and_flags(sim):
    folder, _ = sim
    info = probe_movie(folder / "movie.tif")
    assert (info.n_frames, info.n_planes, info.shape) == (300, 1, (64, 64))
    assert (info.fs, info.fs_source) == (10.0, "meta.json")
    assert (info.tau, info.tau_source) == (1.25, "indicator")
    info = probe_movie(folder / "movie.tif", ExtractionSettings(fs=30.0, tau=0.4, planes=2))
    assert (info.fs, info.tau, info.n_planes, info.n_frames) == (30.0, 0.4, 2, 150)


def test_probe_reads_plane_axis(tmp_path):
    path = tmp_path / "zstack.tif"
    movie = np.zeros((60, 2, 40, 40), np.uint16)
    tifffile.imwrite(path, movie, imagej=True, metadata={"axes": "TZYX", "finterval": 0.2})
    info = probe_movie(path)
    assert (info.n_frames, info.n_planes, info.fs, info.fs_source) == (60, 2, 5.0, "file")
    with pytest.raises(CalmError, match="planes"):
        probe_movie(path, ExtractionSettings(planes=3))


def test_real_movies(real_data, tmp_path, capsys):
    info = probe_movie(real_data / "thunder-mouse-s1" / "mouse_s1_movie.tif")
    assert (info.n_frames, info.shape, info.fs_source) == (500, (64, 64), "default")
    assert block_plan(*info.shape)[0] is False
    sima = real_data / "sima-example-2p" / "example.tif"  # 20 frames of 128×256
    assert main(["extract", str(sima), "--out", str(tmp_path / "sima")]) == 2
    assert "too short" in capsys.readouterr().err and not (tmp_path / "sima").exists()


# -- bad input: one line, exit 2, nothing written ----------------------------------------------
def _bad_movies(folder: Path) -> dict[str, Path]:
    folder.mkdir()
    movies = {
        "not a TIFF": folder / "traces.npy",
        "not a readable TIFF": folder / "fake.tif",
        "too short": folder / "short.tif",
        "too small": folder / "small.tif",
        "not found": folder / "missing.tif",
    }
    np.save(movies["not a TIFF"], np.zeros((10, 100), np.float32))
    movies["not a readable TIFF"].write_text("this is not an image\n")
    tifffile.imwrite(movies["too short"], np.zeros((20, 64, 64), np.uint16))
    tifffile.imwrite(movies["too small"], np.zeros((200, 16, 16), np.uint16))
    return movies


@pytest.mark.parametrize(
    "problem", ["not a TIFF", "not a readable TIFF", "too short", "too small", "not found"]
)
def test_bad_movie_is_one_error_line_and_no_output(problem, tmp_path, capsys):
    movie = _bad_movies(tmp_path / "in")[problem]
    out = tmp_path / "results" / "s2p"
    assert main(["extract", str(movie), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and problem.split()[-1] in err[0]
    assert not (tmp_path / "results").exists()


def test_refuses_folders_it_must_not_touch(sim, tmp_path, capsys):
    folder, _ = sim
    movie = folder / "movie.tif"
    done = tmp_path / "done"
    (done / "plane0").mkdir(parents=True)
    np.save(done / "plane0" / "F.npy", np.ones((2, 5), np.float32))
    assert main(["extract", str(movie), "--out", str(done)]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert np.load(done / "plane0" / "F.npy").shape == (2, 5)

    other = tmp_path / "notes"
    other.mkdir()
    (other / "notes.txt").write_text("keep me")
    assert main(["extract", str(movie), "--out", str(other), "--overwrite"]) == 2
    assert "holds no suite2p results" in capsys.readouterr().err
    assert (other / "notes.txt").read_text() == "keep me"

    assert main(["extract", str(movie), "--out", str(folder), "--overwrite"]) == 2
    assert "inside the output folder" in capsys.readouterr().err
    assert main(["extract", str(movie), "--out", str(tmp_path / "x"), "--fs", "-3"]) == 2
    assert not (tmp_path / "x").exists() and _leftovers(tmp_path) == []


def test_commit_replaces_previous_results_whole(tmp_path):
    out, new = tmp_path / "out", tmp_path / "new"
    (out / "plane0").mkdir(parents=True)
    (out / "plane0" / "old.npy").write_text("old run")
    (new / "plane0").mkdir(parents=True)
    (new / "plane0" / "F.npy").write_text("new run")
    commit(new, out)
    assert sorted(p.name for p in (out / "plane0").iterdir()) == ["F.npy"]
    assert not new.exists() and _leftovers(tmp_path) == []


def test_float_movie_rescaled_and_units_restored(tmp_path):
    rng = np.random.default_rng(0)
    movie = (rng.random((60, 40, 40)) * 0.5 - 0.1).astype(np.float32)
    movie[3, 4, 5] = np.nan
    src = tmp_path / "float.tif"
    tifffile.imwrite(src, movie)
    info = probe_movie(src)
    assert not info.native
    rescale = _rescale_to_int16(info, tmp_path / "int16.tif", lambda p: None)
    ints = tifffile.imread(tmp_path / "int16.tif")
    assert ints.dtype == np.int16 and ints.shape == movie.shape and ints.max() <= 30000
    back = ints / rescale["scale"] + rescale["offset"]
    ok = np.isfinite(movie)
    assert np.abs(back[ok] - movie[ok]).max() <= 1.0 / rescale["scale"]
    plane = tmp_path / "plane0"
    plane.mkdir()
    np.save(plane / "F.npy", ints[:, :2, 0].T.astype(np.float32))
    _restore_units(plane, rescale)
    assert np.allclose(np.load(plane / "F.npy"), movie[:, :2, 0].T, atol=2.0 / rescale["scale"])


def test_mask_iou_and_matching():
    a = RoiSet((10, 10), [np.array([[0, 0], [0, 1]]), np.array([[5, 5]])])
    b = RoiSet((10, 10), [np.array([[5, 5]]), np.array([[0, 0], [0, 1], [0, 2], [0, 3]])])
    assert np.allclose(mask_iou(a, b), [[0.0, 0.5], [1.0, 0.0]])
    t = np.random.default_rng(0).normal(size=(2, 50))
    q = extraction_quality(a, t[[1, 0]], b, t)
    assert (q["n_matched"], q["recall"], q["precision"]) == (2, 1.0, 1.0)
    assert q["median_trace_corr"] == pytest.approx(1.0)


# -- the real thing --------------------------------------------------------------------------
def test_extract_finds_planted_neurons(sim, tmp_path, capsys):
    from src_models.readers import read_recording

    folder, session = sim
    out = tmp_path / "nested" / "s2p"
    movie = str(folder / "movie.tif")
    rc = main(["extract", movie, "--out", str(out), "--json", "--quiet", "--threads", THREADS])
    assert rc == 0, capsys.readouterr().err
    result = json.loads(capsys.readouterr().out)
    s = result["summary"]
    chosen = (s["fs"], s["fs_source"], s["tau_source"], s["nonrigid"])
    assert chosen == (10.0, "meta.json", "indicator", False)
    assert _leftovers(out.parent) == [] and (out / "plane0" / "data.bin").is_file()

    found = read_recording(out, only_cells=False)
    assert found.n_neurons == result["n_rois"] and found.n_frames == 300 and found.fs == 10.0
    assert found.metadata["extraction"]["device"] == "cpu"
    assert "running_speed" in found.behavior and found.n_trials > 0  # side files travel along
    q = extraction_quality(
        found.rois, found.traces, session.recording.rois, session.ground_truth["calcium"]
    )
    assert q["recall"] >= 0.7 and q["precision"] >= 0.7, q
    assert q["median_trace_corr"] >= 0.8, q
    cells = read_recording(out)
    assert 0 < cells.n_neurons == result["n_cells"]

    assert main(["extract", str(folder / "movie.tif"), "--out", str(out)]) == 2
    assert "already holds results" in capsys.readouterr().err


def test_cancel_kills_worker_and_removes_temp_folder(sim, tmp_path):
    folder, _ = sim
    out = tmp_path / "cancelled"
    job = ExtractionJob(folder / "movie.tif", out, ExtractionSettings(threads=1)).start()
    deadline = time.monotonic() + 120
    while job.running and not job.workdir.exists():  # the worker has begun writing
        job.progress(timeout=0.05)
        assert time.monotonic() < deadline
    assert job.running, job.error
    pid = job._proc.pid
    job.cancel()
    assert job.state == "cancelled" and not job.running
    with pytest.raises(OSError):
        os.kill(pid, 0)
    assert not out.exists() and not job.workdir.exists() and _leftovers(tmp_path) == []
    with pytest.raises(CalmError, match="cancelled"):
        job.wait()


def test_worker_crash_is_one_error_and_cleans_up(sim, tmp_path):
    import signal

    folder, _ = sim
    out = tmp_path / "crashed"
    job = ExtractionJob(folder / "movie.tif", out, ExtractionSettings(threads=1)).start()
    deadline = time.monotonic() + 120
    while job.running and not job.workdir.exists():
        job.progress(timeout=0.05)
        assert time.monotonic() < deadline
    os.kill(job._proc.pid, signal.SIGKILL)  # what a segfault or the OOM killer does
    with pytest.raises(CalmError, match=r"died \(signal 9\)"):
        job.wait(timeout=60)
    assert job.state == "failed"
    assert not out.exists() and not job.workdir.exists() and _leftovers(tmp_path) == []


def test_guessed_frame_rate_stays_assumed(sim, tmp_path, capsys):
    """An extraction without a known rate writes ``fs_assumed`` (ops.npy holds the guess)."""
    import shutil

    folder, _ = sim
    out = tmp_path / "session"
    shutil.copytree(folder, out)
    meta = json.loads((out / "meta.json").read_text())
    meta.pop("fs")
    (out / "meta.json").write_text(json.dumps({**meta, "fs_assumed": True}))
    assert main(["info", str(out / "suite2p"), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["fs_assumed"] is True and info["fs"] == 10.0
