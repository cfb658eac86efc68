"""Simulator on disk: the suite2p layout, atomic writes, ``calm simulate`` and the demo."""

from __future__ import annotations

import json

import numpy as np
import pytest

from napari_calm.cli.main import main
from src_models.errors import CalmError
from src_models.simulation import simulate, write_session, write_sessions


@pytest.fixture(scope="module")
def small_task():
    return simulate("task", seed=0, n_neurons=12, n_frames=240, movie=True)[0]


def _load(path):
    return np.load(path, allow_pickle=True)  # our own freshly written test output


def test_written_layout(tmp_path, small_task):
    out = write_session(small_task, tmp_path / "rec")
    plane = out / "suite2p" / "plane0"
    rec = small_task.recording
    assert np.array_equal(np.load(plane / "F.npy"), rec.F)
    assert np.array_equal(np.load(plane / "Fneu.npy"), rec.Fneu)
    assert np.load(plane / "spks.npy").shape == rec.F.shape
    assert np.load(plane / "iscell.npy").shape == (12, 2)
    stat = _load(plane / "stat.npy")
    assert len(stat) == 12
    for s, px in zip(stat, rec.rois.pixels):
        assert {"ypix", "xpix", "lam", "med", "npix", "overlap"} <= set(s)
        assert np.array_equal(s["ypix"], px[:, 0]) and s["npix"] == len(px) == len(s["overlap"])
    ops = _load(plane / "ops.npy").item()
    assert ops["fs"] == rec.fs and ops["nframes"] == 240 and ops["neucoeff"] == 0.7
    assert (ops["Ly"], ops["Lx"]) == rec.rois.shape == ops["meanImg"].shape
    meta = json.loads((out / "meta.json").read_text())
    assert meta["fs"] == rec.fs and meta["indicator"] == "GCaMP6s"
    assert meta["preset"] == "task" and meta["seed"] == 0
    header = (out / "behavior.csv").read_text().splitlines()
    assert header[0] == "angular_velocity,running_speed" and len(header) == 241
    rows = (out / "trials.csv").read_text().splitlines()
    assert rows[0].startswith("start_frame,end_frame") and len(rows) == rec.n_trials + 1
    gt = np.load(out / "ground_truth.npz")  # no pickles inside
    assert np.array_equal(gt["neuron_type"], small_task.ground_truth["neuron_type"])
    import tifffile

    assert np.array_equal(tifffile.imread(out / "movie.tif"), rec.movie)
    data = np.fromfile(plane / "data.bin", "<i2").reshape(rec.movie.shape)
    assert np.array_equal(data, rec.movie)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_poco_layout_has_no_neuropil(tmp_path):
    (s,) = simulate("poco", n_neurons=8, n_frames=100)
    out = write_session(s, tmp_path / "poco")
    ops = _load(out / "suite2p" / "plane0" / "ops.npy").item()
    assert ops["neucoeff"] == 0.0
    assert not (np.load(out / "suite2p" / "plane0" / "Fneu.npy")).any()
    assert not (out / "trials.csv").exists() and not (out / "movie.tif").exists()


def test_multi_session_layout(tmp_path):
    sessions = simulate("corpus", n_sessions=3, n_neurons=10, n_frames=60)
    folders = write_sessions(sessions, tmp_path / "corpus")
    assert [f.name for f in folders] == ["session_000", "session_001", "session_002"]
    for s, f in zip(sessions, folders):
        assert np.load(f / "suite2p" / "plane0" / "F.npy").shape == s.recording.F.shape
        assert json.loads((f / "meta.json").read_text())["fs"] == s.recording.fs


def test_refuses_non_empty_output(tmp_path, small_task):
    out = tmp_path / "rec"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(CalmError, match="not empty"):
        write_session(small_task, out)
    assert (out / "keep.txt").read_text() == "mine"
    write_session(small_task, out, overwrite=True)
    assert not (out / "keep.txt").exists() and (out / "meta.json").exists()


def test_cli_writes_and_refuses_existing(tmp_path, capsys):
    out = tmp_path / "sim"
    assert (
        main(
            ["simulate", "--preset", "task", "--out", str(out), "--neurons", "8", "--frames", "90"]
        )
        == 0
    )
    said = capsys.readouterr().out
    assert "8 neurons" in said and "90 frames" in said and str(out) in said
    assert (
        main(
            ["simulate", "--preset", "task", "--out", str(out), "--neurons", "8", "--frames", "90"]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert err.startswith("error:") and "not empty" in err and str(out) in err
    assert (
        main(
            [
                "simulate",
                "--preset",
                "poco",
                "--out",
                str(out),
                "--neurons",
                "5",
                "--frames",
                "50",
                "--overwrite",
            ]
        )
        == 0
    )
    assert json.loads((out / "meta.json").read_text())["preset"] == "poco"


@pytest.mark.parametrize(
    "argv, needle",
    [
        (["--preset", "task", "--indicator", "GCaMP99"], "unknown indicator"),
        (["--preset", "task", "--neurons", "0"], "n_neurons"),
        (["--preset", "poco", "--movie"], "no movie"),
    ],
)
def test_cli_bad_input(tmp_path, capsys, argv, needle):
    out = tmp_path / "x"
    assert main(["simulate", *argv, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and needle in err and len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_cli_unknown_preset(tmp_path, capsys):
    assert main(["simulate", "--preset", "bogus", "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "invalid choice" in err and len(err.strip().splitlines()) == 1


def test_round_trip_through_read_recording(tmp_path, small_task):
    from src_models.readers import read_recording

    out = write_session(small_task, tmp_path / "rec")
    sim, rec = small_task.recording, read_recording(out)
    assert rec.kind == "suite2p" and rec.fs == sim.fs
    assert np.allclose(rec.F, sim.F) and np.allclose(rec.Fneu, sim.Fneu)
    assert rec.neuropil_coefficient == 0.7 and np.allclose(rec.traces, sim.traces)
    # the reader leaves out overlapping pixels (as suite2p's extraction does); the rest is identical
    count = np.zeros(sim.rois.shape, int)
    for px in sim.rois.pixels:
        count[tuple(px.T)] += 1
    for got, true in zip(rec.rois.pixels, sim.rois.pixels):
        alone = true[count[tuple(true.T)] == 1]
        assert {tuple(p) for p in got} == {tuple(p) for p in (alone if len(alone) else true)}
    assert np.allclose(rec.rois.centroids(), sim.rois.centroids(), atol=1.0)
    assert set(rec.behavior) == set(sim.behavior)
    assert np.allclose(rec.behavior["running_speed"], sim.behavior["running_speed"], rtol=1e-5)
    for col, values in sim.trials.items():
        assert np.array_equal(rec.trials[col], values), col
    assert rec.movie_shape == sim.movie.shape
    assert np.array_equal(np.asarray(rec.movie[5]), sim.movie[5])
    assert rec.metadata["preset"] == "task" and rec.metadata["indicator"] == "GCaMP6s"


def test_corpus_sessions_read_back(tmp_path):
    from src_models.readers import read_recording

    sessions = simulate("corpus", n_sessions=2, n_neurons=10, n_frames=80)
    for s, folder in zip(sessions, write_sessions(sessions, tmp_path / "c")):
        rec = read_recording(folder)
        assert rec.fs == s.recording.fs and rec.F.shape == s.recording.F.shape
        assert rec.metadata["animal"] == s.recording.metadata["animal"]


def test_poco_reads_back_without_correction(tmp_path):
    from src_models.readers import read_recording

    (s,) = simulate("poco", n_neurons=6, n_frames=64)
    rec = read_recording(write_session(s, tmp_path / "p"))
    assert rec.neuropil_coefficient == 0.0 and np.allclose(rec.traces, s.recording.F)


def test_demo_is_generated_once():
    from napari_calm.demo import demo_path
    from napari_calm.resources import cache_dir

    first = demo_path()
    assert first == cache_dir() / "demo-v1"
    meta = json.loads((first / "meta.json").read_text())
    assert meta["preset"] == "demo" and meta["movie"] == "movie.tif"
    stamp = (first / "meta.json").stat().st_mtime_ns
    assert demo_path() == first and (first / "meta.json").stat().st_mtime_ns == stamp
    import tifffile

    with tifffile.TiffFile(first / "movie.tif") as tif:
        shape = tif.series[0].shape
    assert 300 <= shape[0] <= 1000 and 96 <= shape[1] <= 160
