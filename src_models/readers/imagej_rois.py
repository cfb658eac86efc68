"""ImageJ ROI sets (``.zip`` from the ROI Manager, single ``.roi`` files) as a :class:`RoiSet`.

Rasterisation follows ImageJ: a pixel belongs to an area ROI (rectangle, oval,
polygon, freehand, traced, composite by the even-odd rule) when its centre lies
inside the outline; point ROIs take the pixels under the points. Lines and
angles enclose no area and are skipped (``metadata["skipped_rois"]``). On a
multi-plane movie an ROI goes to its ImageJ ``z_position`` (1-based), else plane 0.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from src_models.errors import CalmError
from src_models.recording import RoiSet


def is_imagej_roi_zip(path: Path) -> bool:
    """Whether ``path`` is a zip archive holding only ``.roi`` entries (cheap check)."""
    try:
        with zipfile.ZipFile(path) as z:
            names = [n for n in z.namelist() if not n.endswith("/")]
    except (OSError, zipfile.BadZipFile):
        return False
    return bool(names) and all(n.lower().endswith(".roi") for n in names)


def _inside(poly_list: list[np.ndarray], ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
    from matplotlib.path import Path as MplPath

    centres = np.column_stack([xs + 0.5, ys + 0.5])
    inside = np.zeros(len(centres), bool)
    for poly in poly_list:
        if len(poly) >= 3:
            inside ^= MplPath(np.asarray(poly, float)).contains_points(centres)
    return inside


def roi_mask_pixels(roi: Any, image_shape: tuple[int, int]) -> np.ndarray | None:
    """``(k, 2)`` (y, x) pixels of one ImageJ ROI inside the image; ``None`` for no-area ROIs."""
    import roifile

    kind = roifile.ROI_TYPE
    ny, nx = image_shape
    rtype = roi.roitype
    if rtype == kind.POINT:
        pts = np.floor(np.asarray(roi.coordinates(), float)).astype(np.int64)
        yx = np.unique(pts[:, ::-1], axis=0) if len(pts) else np.zeros((0, 2), np.int64)
    elif (
        rtype in (kind.RECT, kind.OVAL, kind.POLYGON, kind.FREEHAND, kind.TRACED) or roi.composite
    ):
        top, left = max(int(roi.top), 0), max(int(roi.left), 0)
        bottom, right = min(int(roi.bottom), ny), min(int(roi.right), nx)
        if bottom <= top or right <= left:
            return np.zeros((0, 2), np.int64)
        ys, xs = np.mgrid[top:bottom, left:right]
        ys, xs = ys.ravel(), xs.ravel()
        if roi.composite:
            keep = _inside([np.asarray(c) for c in roi.coordinates(multi=True)], ys, xs)
        elif rtype == kind.RECT:
            keep = np.ones(len(ys), bool)
        elif rtype == kind.OVAL:
            cy, cx = (roi.top + roi.bottom) / 2, (roi.left + roi.right) / 2
            a, b = max((roi.right - roi.left) / 2, 0.5), max((roi.bottom - roi.top) / 2, 0.5)
            keep = ((xs + 0.5 - cx) / a) ** 2 + ((ys + 0.5 - cy) / b) ** 2 <= 1.0
        else:
            keep = _inside([np.asarray(roi.coordinates())], ys, xs)
        yx = np.column_stack([ys[keep], xs[keep]]).astype(np.int64)
        if not len(yx):  # outline thinner than a pixel: the pixels under its vertices
            pts = np.floor(np.asarray(roi.coordinates(), float)).astype(np.int64)
            yx = np.unique(pts[:, ::-1], axis=0)
    else:
        return None
    ok = (yx[:, 0] >= 0) & (yx[:, 0] < ny) & (yx[:, 1] >= 0) & (yx[:, 1] < nx)
    return yx[ok]


def read_imagej_rois(path: Path, fov_shape: tuple[int, ...]) -> tuple[RoiSet, list[str], list[str]]:
    """Read an ImageJ ROI set onto a field of view.

    Parameters
    ----------
    path : Path
        ``.zip`` ROI set or single ``.roi`` file.
    fov_shape : tuple of int
        ``(Y, X)`` or ``(Z, Y, X)`` of the movie the ROIs belong to.

    Returns
    -------
    rois : RoiSet
        One ROI per area ROI, ids ``0..N-1`` in file order.
    names : list of str
        ImageJ names of the kept ROIs.
    skipped : list of str
        Names of ROIs without an area (lines, angles).

    Raises
    ------
    CalmError
        Unreadable file, no area ROI, or an ROI outside the image.
    """
    import roifile

    try:
        rois = roifile.roiread(path)
    except Exception as exc:  # roifile raises many types for corrupt input
        raise CalmError(f"not a readable ImageJ ROI file ({type(exc).__name__}: {exc})", path) from None
    if not isinstance(rois, list):
        rois = [rois]
    image_shape = tuple(int(s) for s in fov_shape[-2:])
    n_planes = int(fov_shape[0]) if len(fov_shape) == 3 else 1
    pixels, names, skipped = [], [], []
    for k, roi in enumerate(rois):
        name = roi.name or f"roi{k}"
        yx = roi_mask_pixels(roi, image_shape)
        if yx is None:
            skipped.append(name)
            continue
        if not len(yx):
            ny, nx = image_shape
            raise CalmError(f"ROI {name!r} lies outside the {ny}x{nx} image", path)
        if len(fov_shape) == 3:
            z = int(roi.z_position) - 1 if roi.z_position and roi.z_position > 0 else 0
            if z >= n_planes:
                raise CalmError(f"ROI {name!r} is on plane {z + 1} of a {n_planes}-plane movie", path)
            yx = np.column_stack([np.full(len(yx), z, np.int64), yx])
        pixels.append(yx)
        names.append(name)
    if not pixels:
        raise CalmError("holds no area ROI (only lines or angles)", path)
    return RoiSet(tuple(fov_shape), pixels), names, skipped
