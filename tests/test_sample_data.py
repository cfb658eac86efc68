"""The npe2 sample-data contribution opens the demo recording as movie + ROI labels."""

from __future__ import annotations

import numpy as np
import pytest

from napari_calm._sample_data import DEMO_LAYER_NAME, make_demo


def test_make_demo_layer_data():
    layers = make_demo()
    kinds = [kind for _, _, kind in layers]
    assert kinds[:2] == ["image", "labels"]
    movie, _, _ = layers[0]
    labels, kw, _ = layers[1]
    assert movie.ndim == 3 and movie.shape[1:] == labels.shape
    n = int(labels.max())
    assert n >= 100 and len(kw["features"]["index"]) == n
    rec = kw["metadata"]["calm_recording"]
    assert rec.n_trials > 10 and {"angular_velocity", "running_speed"} <= set(rec.behavior)


@pytest.mark.gui
def test_open_sample_adds_movie_and_labels(make_napari_viewer):
    viewer = make_napari_viewer()
    viewer.open_sample("napari-calm", "demo")
    image = [ly for ly in viewer.layers if ly._type_string == "image"]
    labels = [ly for ly in viewer.layers if ly._type_string == "labels"]
    assert len(image) == 1 and len(labels) == 1
    assert image[0].name == DEMO_LAYER_NAME and image[0].data.ndim == 3
    assert labels[0].data.shape == image[0].data.shape[1:]
    feats = labels[0].features
    assert len(feats) == int(np.max(labels[0].data)) and "index" in feats.columns
    # the ROIs sit on bright somata: mean movie brighter inside ROIs than outside
    mean = np.asarray(image[0].data[:50]).mean(0)
    inside = labels[0].data > 0
    assert mean[inside].mean() > 1.1 * mean[~inside].mean()
