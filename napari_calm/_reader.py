"""npe2 reader contribution: recordings into napari layers.

The manifest offers this reader for folders (suite2p output, CalM traces
folders), ``.npz``, ``.mat``, ``.nwb``, ``stat.npy`` and ImageJ ``.zip``/``.roi``
ROI sets. It does not claim ``*.tif``: napari reads TIFF itself, and the CalM
reader (lazy, multi-plane, with ROIs and behaviour) is chosen explicitly with
``viewer.open(path, plugin="napari-calm")``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

LayerData = list[tuple[Any, dict[str, Any], str]]


def _single(path: Any) -> str | None:
    if isinstance(path, (list, tuple)):
        return str(path[0]) if len(path) == 1 else None
    return str(path)


def _accepts(path: Path) -> bool:
    from src_models.readers import detect_format

    kind = detect_format(path)
    if kind is None:
        return False
    if kind == "imagej_rois":
        from src_models.readers.imagej_rois import is_imagej_roi_zip
        from src_models.readers.tiff import find_tiff_for_rois

        if path.suffix.lower() == ".zip" and not is_imagej_roi_zip(path):
            return False
        find_tiff_for_rois(path)
    return True


def napari_get_reader(path: str | list[str]) -> Callable[[Any], LayerData] | None:
    """Return :func:`read_layers` when ``path`` is something CalM reads, else ``None``.

    Cheap (looks at names and folder listings, not at data) and never raises.
    """
    try:
        single = _single(path)
        if single is None or not _accepts(Path(single)):
            return None
    except Exception:  # a reader probe must never raise
        return None
    return read_layers


def read_layers(path: str | list[str]) -> LayerData:
    """Read a recording and return its napari layers (see :mod:`napari_calm.layers`)."""
    from napari_calm.layers import recording_layers
    from src_models.errors import CalmError
    from src_models.readers import read_recording

    single = _single(path)
    if single is None:
        raise CalmError("napari-calm opens one recording at a time")
    return recording_layers(read_recording(single))
