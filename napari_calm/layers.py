"""A :class:`~src_models.recording.Recording` as napari layer-data tuples (numpy only, no Qt).

Layers, in order:

* the movie (``image``, lazy), else the reference images of a suite2p folder
  (mean image first, the others hidden), else the ROI footprints;
* the ROIs (``labels``; ROI ``i`` painted as ``i + 1``) with a per-ROI
  ``features`` table whose ``index`` column is the label value;
* for files that give cell positions but no masks (``.mat``), the positions
  as ``points`` with the same table;
* when none of these exists (pure traces), the traces as a neurons × frames
  raster (``image``, each row z-scored).

Every layer carries the recording itself in ``metadata["calm_recording"]``
so the docks can find it from any layer.

:func:`add_recording` puts a recording (or a path) into a viewer directly, e.g. a TIFF,
which the plugin manifest does not claim.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from src_models.recording import Recording, RoiSet

RECORDING_KEY = "calm_recording"
#: Point size (data pixels) of the cells of a recording with positions but no masks.
CELL_SIZE = 6.0


def _contrast_limits(movie: Any) -> list[float]:
    """Display range from the first, middle and last frame (cheap for lazy movies)."""
    n = int(movie.shape[0])
    frames = [np.asarray(movie[i], np.float32) for i in sorted({0, n // 2, n - 1})]
    sample = np.concatenate([f.ravel() for f in frames])
    sample = sample[np.isfinite(sample)]
    if not sample.size:
        return [0.0, 1.0]
    lo, hi = (float(v) for v in np.percentile(sample, [0.5, 99.9]))
    return [lo, hi if hi > lo else lo + 1.0]


def roi_features(rec: Recording) -> dict[str, np.ndarray]:
    """Per-ROI table: ``index`` (label value), ``neuron`` (row), ids, cell flag, position, stats.

    ``mean_F``, ``std_F`` and ``skew`` are computed from the (neuropil-corrected)
    traces; columns from ``metadata["roi_features"]`` (suite2p statistics such as
    its own ``skew``, ``npix``, ``iscell_prob``) are added, or replace the
    computed ones, when they have one entry per neuron.
    """
    n = rec.n_neurons
    traces = rec.traces
    mean = traces.mean(axis=1) if n else np.zeros(0)
    std = traces.std(axis=1) if n else np.zeros(0)
    centred = traces - mean[:, None]
    with np.errstate(invalid="ignore", divide="ignore"):
        skew = np.where(std > 0, (centred**3).mean(axis=1) / np.maximum(std, 1e-12) ** 3, 0.0)
    feats: dict[str, np.ndarray] = {
        "index": np.arange(1, n + 1),
        "neuron": np.arange(n),
        "roi_id": np.asarray(rec.rois.ids) if rec.rois is not None else np.arange(n),
        "iscell": np.asarray(rec.iscell, bool) if rec.iscell is not None else np.ones(n, bool),
    }
    if rec.rois is not None:
        cen = rec.rois.centroids()
        for axis, col in zip("zyx"[3 - cen.shape[1] :], cen.T):
            feats[f"centroid_{axis}"] = col
    feats.update(mean_F=mean.astype(np.float64), std_F=std.astype(np.float64), skew=skew.astype(np.float64))
    protected = {"index", "neuron", "roi_id", "iscell"} | {k for k in feats if "centroid" in k}
    extra = rec.metadata.get("roi_features") or {}
    if isinstance(extra, dict):  # values from the files (e.g. suite2p's skew) win
        for key, col in extra.items():
            col = np.asarray(col)
            if col.ndim == 1 and len(col) == n and key not in protected:
                feats[key] = col
    names = rec.metadata.get("roi_names")
    if isinstance(names, list) and len(names) == n:
        feats["name"] = np.asarray(names, dtype=str)
    return feats


def footprint_image(rois: RoiSet) -> np.ndarray:
    """Every ROI's pixel weights (suite2p ``lam``) scaled to a peak of 1 (a background without images)."""
    img = np.zeros(rois.shape, np.float32)
    for px, w in zip(rois.pixels, rois.weights, strict=True):
        w = np.asarray(w, np.float32)
        if len(px) and w.max() > 0:
            np.maximum.at(img, tuple(px.T), w / w.max())
    return img


def recording_layers(rec: Recording, name: str | None = None) -> list[tuple[Any, dict[str, Any], str]]:
    """napari ``LayerDataTuple`` list for a recording.

    Parameters
    ----------
    rec : Recording
        What a reader returned.
    name : str, optional
        Base layer name (default: the source file or folder name).

    Returns
    -------
    list of (data, kwargs, layer_type)
    """
    stem = name or rec.source.stem or str(rec.source)
    meta = {RECORDING_KEY: rec}
    layers: list[tuple[Any, dict[str, Any], str]] = []
    if rec.movie is not None:
        labels = ("t", "z", "y", "x") if len(rec.movie.shape) == 4 else ("t", "y", "x")
        limits = _contrast_limits(rec.movie)
        kwargs = dict(name=stem, metadata=dict(meta), contrast_limits=limits, axis_labels=labels)
        layers.append((rec.movie, kwargs, "image"))
    else:
        images = rec.metadata.get("images") or {}
        if not images and rec.rois is not None and len(rec.rois):
            images = {"footprints": footprint_image(rec.rois)}  # not ROIs on black
        for k, (key, img) in enumerate(images.items()):
            kwargs = {"name": f"{stem} {key}", "metadata": dict(meta), "visible": k == 0}
            layers.append((np.asarray(img, np.float32), kwargs, "image"))
    feats = roi_features(rec) if rec.n_neurons else None
    if rec.rois is not None and len(rec.rois):
        kwargs = {"name": f"{stem} ROIs", "metadata": dict(meta), "features": feats, "opacity": 0.5}
        layers.append((rec.rois.label_image(), kwargs, "labels"))
    elif isinstance(rec.metadata.get("centroids_xy"), np.ndarray) and rec.n_neurons:
        xy = rec.metadata["centroids_xy"]
        kwargs = dict(name=f"{stem} cells", metadata=dict(meta), features=feats, size=CELL_SIZE)
        layers.append((xy[:, [1, 0]].astype(np.float64), kwargs, "points"))
    if not layers and rec.n_neurons:
        tr = rec.traces
        sd = tr.std(axis=1, keepdims=True)
        raster = (tr - tr.mean(axis=1, keepdims=True)) / np.where(sd > 0, sd, 1.0)
        kwargs = dict(
            name=f"{stem} traces", metadata=dict(meta), colormap="magma", contrast_limits=[-1.0, 4.0],
            axis_labels=("neuron", "frame"),
        )
        layers.append((raster.astype(np.float32), kwargs, "image"))
    return layers


def add_recording(viewer: Any, source: Recording | str | Path, **read_kwargs: Any) -> list[Any]:
    """Add a recording's layers to a napari viewer.

    Parameters
    ----------
    viewer : napari.Viewer
        The viewer.
    source : Recording or path
        A recording, or anything :func:`src_models.readers.read_recording` opens.
    **read_kwargs
        Passed to ``read_recording`` (``var``, ``only_cells``, ``fs``, ``rois``).

    Returns
    -------
    list of napari layers
    """
    if not isinstance(source, Recording):
        from src_models.readers import read_recording

        source = read_recording(source, **read_kwargs)
    return [getattr(viewer, f"add_{kind}")(data, **kwargs) for data, kwargs, kind in recording_layers(source)]
