"""The npe2 reader: cheap probing (Qt-free) and layers in a real viewer (GUI)."""

from __future__ import annotations

import zipfile

import numpy as np
import pytest
import roifile
import tifffile

from napari_calm._reader import napari_get_reader
from napari_calm.layers import RECORDING_KEY, add_recording, recording_layers
from src_models.readers import read_recording


def _suite2p(folder, n=4, T=30):
    plane = folder / "suite2p" / "plane0"
    plane.mkdir(parents=True)
    rng = np.random.default_rng(0)
    np.save(plane / "F.npy", rng.normal(50, 5, (n, T)).astype(np.float32))
    np.save(plane / "iscell.npy", np.array([[1, 0.9]] * n))
    stat = [
        {"ypix": np.array([i, i, i + 1]), "xpix": np.array([2, 3, 2]), "skew": 1.0 + i}
        for i in range(n)
    ]
    np.save(plane / "stat.npy", np.array(stat, dtype=object), allow_pickle=True)
    ops = {"fs": 5.0, "Ly": 12, "Lx": 10, "meanImg": np.ones((12, 10))}
    np.save(plane / "ops.npy", np.array(ops, dtype=object), allow_pickle=True)
    return folder


def _tiff_with_rois(folder):
    movie = np.random.default_rng(1).integers(0, 500, (15, 3, 20, 24)).astype(np.uint16)
    tifffile.imwrite(folder / "m.tif", movie, imagej=True, metadata={"axes": "TZYX"})
    roi = roifile.ImagejRoi(roitype=roifile.ROI_TYPE.RECT, left=1, top=1, right=4, bottom=5)
    roi.z_position = 2
    roi.tofile(folder / "m.roi")
    return folder / "m.tif"


def test_probe_is_cheap_and_never_raises(tmp_path):
    assert napari_get_reader(str(tmp_path)) is None  # empty folder
    assert napari_get_reader(str(tmp_path / "absent")) is None
    (tmp_path / "other.zip").write_bytes(b"PK not really")
    assert napari_get_reader(str(tmp_path / "other.zip")) is None
    with zipfile.ZipFile(tmp_path / "docs.zip", "w") as z:
        z.writestr("readme.txt", "hi")
    assert napari_get_reader(str(tmp_path / "docs.zip")) is None
    assert napari_get_reader([str(tmp_path), str(tmp_path)]) is None
    assert napari_get_reader(None) is None
    _suite2p(tmp_path / "s")
    assert callable(napari_get_reader(str(tmp_path / "s")))
    assert callable(napari_get_reader([str(tmp_path / "s" / "suite2p" / "plane0" / "stat.npy")]))


def test_layer_tuples_suite2p(tmp_path):
    rec = read_recording(_suite2p(tmp_path / "s"))
    layers = recording_layers(rec)
    kinds = [t for _, _, t in layers]
    assert kinds == ["image", "labels"]  # mean image (no movie), then ROIs
    labels, kw, _ = layers[1]
    assert labels.shape == (12, 10) and labels.max() == 4
    assert kw["metadata"][RECORDING_KEY] is rec
    feats = kw["features"]
    assert list(feats["index"]) == [1, 2, 3, 4]
    assert list(feats["skew"]) == [1.0, 2.0, 3.0, 4.0]  # suite2p's own statistic wins
    assert {"mean_F", "centroid_y", "centroid_x", "iscell_prob", "roi_id"} <= set(feats)


def test_suite2p_without_images_shows_the_roi_footprints(tmp_path):
    folder = _suite2p(tmp_path / "s")
    ops = folder / "suite2p" / "plane0" / "ops.npy"
    np.save(ops, np.array({"fs": 5.0, "Ly": 12, "Lx": 10}, dtype=object), allow_pickle=True)
    layers = recording_layers(read_recording(folder))
    assert [t for _, _, t in layers] == ["image", "labels"]
    image, kw, _ = layers[0]
    assert kw["name"].endswith("footprints") and image.shape == (12, 10)
    assert image.max() == 1.0 and (image > 0).sum() == (layers[1][0] > 0).sum()


def test_traces_only_become_a_raster(tmp_path):
    np.savez(tmp_path / "r.npz", traces=np.arange(40.0).reshape(4, 10), fs=2.0)
    ((data, kw, kind),) = recording_layers(read_recording(tmp_path / "r.npz"))
    assert (
        kind == "image" and data.shape == (4, 10) and np.allclose(data.mean(axis=1), 0, atol=1e-5)
    )


@pytest.mark.gui
def test_viewer_opens_suite2p_folder(make_napari_viewer, tmp_path):
    folder = _suite2p(tmp_path / "s")
    viewer = make_napari_viewer()
    viewer.open(str(folder), plugin="napari-calm")
    labels = [layer for layer in viewer.layers if layer._type_string == "labels"]
    assert len(labels) == 1 and labels[0].data.max() == 4
    feats = labels[0].features
    assert list(feats["index"]) == [1, 2, 3, 4] and list(feats["skew"]) == [1.0, 2.0, 3.0, 4.0]
    rec = labels[0].metadata[RECORDING_KEY]
    assert rec.kind == "suite2p" and rec.n_neurons == 4


@pytest.mark.gui
def test_viewer_opens_tiff_folder_via_plugin(make_napari_viewer, tmp_path):
    """The manifest does not claim *.tif; the TIFF's folder opens with the plugin."""
    _tiff_with_rois(tmp_path)
    viewer = make_napari_viewer()
    viewer.open(str(tmp_path), plugin="napari-calm")
    image = next(layer for layer in viewer.layers if layer._type_string == "image")
    assert image.data.shape == (15, 3, 20, 24) and viewer.dims.ndim == 4
    labels = next(layer for layer in viewer.layers if layer._type_string == "labels")
    assert labels.data.shape == (3, 20, 24) and (labels.data[1] == 1).sum() == 12
    assert labels.features["centroid_z"][0] == 1.0
    assert labels.metadata[RECORDING_KEY].F.shape == (1, 15)


@pytest.mark.gui
def test_add_recording_opens_a_tiff(make_napari_viewer, tmp_path):
    path = _tiff_with_rois(tmp_path)
    viewer = make_napari_viewer()
    layers = add_recording(viewer, path, fs=4.0)
    assert [layer._type_string for layer in layers] == ["image", "labels"]
    assert layers[0].metadata[RECORDING_KEY].fs == 4.0


@pytest.mark.gui
def test_viewer_opens_real_sima(make_napari_viewer, real_data):
    viewer = make_napari_viewer()
    viewer.open(str(real_data / "sima-example-2p" / "imageJ_ROIs.zip"), plugin="napari-calm")
    types = sorted(layer._type_string for layer in viewer.layers)
    assert types == ["image", "labels"]
    labels = next(layer for layer in viewer.layers if layer._type_string == "labels")
    assert labels.data.max() == 2 and len(labels.features) == 2
