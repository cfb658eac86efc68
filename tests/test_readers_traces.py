"""Traces folders, .npz, bare .npy, MATLAB v5/v7.3, NWB, dispatch errors, real .mat."""

from __future__ import annotations

import json
import sys
from datetime import UTC

import h5py
import numpy as np
import pytest
import scipy.io

from src_models.readers import detect_format, read_recording
from src_models.errors import CalmError


@pytest.fixture
def traces():
    return np.random.default_rng(0).normal(0, 1, (5, 80)).astype(np.float32)


def test_traces_folder(tmp_path, traces):
    np.save(tmp_path / "traces.npy", traces)
    (tmp_path / "meta.json").write_text(json.dumps({"fs": 20.0, "indicator": "GCaMP6f"}))
    beh = "\n".join(f"{i},{-i}" for i in range(80))
    (tmp_path / "behavior.csv").write_text("x,y\n" + beh + "\n")
    (tmp_path / "trials.csv").write_text(
        "start_frame,end_frame,cue,reward\n0,10,left,1.5\n10,30,right,0\n40,79,left,\n"
    )
    for path in (tmp_path, tmp_path / "traces.npy"):
        rec = read_recording(path)
        assert rec.kind == "traces" and np.array_equal(rec.F, traces) and rec.fs == 20.0
        assert rec.metadata["indicator"] == "GCaMP6f" and rec.movie is None and rec.rois is None
        assert np.array_equal(rec.behavior["y"], -np.arange(80.0))
        assert list(rec.trials["cue"]) == ["left", "right", "left"]
        assert rec.trials["reward"].dtype == np.float64 and np.isnan(rec.trials["reward"][2])
        assert list(rec.trials["end_frame"]) == [10, 30, 79]


def test_traces_folder_bad_trials(tmp_path, traces):
    np.save(tmp_path / "traces.npy", traces)
    (tmp_path / "trials.csv").write_text("start_frame,end_frame\n0,10\n50,200\n")
    with pytest.raises(CalmError, match=r"trials\.csv: trial 1 spans frames \[50, 200\)"):
        read_recording(tmp_path)
    (tmp_path / "trials.csv").write_text("start,stop\n0,10\n")
    with pytest.raises(CalmError, match="needs start_frame and end_frame"):
        read_recording(tmp_path)


def test_npz_layout(tmp_path, traces):
    np.savez(
        tmp_path / "rec.npz",
        traces=traces,
        fs=np.float64(7.5),
        behavior_speed=np.arange(80.0),
        trials_start_frame=np.array([0, 40]),
        trials_end_frame=np.array([30, 70]),
        trials_choice=np.array(["left", "right"]),
    )
    rec = read_recording(tmp_path / "rec.npz")
    assert rec.kind == "traces" and rec.fs == 7.5 and rec.metadata["fs_source"] == "file"
    assert rec.behavior["speed"][79] == 79 and rec.n_trials == 2
    assert list(rec.trials["choice"]) == ["left", "right"]


def test_npz_refuses_objects_and_wants_traces(tmp_path, traces):
    np.savez(tmp_path / "o.npz", traces=traces, trials_cue=np.array(["a", None], dtype=object))
    with pytest.raises(CalmError, match="pickled Python objects"):
        read_recording(tmp_path / "o.npz")
    np.savez(tmp_path / "n.npz", activity=traces)
    with pytest.raises(CalmError, match="no 'traces' array"):
        read_recording(tmp_path / "n.npz")


def test_truncated_or_fake_npz(tmp_path, traces):
    np.savez_compressed(tmp_path / "t.npz", traces=np.random.default_rng(2).random((50, 400)))
    raw = (tmp_path / "t.npz").read_bytes()
    (tmp_path / "t.npz").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(CalmError, match=r"t\.npz: corrupt or truncated"):
        read_recording(tmp_path / "t.npz")
    np.save(tmp_path / "a.npy", traces)
    (tmp_path / "a.npy").rename(tmp_path / "a.npz")
    with pytest.raises(CalmError, match="not an .npz archive"):
        read_recording(tmp_path / "a.npz")


def test_npz_zero_frames_and_inf(tmp_path):
    np.savez(tmp_path / "z.npz", traces=np.zeros((4, 0)), fs=10.0)
    with pytest.raises(CalmError, match="zero frames"):
        read_recording(tmp_path / "z.npz")
    bad = np.ones((3, 10))
    bad[1, 4] = np.inf
    np.savez(tmp_path / "i.npz", traces=bad, fs=10.0)
    with pytest.raises(CalmError, match=r"i\.npz: traces contain NaN or Inf values \(1 neurons"):
        read_recording(tmp_path / "i.npz")


def test_bare_npy(tmp_path, traces):
    np.save(tmp_path / "dff.npy", traces)
    rec = read_recording(tmp_path / "dff.npy", fs=3.0)
    assert rec.F.shape == (5, 80) and rec.fs == 3.0


def test_mat_v5_rule(tmp_path, traces):
    scipy.io.savemat(
        tmp_path / "r.mat",
        {
            "dff": traces.T.astype(np.float64),  # stored T x N: transposed by the rule
            "small": np.ones((3, 4)),
            "frame_rate": 4.0,
            "speed": np.arange(80.0),
            "cell_xy": np.arange(10.0).reshape(5, 2),
        },
    )
    rec = read_recording(tmp_path / "r.mat")
    assert rec.kind == "mat" and np.allclose(rec.F, traces) and rec.metadata["transposed"]
    assert rec.fs == 4.0 and rec.metadata["fs_variable"] == "frame_rate"
    assert set(rec.behavior) == {"speed"}
    assert rec.metadata["centroids_xy"].shape == (5, 2)
    assert read_recording(tmp_path / "r.mat", var="small").F.shape == (3, 4)
    with pytest.raises(CalmError, match="no numeric variable 'nope'"):
        read_recording(tmp_path / "r.mat", var="nope")


def test_mat_struct_field_and_tie(tmp_path, traces):
    scipy.io.savemat(tmp_path / "s.mat", {"output": {"temporal_weights": traces.T.astype(float)}})
    rec = read_recording(tmp_path / "s.mat")
    assert rec.metadata["traces_variable"] == "output.temporal_weights" and rec.F.shape == (5, 80)
    scipy.io.savemat(tmp_path / "t.mat", {"a": np.ones((4, 9)), "b": np.zeros((4, 9))})
    with pytest.raises(CalmError, match="choose one with --var"):
        read_recording(tmp_path / "t.mat")


def _write_v73(path, variables):
    """A MATLAB v7.3 file as MATLAB writes it: HDF5 with a user block, column-major datasets."""
    with h5py.File(path, "w", userblock_size=512) as f:
        for name, value in variables.items():
            arr = np.atleast_2d(np.asarray(value, np.float64))
            ds = f.create_dataset(name, data=arr.T)  # MATLAB stores the transpose
            ds.attrs["MATLAB_class"] = np.bytes_("double")
    with open(path, "r+b") as fh:
        fh.write(b"MATLAB 7.3 MAT-file, Platform: GLNXA64".ljust(116, b" "))


def test_mat_v73(tmp_path, traces):
    _write_v73(tmp_path / "r73.mat", {"F": traces, "fs": 31.0, "licks": np.arange(80.0)})
    assert h5py.is_hdf5(tmp_path / "r73.mat")
    rec = read_recording(tmp_path / "r73.mat")
    assert np.allclose(rec.F, traces) and not rec.metadata["transposed"]
    assert rec.fs == 31.0 and np.array_equal(rec.behavior["licks"], np.arange(80.0))


def test_corrupt_mat(tmp_path):
    (tmp_path / "bad.mat").write_bytes(b"MATLAB 5.0 MAT-file" + b"\x00" * 20)
    with pytest.raises(CalmError, match=r"bad\.mat"):
        read_recording(tmp_path / "bad.mat")


def test_nwb_without_pynwb_says_how_to_install(tmp_path, monkeypatch):
    (tmp_path / "r.nwb").write_bytes(b"\x89HDF\r\n\x1a\n")
    monkeypatch.setitem(sys.modules, "pynwb", None)  # import pynwb -> ImportError
    with pytest.raises(CalmError, match=r"pip install 'napari-calm\[nwb\]'"):
        read_recording(tmp_path / "r.nwb")


def test_missing_and_unknown(tmp_path):
    with pytest.raises(CalmError, match="no such file or folder"):
        read_recording(tmp_path / "absent.npz")
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(CalmError, match=r"notes\.txt: unknown file type"):
        read_recording(tmp_path / "notes.txt")
    (tmp_path / "empty").mkdir()
    with pytest.raises(CalmError, match="unknown folder"):
        read_recording(tmp_path / "empty")
    assert detect_format(tmp_path / "notes.txt") is None


def test_real_triplett_mat(real_data):
    path = real_data / "triplett-zebrafish-tectum" / "zf_20151104-f1.mat"
    rec = read_recording(path, fs=2.2)
    assert rec.kind == "mat" and rec.F.shape == (114, 4245) and rec.fs == 2.2
    assert rec.metadata["traces_variable"] == "activity_matrix"
    assert rec.metadata["centroids_xy"].shape == (114, 2)
    assert read_recording(path).metadata["fs_assumed"]  # the file states no rate


def _write_nwb(path, traces, fs):
    pynwb = pytest.importorskip("pynwb")
    from datetime import datetime

    from pynwb.behavior import BehavioralTimeSeries
    from pynwb.ophys import Fluorescence, ImageSegmentation, OpticalChannel, RoiResponseSeries

    nwb = pynwb.NWBFile(
        session_description="test",
        identifier="id0",
        session_start_time=datetime(2024, 1, 1, tzinfo=UTC),
    )
    device = nwb.create_device(name="scope")
    plane = nwb.create_imaging_plane(
        name="plane",
        optical_channel=OpticalChannel(name="green", description="", emission_lambda=510.0),
        description="",
        device=device,
        excitation_lambda=920.0,
        imaging_rate=fs,
        indicator="GCaMP",
        location="V1",
    )
    ophys = nwb.create_processing_module(name="ophys", description="")
    segmentation = ImageSegmentation()
    ophys.add(segmentation)
    seg = segmentation.create_plane_segmentation(name="cells", description="", imaging_plane=plane)
    n, t = traces.shape
    for i in range(n):
        mask = np.zeros((10, 12))
        mask[i, i : i + 3] = 1.0
        seg.add_roi(image_mask=mask)
    region = seg.create_roi_table_region(description="all", region=list(range(n)))
    rrs = RoiResponseSeries(name="F", data=traces.T, rois=region, unit="a.u.", rate=fs)
    ophys.add(Fluorescence(roi_response_series=rrs))
    behavior = nwb.create_processing_module(name="behavior", description="")
    speed = pynwb.TimeSeries(name="speed", data=np.arange(t) * 2.0, unit="cm/s", rate=fs)
    behavior.add(BehavioralTimeSeries(time_series=speed))
    nwb.add_trial_column(name="cue", description="")
    nwb.add_trial(start_time=0.0, stop_time=1.0, cue="left")
    nwb.add_trial(start_time=2.0, stop_time=3.0, cue="right")
    with pynwb.NWBHDF5IO(str(path), "w") as io:
        io.write(nwb)


def test_nwb_with_pynwb(tmp_path, traces):
    _write_nwb(tmp_path / "r.nwb", traces, 10.0)
    rec = read_recording(tmp_path / "r.nwb")
    assert rec.kind == "nwb" and np.allclose(rec.F, traces) and rec.fs == 10.0
    assert rec.rois.shape == (10, 12) and len(rec.rois.pixels[2]) == 3
    assert np.allclose(rec.behavior["speed"], np.arange(80) * 2.0)
    assert list(rec.trials["start_frame"]) == [0, 20] and list(rec.trials["end_frame"]) == [10, 30]
    assert list(rec.trials["cue"]) == ["left", "right"]
