"""TIFF movies (lazy), ImageJ ROIs, side files, bad TIFFs, and the real TIFF recordings."""

from __future__ import annotations

import json

import numpy as np
import pytest
import roifile
import tifffile

from src_models.readers import read_recording
from src_models.readers.lazy import TiffPageArray
from src_models.readers.sidecars import DEFAULT_FS
from src_models.errors import CalmError


@pytest.fixture
def movie():
    rng = np.random.default_rng(0)
    return rng.integers(0, 4000, (12, 2, 16, 20)).astype(np.uint16)


def test_imagej_hyperstack_is_memory_mapped_with_frame_rate(tmp_path, movie):
    path = tmp_path / "rec.tif"
    tifffile.imwrite(path, movie, imagej=True, metadata={"axes": "TZYX", "finterval": 0.05})
    rec = read_recording(path)
    assert rec.kind == "tiff" and isinstance(rec.movie, np.memmap)
    assert rec.movie_shape == (12, 2, 16, 20) and rec.n_frames == 12 and rec.n_neurons == 0
    assert rec.F.shape == (0, 12)
    assert rec.fs == pytest.approx(20.0) and rec.metadata["fs_assumed"] is False
    assert np.array_equal(rec.movie[5], movie[5])


def test_compressed_tiff_reads_pages_on_demand(tmp_path, movie):
    path = tmp_path / "rec.tif"
    tifffile.imwrite(path, movie, compression="zlib", metadata={"axes": "TZYX"})
    rec = read_recording(path, fs=7.5)
    assert isinstance(rec.movie, TiffPageArray) and rec.movie_shape == movie.shape
    assert rec.fs == 7.5 and rec.metadata["fs_source"] == "argument"
    assert np.array_equal(rec.movie[3], movie[3])
    assert np.array_equal(rec.movie[2:5, 1, 4:9, ::3], movie[2:5, 1, 4:9, ::3])
    assert np.array_equal(rec.movie[..., 0], movie[..., 0])
    assert np.array_equal(np.asarray(rec.movie), movie)


def test_page_reader_reads_only_requested_pages(tmp_path, movie, monkeypatch):
    path = tmp_path / "rec.tif"
    tifffile.imwrite(path, movie, compression="zlib", metadata={"axes": "TZYX"})
    rec = read_recording(path)
    seen: list[list[int]] = []
    original = TiffPageArray._read_pages
    monkeypatch.setattr(
        TiffPageArray, "_read_pages", lambda self, p: (seen.append(list(p)), original(self, p))[1]
    )
    rec.movie[7, 1]
    assert seen == [[15]]  # page index t * Z + z


def test_channels_keep_the_first(tmp_path):
    data = np.arange(5 * 2 * 3 * 4 * 6, dtype=np.uint16).reshape(5, 2, 3, 4, 6)
    tifffile.imwrite(tmp_path / "c.tif", data, imagej=True, metadata={"axes": "TZCYX"})
    rec = read_recording(tmp_path / "c.tif")
    assert rec.movie_shape == (5, 2, 4, 6) and rec.metadata["n_channels"] == 3
    assert np.array_equal(rec.movie[:], data[:, :, 0])


def test_plain_stack_and_default_frame_rate(tmp_path, movie):
    tifffile.imwrite(tmp_path / "p.tif", movie[:, 0])
    rec = read_recording(tmp_path / "p.tif")
    assert rec.movie_shape == (12, 16, 20)
    assert rec.fs == DEFAULT_FS and rec.metadata["fs_assumed"] is True


def test_ome_time_increment(tmp_path, movie):
    tifffile.imwrite(
        tmp_path / "o.ome.tif",
        movie[:, 0],
        ome=True,
        metadata={"axes": "TYX", "TimeIncrement": 0.04},
    )
    assert read_recording(tmp_path / "o.ome.tif").fs == pytest.approx(25.0)


def _roi_zip(path):
    rois = [
        roifile.ImagejRoi.frompoints([[1, 1], [6, 1], [6, 5], [1, 5]]),
        roifile.ImagejRoi(roitype=roifile.ROI_TYPE.RECT, left=2, top=3, right=5, bottom=7),
        roifile.ImagejRoi(roitype=roifile.ROI_TYPE.OVAL, left=8, top=8, right=14, bottom=14),
        roifile.ImagejRoi.frompoints([[0, 0], [5, 5]]),  # becomes a line-free polygon below
    ]
    rois[3].roitype = roifile.ROI_TYPE.LINE
    for k, r in enumerate(rois):
        r.name = f"cell{k}"
    roifile.roiwrite(path, rois, mode="w")


def test_imagej_rois_next_to_tiff_give_mean_traces(tmp_path, movie):
    tifffile.imwrite(tmp_path / "m.tif", movie[:, 0], imagej=True, metadata={"axes": "TYX"})
    _roi_zip(tmp_path / "RoiSet.zip")
    rec = read_recording(tmp_path / "m.tif")
    assert rec.n_neurons == 3 and rec.rois.shape == (16, 20)
    assert rec.metadata["roi_names"] == ["cell0", "cell1", "cell2"]
    assert rec.metadata["skipped_rois"] == ["cell3"]
    poly, rect, oval = (set(map(tuple, p)) for p in rec.rois.pixels)
    assert poly == {(y, x) for y in range(1, 5) for x in range(1, 6)}
    assert rect == {(y, x) for y in range(3, 7) for x in range(2, 5)}
    assert (11, 11) in oval and (8, 8) not in oval and len(oval) == 32
    for i, px in enumerate(rec.rois.pixels):
        expect = movie[:, 0][:, px[:, 0], px[:, 1]].astype(np.float64).mean(axis=1)
        assert np.allclose(rec.F[i], expect, rtol=1e-5)
    # opening the ROI set itself finds the TIFF
    again = read_recording(tmp_path / "RoiSet.zip")
    assert np.allclose(again.F, rec.F)


def test_rois_on_multiplane_movie_use_z_position(tmp_path, movie):
    tifffile.imwrite(tmp_path / "m.tif", movie, imagej=True, metadata={"axes": "TZYX"})
    roi = roifile.ImagejRoi(roitype=roifile.ROI_TYPE.RECT, left=0, top=0, right=2, bottom=2)
    roi.z_position = 2
    roi.tofile(tmp_path / "m.roi")
    rec = read_recording(tmp_path / "m.tif")
    assert rec.rois.shape == (2, 16, 20) and set(rec.rois.pixels[0][:, 0]) == {1}
    assert np.allclose(rec.F[0], movie[:, 1, :2, :2].reshape(12, -1).mean(axis=1))


def test_roi_outside_image_is_an_error(tmp_path, movie):
    tifffile.imwrite(tmp_path / "m.tif", movie[:, 0])
    roi = roifile.ImagejRoi(roitype=roifile.ROI_TYPE.RECT, left=50, top=50, right=60, bottom=60)
    roi.tofile(tmp_path / "m.roi")
    with pytest.raises(CalmError, match="outside"):
        read_recording(tmp_path / "m.tif")


def test_side_files_attach_behaviour_and_trials(tmp_path, movie):
    tifffile.imwrite(tmp_path / "m.tif", movie[:, 0])
    rows = "\n".join(f"{i * 0.5},{i % 3}" for i in range(12))
    (tmp_path / "behavior.csv").write_text("speed,licks\n" + rows + "\n")
    (tmp_path / "trials.csv").write_text("start_frame,end_frame,cue\n0,4,left\n5,11,right\n")
    (tmp_path / "meta.json").write_text(json.dumps({"fs": 12.5, "indicator": "GCaMP8m"}))
    rec = read_recording(tmp_path / "m.tif")
    assert rec.fs == 12.5 and rec.metadata["fs_source"] == "meta.json"
    assert rec.metadata["indicator"] == "GCaMP8m"
    assert np.allclose(rec.behavior["speed"], np.arange(12) * 0.5)
    assert rec.n_trials == 2 and list(rec.trials["cue"]) == ["left", "right"]
    assert rec.trials["end_frame"].dtype == np.int64


def test_behaviour_length_mismatch_names_the_csv(tmp_path, movie):
    tifffile.imwrite(tmp_path / "m.tif", movie[:, 0])
    (tmp_path / "behavior.csv").write_text("speed\n1\n2\n")
    with pytest.raises(CalmError, match=r"behavior\.csv.*2 rows for a recording of 12 frames"):
        read_recording(tmp_path / "m.tif")


def test_corrupt_tiff(tmp_path):
    (tmp_path / "bad.tif").write_bytes(b"II*\x00" + b"\xff" * 64)
    with pytest.raises(CalmError, match=r"bad\.tif.*TIFF"):
        read_recording(tmp_path / "bad.tif")
    (tmp_path / "text.tif").write_text("not a tiff at all")
    with pytest.raises(CalmError, match="not a readable TIFF"):
        read_recording(tmp_path / "text.tif")


def test_truncated_contiguous_tiff(tmp_path):
    data = np.ones((50, 64, 64), np.uint16)
    tifffile.imwrite(tmp_path / "t.tif", data, imagej=True, metadata={"axes": "TYX"})
    raw = (tmp_path / "t.tif").read_bytes()
    (tmp_path / "t.tif").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(CalmError, match="truncated"):
        read_recording(tmp_path / "t.tif")


def test_truncated_compressed_tiff(tmp_path):
    rng = np.random.default_rng(1)
    data = rng.integers(0, 60000, (20, 32, 32)).astype(np.uint16)
    tifffile.imwrite(tmp_path / "t.tif", data, compression="zlib", metadata={"axes": "TYX"})
    raw = (tmp_path / "t.tif").read_bytes()
    (tmp_path / "t.tif").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(CalmError, match="truncated"):
        read_recording(tmp_path / "t.tif")


def test_single_image_is_not_a_movie(tmp_path):
    tifffile.imwrite(tmp_path / "one.tif", np.zeros((8, 8), np.uint8))
    with pytest.raises(CalmError, match="single image"):
        read_recording(tmp_path / "one.tif")


# -- real recordings -----------------------------------------------------------------------------


def test_real_zebrafish_multiplane(real_data):
    rec = read_recording(real_data / "thunder-zebrafish-lightsheet" / "fish_series.tif")
    assert rec.movie_shape == (240, 2, 76, 87) and rec.movie.dtype == np.uint8
    assert rec.n_frames == 240 and rec.n_neurons == 0 and rec.metadata["fs_assumed"]
    assert rec.movie[100, 1].shape == (76, 87) and rec.movie[100, 1].max() > 0


def test_real_sima_with_imagej_rois(real_data):
    rec = read_recording(real_data / "sima-example-2p" / "example.tif")
    assert rec.movie_shape == (20, 128, 256) and rec.F.shape == (2, 20)
    assert rec.rois.shape == (128, 256) and all(len(p) > 50 for p in rec.rois.pixels)
    frames = tifffile.imread(real_data / "sima-example-2p" / "example.tif").astype(np.float64)
    px = rec.rois.pixels[1]
    assert np.allclose(rec.F[1], frames[:, px[:, 0], px[:, 1]].mean(axis=1), rtol=1e-5)


def test_real_thunder_mouse_with_running_speed(real_data):
    rec = read_recording(real_data / "thunder-mouse-s1" / "mouse_s1_movie.tif", fs=8.0)
    assert rec.movie_shape == (500, 64, 64) and rec.movie.dtype == np.int16
    assert set(rec.behavior) == {"runningSpeed", "corridorPosition"}
    speed = rec.behavior["runningSpeed"]
    assert speed.shape == (500,) and speed[0] == pytest.approx(18.2) and speed.max() <= 30.2
    assert rec.metadata["behavior_units"]["runningSpeed"] == "cm/s"
    assert rec.fs == 8.0
    folder = read_recording(real_data / "thunder-mouse-s1")  # a folder holding one TIFF
    assert folder.movie_shape == (500, 64, 64) and "runningSpeed" in folder.behavior
