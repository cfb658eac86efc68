"""suite2p folders: 0.x / 1.x / no-ops layouts, multi-plane, combined, bad input, real data."""

from __future__ import annotations

import datetime
import json

import numpy as np
import pytest

from src_models.readers import read_recording
from src_models.readers.lazy import PlaneStack
from src_models.readers.sidecars import DEFAULT_FS
from src_models.errors import CalmError

LY, LX = 24, 30


def _stat(n, offset=0):
    stat = []
    for i in range(n):
        y0, x0 = 2 + 4 * (i % 5), 2 + 5 * (i // 5)
        ys, xs = np.mgrid[y0 : y0 + 3, x0 : x0 + 3]
        overlap = np.zeros(9, bool)
        overlap[0] = i == 0  # one shared pixel on ROI 0
        stat.append(
            {
                "ypix": ys.ravel(),
                "xpix": xs.ravel(),
                "lam": np.linspace(1, 2, 9, dtype=np.float32),
                "med": [y0 + 1, x0 + 1],
                "npix": 9,
                "overlap": overlap,
                "skew": np.float32(1.5 + i + offset),
                "compact": 1.0,
            }
        )
    return np.array(stat, dtype=object)


def make_plane(folder, n=6, T=50, *, layout="0.x", iscell=None, movie=False, seed=0):
    """A synthetic suite2p plane folder; returns F."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    F = rng.normal(100, 10, (n, T)).astype(np.float32)
    np.save(folder / "F.npy", F)
    np.save(folder / "Fneu.npy", np.full((n, T), 20, np.float32))
    np.save(folder / "spks.npy", rng.random((n, T)).astype(np.float32))
    cells = np.ones(n, bool) if iscell is None else np.asarray(iscell, bool)
    np.save(folder / "iscell.npy", np.column_stack([cells, np.linspace(0.1, 0.9, n)]))
    np.save(folder / "stat.npy", _stat(n), allow_pickle=True)
    mean = rng.random((LY, LX)).astype(np.float32)
    if layout == "0.x":
        ops = {
            "fs": 30.0,
            "neucoeff": 0.5,
            "Ly": LY,
            "Lx": LX,
            "nframes": T,
            "meanImg": mean,
            "yrange": [2, 20],
            "xrange": [3, 25],
            "max_proj": np.ones((18, 22), np.float32),
        }
        np.save(folder / "ops.npy", np.array(ops, dtype=object), allow_pickle=True)
    elif layout == "1.x":
        settings = {
            "fs": 15.0,
            "extraction": {"neuropil_coefficient": 0.6},
            "date_proc": datetime.datetime.now().astimezone(),
        }
        np.save(folder / "settings.npy", np.array(settings, dtype=object), allow_pickle=True)
        db = {"Ly": LY, "Lx": LX, "nframes": T, "nplanes": 1}
        np.save(folder / "db.npy", np.array(db, dtype=object), allow_pickle=True)
        reg = {"meanImg": mean, "yrange": [2, 20], "xrange": [3, 25]}
        np.save(folder / "reg_outputs.npy", np.array(reg, dtype=object), allow_pickle=True)
        det = {"max_proj": np.ones((18, 22), np.float32)}
        np.save(folder / "detect_outputs.npy", np.array(det, dtype=object), allow_pickle=True)
    if movie:
        frames = rng.integers(0, 1000, (T, LY, LX)).astype(np.int16)
        frames.tofile(folder / "data.bin")
    return F


def test_0x_layout(tmp_path):
    F = make_plane(tmp_path / "suite2p" / "plane0", movie=True)
    rec = read_recording(tmp_path)
    assert rec.kind == "suite2p" and rec.F.shape == (6, 50) and np.array_equal(rec.F, F)
    assert rec.fs == 30.0 and rec.neuropil_coefficient == 0.5
    assert np.allclose(rec.traces, F - 0.5 * 20)
    assert rec.metadata["suite2p_layout"] == "0.x"
    assert isinstance(rec.movie, np.memmap) and rec.movie_shape == (50, LY, LX)
    assert rec.rois.shape == (LY, LX) and len(rec.rois) == 6
    assert len(rec.rois.pixels[0]) == 8 and len(rec.rois.pixels[1]) == 9  # overlap pixel left out
    images = rec.metadata["images"]
    assert images["mean"].shape == (LY, LX) and images["max_proj"].shape == (LY, LX)
    assert images["max_proj"][2:20, 3:25].all() and not images["max_proj"][:2].any()
    assert rec.metadata["spks"].shape == (6, 50)
    assert rec.metadata["roi_features"]["skew"][2] == pytest.approx(3.5)


def test_1x_layout(tmp_path):
    make_plane(tmp_path / "plane0", layout="1.x")
    rec = read_recording(tmp_path / "plane0" / "stat.npy")
    assert rec.fs == 15.0 and rec.neuropil_coefficient == 0.6
    assert (
        rec.metadata["suite2p_layout"] == "1.x"
        and rec.metadata["neuropil_coefficient_assumed"] is False
    )
    assert set(rec.metadata["images"]) == {"mean", "max_proj"}


def test_no_ops_defaults(tmp_path):
    make_plane(tmp_path / "plane0", layout=None)
    rec = read_recording(tmp_path / "plane0")
    assert rec.neuropil_coefficient == 0.7 and rec.metadata["neuropil_coefficient_assumed"]
    assert rec.metadata["suite2p_layout"] == "none"
    assert rec.fs == DEFAULT_FS and rec.metadata["fs_assumed"]
    assert rec.rois.shape == (2 + 4 * 4 + 3, 2 + 5 + 3)  # extent of the ROIs
    assert read_recording(tmp_path / "plane0", fs=4.0).fs == 4.0


def test_iscell_filter(tmp_path):
    F = make_plane(tmp_path / "plane0", iscell=[1, 0, 1, 0, 0, 1])
    rec = read_recording(tmp_path)
    assert rec.n_neurons == 3 and np.array_equal(rec.F, F[[0, 2, 5]])
    assert list(rec.rois.ids) == [0, 2, 5] and rec.iscell.all()
    assert rec.metadata["n_rois_total"] == 6 and list(rec.metadata["roi_index"]) == [0, 2, 5]
    assert np.allclose(
        rec.metadata["roi_features"]["iscell_prob"], np.linspace(0.1, 0.9, 6)[[0, 2, 5]]
    )
    every = read_recording(tmp_path, only_cells=False)
    assert every.n_neurons == 6 and list(every.iscell) == [1, 0, 1, 0, 0, 1]


def test_no_cells_is_an_error(tmp_path):
    make_plane(tmp_path / "plane0", iscell=[0] * 6)
    with pytest.raises(CalmError, match="--all-rois"):
        read_recording(tmp_path)


def test_multiplane_parent(tmp_path):
    s2p = tmp_path / "suite2p"
    F0 = make_plane(s2p / "plane0", n=4, T=40, movie=True, seed=1)
    F1 = make_plane(s2p / "plane1", n=3, T=41, movie=True, seed=2)
    make_plane(s2p / "combined", n=7, T=41)
    rec = read_recording(s2p)
    assert rec.n_neurons == 7 and rec.n_frames == 40
    assert np.array_equal(rec.F, np.concatenate([F0, F1[:, :40]]))
    assert rec.rois.shape == (2, LY, LX) and set(rec.rois.pixels[5][:, 0]) == {1}
    assert isinstance(rec.movie, PlaneStack) and rec.movie_shape == (40, 2, LY, LX)
    plane1 = np.fromfile(s2p / "plane1" / "data.bin", np.int16).reshape(41, LY, LX)
    assert np.array_equal(rec.movie[7, 1], plane1[7])
    plane0 = np.fromfile(s2p / "plane0" / "data.bin", np.int16).reshape(40, LY, LX)
    assert np.array_equal(
        rec.movie[3:5, :, 2, 4], np.stack([plane0[3:5, 2, 4], plane1[3:5, 2, 4]], 1)
    )
    assert list(rec.metadata["roi_features"]["plane"]) == [0] * 4 + [1] * 3
    assert rec.metadata["frames_per_plane"] == [40, 41]
    assert rec.metadata["images"]["mean"].shape == (2, LY, LX)


def test_combined_only(tmp_path):
    make_plane(tmp_path / "suite2p" / "combined", n=5)
    rec = read_recording(tmp_path / "suite2p")
    assert rec.n_neurons == 5 and rec.metadata["planes"][0].endswith("combined")


def test_simulated_session_layout(tmp_path):
    """The layout ``calm simulate`` writes: side files and movie.tif in the session folder."""
    make_plane(tmp_path / "suite2p" / "plane0", n=6, T=50)
    (tmp_path / "behavior.csv").write_text("speed\n" + "\n".join(str(i) for i in range(50)) + "\n")
    (tmp_path / "trials.csv").write_text("start_frame,end_frame,cue\n0,10,0\n20,30,1\n")
    (tmp_path / "meta.json").write_text(
        json.dumps({"fs": 12.0, "preset": "task", "movie": "movie.tif"})
    )
    import tifffile

    tifffile.imwrite(tmp_path / "movie.tif", np.zeros((50, LY, LX), np.uint16), imagej=True)
    for path in (tmp_path, tmp_path / "suite2p", tmp_path / "suite2p" / "plane0"):
        rec = read_recording(path)
        assert rec.fs == 12.0 and rec.metadata["preset"] == "task"
        assert rec.behavior["speed"][49] == 49 and rec.n_trials == 2
        assert rec.movie_shape == (50, LY, LX) and rec.metadata["movie_access"] == "memmap"


def test_simulator_output_round_trip(tmp_path):
    simulation = pytest.importorskip("src_models.simulation")
    if not hasattr(simulation, "write_session"):
        pytest.skip("simulator writer not available")
    (session,) = simulation.simulate("task", seed=0, n_neurons=10, n_frames=200, movie=True)
    out = simulation.write_session(session, tmp_path / "sim")
    rec, truth = read_recording(out), session.recording
    assert np.allclose(rec.traces, truth.traces) and rec.fs == truth.fs
    assert set(rec.behavior) == set(truth.behavior) and rec.n_trials == truth.n_trials
    assert np.array_equal(rec.trials["start_frame"], truth.trials["start_frame"])
    assert rec.movie_shape == truth.movie_shape


# -- bad input ------------------------------------------------------------------------------------


def test_rows_differ_from_rois(tmp_path):
    make_plane(tmp_path / "plane0", n=6)
    np.save(tmp_path / "plane0" / "stat.npy", _stat(5), allow_pickle=True)
    with pytest.raises(CalmError, match="F.npy has 6 rows but stat.npy has 5 ROIs"):
        read_recording(tmp_path)


def test_nan_in_traces(tmp_path):
    F = make_plane(tmp_path / "plane0")
    F[2, 7] = np.nan
    np.save(tmp_path / "plane0" / "F.npy", F)
    with pytest.raises(CalmError, match="NaN or Inf"):
        read_recording(tmp_path)


def test_zero_frames(tmp_path):
    make_plane(tmp_path / "plane0", layout=None)
    for name in ("F", "Fneu", "spks"):
        np.save(tmp_path / "plane0" / f"{name}.npy", np.zeros((6, 0), np.float32))
    with pytest.raises(CalmError, match="zero frames"):
        read_recording(tmp_path)


def test_truncated_F(tmp_path):
    make_plane(tmp_path / "plane0")
    raw = (tmp_path / "plane0" / "F.npy").read_bytes()
    (tmp_path / "plane0" / "F.npy").write_bytes(raw[:300])
    with pytest.raises(CalmError, match=r"F\.npy: truncated"):
        read_recording(tmp_path)


def test_malicious_stat_is_refused(tmp_path):
    make_plane(tmp_path / "plane0")
    marker = tmp_path / "executed"

    class Evil:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    np.save(
        tmp_path / "plane0" / "stat.npy", np.array([Evil()] * 6, dtype=object), allow_pickle=True
    )
    with pytest.raises(CalmError, match=r"refuses to unpickle (io|builtins)\.open"):
        read_recording(tmp_path)
    assert not marker.exists()


def test_truncated_data_bin(tmp_path):
    make_plane(tmp_path / "plane0", movie=True)
    raw = (tmp_path / "plane0" / "data.bin").read_bytes()
    (tmp_path / "plane0" / "data.bin").write_bytes(raw[:-7])
    with pytest.raises(CalmError, match="truncated data.bin"):
        read_recording(tmp_path)


def test_missing_F(tmp_path):
    make_plane(tmp_path / "plane0")
    (tmp_path / "plane0" / "F.npy").unlink()
    with pytest.raises(CalmError, match="without F.npy"):
        read_recording(tmp_path / "plane0")


# -- real recording -------------------------------------------------------------------------------


def test_real_hippocampy_without_ops(real_data):
    rec = read_recording(real_data / "hippocampy-suite2p")
    assert rec.kind == "suite2p" and rec.F.shape == (20, 18000) and rec.Fneu.shape == (20, 18000)
    assert rec.neuropil_coefficient == 0.7 and rec.metadata["fs_assumed"]
    assert len(rec.rois) == 20 and rec.rois.shape[0] > 465 and rec.rois.shape[1] > 468
    assert all(20 < len(p) <= 166 for p in rec.rois.pixels)
    assert rec.iscell.all() and rec.metadata["spks"].shape == (20, 18000)
