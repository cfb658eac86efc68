"""``calm info``: exit codes, one-line errors, the JSON contract."""

from __future__ import annotations

import io
import json
import subprocess
import sys

import numpy as np
import pytest
import tifffile

from napari_calm.cli.main import main

REQUIRED_KEYS = {"kind", "n_neurons", "n_frames", "fs", "movie_shape", "behavior", "n_trials"}


def calm(*args):
    """``calm info ARGS`` in a fresh interpreter (the real exit status and stderr)."""
    return subprocess.run(
        [sys.executable, "-m", "napari_calm.cli.main", "info", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def calm_here(capsys):
    """``calm info ARGS`` in this process (same code path, no interpreter start-up)."""

    def run(*args):
        rc = main(["info", *map(str, args)])
        out, err = capsys.readouterr()
        return subprocess.CompletedProcess(args, rc, out, err)

    return run


@pytest.fixture
def traces_folder(tmp_path):
    folder = tmp_path / "rec"
    folder.mkdir()
    np.save(
        folder / "traces.npy", np.random.default_rng(0).normal(size=(4, 30)).astype(np.float32)
    )
    (folder / "meta.json").write_text('{"fs": 15.0}')
    (folder / "behavior.csv").write_text("speed\n" + "\n".join(["1.0"] * 30) + "\n")
    (folder / "trials.csv").write_text("start_frame,end_frame,cue\n0,10,left\n12,20,right\n")
    return folder


def test_json_contract(traces_folder):
    proc = calm(traces_folder, "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert REQUIRED_KEYS <= set(out)
    assert out["kind"] == "traces" and out["n_neurons"] == 4 and out["n_frames"] == 30
    assert out["fs"] == 15.0 and out["movie_shape"] is None and out["fs_assumed"] is False
    assert out["behavior"] == ["speed"] and out["n_trials"] == 2


def test_text_summary_and_options(tmp_path, calm_here):
    tifffile.imwrite(
        tmp_path / "m.tif", np.zeros((9, 2, 5, 6), np.uint8), metadata={"axes": "TZYX"}
    )
    proc = calm_here(tmp_path / "m.tif", "--fs", "3")
    assert proc.returncode == 0 and "9 x 2 x 5 x 6 uint8" in proc.stdout and "3 Hz" in proc.stdout
    out = json.loads(calm_here(tmp_path / "m.tif", "--json").stdout)
    assert out["movie_shape"] == [9, 2, 5, 6] and out["n_neurons"] == 0 and out["fs_assumed"]


def test_all_rois_and_var(tmp_path, calm_here):
    plane = tmp_path / "plane0"
    plane.mkdir()
    np.save(plane / "F.npy", np.ones((3, 12), np.float32))
    np.save(plane / "iscell.npy", np.array([[1, 0.9], [0, 0.1], [1, 0.8]]))
    assert json.loads(calm_here(tmp_path, "--json").stdout)["n_neurons"] == 2
    assert json.loads(calm_here(tmp_path, "--json", "--all-rois").stdout)["n_neurons"] == 3
    import scipy.io

    scipy.io.savemat(tmp_path / "r.mat", {"a": np.ones((3, 40)), "b": np.ones((6, 50))})
    assert (
        json.loads(calm_here(tmp_path / "r.mat", "--json", "--var", "a").stdout)["n_frames"] == 40
    )


def _assert_one_line_error(proc, fragment):
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    assert fragment in lines[0]
    assert "Traceback" not in proc.stderr and proc.stdout == ""


def test_missing_path(tmp_path):
    _assert_one_line_error(calm(tmp_path / "nothing.npz"), "nothing.npz: no such file or folder")


def test_corrupt_tiff(tmp_path):
    data = np.arange(40 * 32 * 32, dtype=np.uint16).reshape(40, 32, 32)
    tifffile.imwrite(tmp_path / "c.tif", data, compression="zlib")
    raw = (tmp_path / "c.tif").read_bytes()
    (tmp_path / "c.tif").write_bytes(raw[: len(raw) // 3])
    _assert_one_line_error(calm(tmp_path / "c.tif"), "c.tif")
    (tmp_path / "g.tif").write_bytes(b"garbage" * 10)
    _assert_one_line_error(calm(tmp_path / "g.tif"), "g.tif: not a readable TIFF")


def test_truncated_npy(traces_folder, calm_here):
    raw = (traces_folder / "traces.npy").read_bytes()
    (traces_folder / "traces.npy").write_bytes(raw[:200])
    _assert_one_line_error(calm_here(traces_folder, "--json"), "traces.npy: truncated")


def test_rows_differ_from_rois(tmp_path, calm_here):
    plane = tmp_path / "plane0"
    plane.mkdir()
    np.save(plane / "F.npy", np.ones((3, 12), np.float32))
    stat = np.array([{"ypix": np.arange(2), "xpix": np.arange(2)}] * 2, dtype=object)
    np.save(plane / "stat.npy", stat, allow_pickle=True)
    _assert_one_line_error(calm_here(tmp_path), "F.npy has 3 rows but stat.npy has 2 ROIs")


def test_nan_and_zero_frames(tmp_path, calm_here):
    bad = np.ones((2, 5))
    bad[0, 0] = np.nan
    np.savez(tmp_path / "nan.npz", traces=bad, fs=1.0)
    _assert_one_line_error(calm_here(tmp_path / "nan.npz"), "nan.npz: traces contain NaN or Inf")
    np.savez(tmp_path / "empty.npz", traces=np.zeros((2, 0)), fs=1.0)
    _assert_one_line_error(
        calm_here(tmp_path / "empty.npz"), "empty.npz: recording has zero frames"
    )


def test_pickle_payload_is_refused_not_run(tmp_path):
    plane = tmp_path / "plane0"
    plane.mkdir()
    np.save(plane / "F.npy", np.ones((1, 12), np.float32))
    marker = tmp_path / "ran"
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        header, {"descr": "|O", "fortran_order": False, "shape": (1,)}
    )
    payload = b"cposix\nsystem\n(S'touch " + str(marker).encode() + b"'\ntR."
    (plane / "stat.npy").write_bytes(header.getvalue() + payload)
    _assert_one_line_error(calm(tmp_path), "refuses to unpickle posix.system")
    assert not marker.exists()


def test_unknown_format(tmp_path, calm_here):
    (tmp_path / "x.csv").write_text("a,b\n1,2\n")
    _assert_one_line_error(calm_here(tmp_path / "x.csv"), "x.csv: unknown file type")
