"""TIFF movies (plain, ImageJ hyperstack, OME, ScanImage, tifffile-shaped), opened lazily.

Movie
    The first series: memory-mapped when contiguous and uncompressed, else
    read page by page on demand (:class:`TiffPageArray`). It is ``T×Y×X`` or
    ``T×Z×Y×X``: time is tifffile's ``T``, else the first non-spatial axis; a
    second one is the plane axis. Of several channels (``C``/``S``) the first
    is used; a channel axis that is the only non-spatial one is read as time.

Frame rate
    ImageJ ``finterval``/``fps``, ScanImage ``scanVolumeRate``/``scanFrameRate``,
    OME ``TimeIncrement`` or an ``fs`` in tifffile's shaped metadata.

ROIs and traces
    ImageJ ROIs (``rois=``, else found next to the TIFF by :func:`find_roi_file`)
    give ``F`` as their mean per frame; without ROIs ``F`` is ``(0, T)``.
    Side files in the folder are attached (:mod:`.sidecars`).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

from src_models.readers.imagej_rois import is_imagej_roi_zip, read_imagej_rois
from src_models.readers.lazy import TiffPageArray, quiet_tifffile
from src_models.readers.roi_traces import roi_traces
from src_models.readers.sidecars import read_sidecars, resolve_fs
from src_models.errors import CalmError
from src_models.recording import Recording

TIFF_SUFFIXES = (".tif", ".tiff", ".btf", ".tf8")
_CHANNEL_AXES = set("CSE")


def _axis_plan(
    axes: str, shape: tuple[int, ...], path: Path
) -> tuple[tuple[Any, ...], list[int], int]:
    """Plan how the leading (non-spatial) axes of a series become ``T`` or ``T, Z``.

    Parameters
    ----------
    axes, shape
        tifffile axis codes and sizes of the leading axes only.

    Returns
    -------
    key : tuple
        One entry per leading axis: ``0`` (dropped) or ``slice(None)`` (kept).
    order : list of int
        Kept leading axes, ``[time]`` or ``[time, plane]``, as positions among the kept axes.
    n_channels : int
        Size of the channel axis (1 when none).
    """
    key: list[Any] = []
    kept: list[str] = []
    n_channels = 1
    for ax, n in zip(axes, shape):
        if ax in _CHANNEL_AXES:
            n_channels = max(n_channels, int(n))
            key.append(0)
        elif n == 1 and len(axes) > 1:
            key.append(0)
        else:
            key.append(slice(None))
            kept.append(ax)
    if not kept and "C" in axes and shape[axes.index("C")] > 1:
        # tifffile labels an unlabelled 3-D ImageJ stack as channels: read it as time
        key[axes.index("C")] = slice(None)
        kept, n_channels = ["C"], 1
    if not kept:
        raise CalmError(f"holds a single image (axes {axes}YX), not a movie", path)
    if len(kept) > 2:
        raise CalmError(
            f"has axes {axes}YX; only time and one plane axis besides Y, X are supported", path
        )
    t = kept.index("T") if "T" in kept else 0
    order = [t] + [i for i in range(len(kept)) if i != t]
    return tuple(key), order, n_channels


def _frame_rate(tif: Any) -> float | None:
    """Frame (or volume) rate the acquisition software stored; ``None`` if absent or bad."""
    try:
        rate = _stored_rate(tif)
    except (ValueError, TypeError, KeyError, AttributeError, ZeroDivisionError):
        return None
    return rate if rate is not None and np.isfinite(rate) and rate > 0 else None


def _stored_rate(tif: Any) -> float | None:
    ij = tif.imagej_metadata or {}
    finterval = ij.get("finterval")
    if finterval:
        unit = str(ij.get("tunit", "sec")).lower()
        scale = {"ms": 1e-3, "msec": 1e-3, "us": 1e-6, "min": 60.0}.get(unit, 1.0)
        return 1.0 / (float(finterval) * scale)
    if ij.get("fps"):
        return float(ij["fps"])
    if tif.is_scanimage:
        fd = (tif.scanimage_metadata or {}).get("FrameData", {})
        slices = fd.get(
            "SI.hStackManager.actualNumSlices", fd.get("SI.hStackManager.numSlices", 1)
        )
        try:
            volume = bool(fd.get("SI.hFastZ.enable")) and int(slices) > 1
        except (TypeError, ValueError):
            volume = False
        rate = fd.get(
            "SI.hRoiManager.scanVolumeRate" if volume else "SI.hRoiManager.scanFrameRate"
        )
        if rate is None:
            m = re.search(
                r"(?:scanFrameRate|frameRate)\s*=\s*([0-9.eE+-]+)",
                tif.pages.first.description or "",
            )
            rate = m.group(1) if m else None
        if rate is not None:
            return float(rate)
    if tif.is_ome:
        m = re.search(r'TimeIncrement="([0-9.eE+-]+)"', tif.ome_metadata or "")
        if m and float(m.group(1)) > 0:
            u = re.search(r'TimeIncrementUnit="([^"]+)"', tif.ome_metadata or "")
            scale = {"ms": 1e-3, "µs": 1e-6, "us": 1e-6, "min": 60.0}.get(
                u.group(1) if u else "s", 1.0
            )
            return 1.0 / (float(m.group(1)) * scale)
    for meta in tif.shaped_metadata or ():
        if isinstance(meta, dict) and meta.get("fs"):
            return float(meta["fs"])
    return None


def open_tiff_movie(path: str | Path) -> tuple[Any, dict[str, Any]]:
    """Open a TIFF movie lazily.

    Returns
    -------
    movie : numpy.memmap or TiffPageArray
        ``(T, Y, X)`` or ``(T, Z, Y, X)``.
    info : dict
        ``axes``, ``n_channels``, ``access`` (``memmap`` or ``pages``) and
        ``file_fs`` (frame rate from the file, or ``None``).

    Raises
    ------
    CalmError
        Not a TIFF, corrupt or truncated, or an unsupported axis layout.
    """
    import tifffile

    path = Path(path)
    try:
        with quiet_tifffile():
            tif = tifffile.TiffFile(path)
            series = tif.series[0] if tif.series else None
            if series is not None and len(series.shape) == 2 and len(tif.series) > 1:
                # one tifffile "shaped" series per frame: read all pages as one movie
                tif.close()
                tif = tifffile.TiffFile(path, is_shaped=False)
                series = tif.series[0]
    except Exception as exc:  # tifffile raises many types for corrupt input
        raise CalmError(f"not a readable TIFF file ({type(exc).__name__}: {exc})", path) from None
    try:
        if series is None or series.size == 0:
            raise CalmError("TIFF holds no image data", path)
        shape, axes = tuple(int(s) for s in series.shape), series.axes
        rgb = axes.endswith("S")
        n_spatial = 3 if rgb else 2
        if len(shape) == n_spatial and len(tif.pages) > 1:
            raise CalmError(
                f"corrupt or truncated TIFF: {len(tif.pages)} pages but they do not form a movie", path
            )
        key, order, n_channels = _axis_plan(axes[:-n_spatial], shape[:-n_spatial], path)
        if rgb:
            n_channels = max(n_channels, shape[-1])
        info: dict[str, Any] = {
            "axes": axes,
            "n_channels": n_channels,
            "file_fs": _frame_rate(tif),
        }
        if series.dataoffset is not None:
            spatial = (slice(None), slice(None)) + ((0,) if rgb else ())
            movie = _memmap_series(tif, series, path)[key + spatial]
            movie = movie.transpose(order + [len(order), len(order) + 1])
            info["access"] = "memmap"
            tif.close()
        else:
            page_shape = tuple(int(s) for s in series.keyframe.shape)
            if len(page_shape) != n_spatial:
                raise CalmError(f"has {len(page_shape)}-D pages (axes {axes}); unsupported", path)
            lead = shape[:-n_spatial]
            if int(np.prod(lead)) != len(series.pages):
                raise CalmError(
                    f"series claims {int(np.prod(lead))} pages but the file has "
                    f"{len(series.pages)} (truncated?)",
                    path,
                )
            table = np.arange(len(series.pages)).reshape(lead)[key].transpose(order)
            movie = TiffPageArray(tif, 0, table, page_shape, series.dtype)
            info["access"] = "pages"
            try:
                movie[-1]
            except Exception as exc:  # any failure reading the last page means a bad file
                raise CalmError(
                    "corrupt or truncated TIFF: its last frame cannot be read "
                    f"({type(exc).__name__})",
                    path,
                ) from None
    except CalmError:
        tif.close()
        raise
    except (OSError, ValueError, IndexError) as exc:
        tif.close()
        raise CalmError(f"could not read the TIFF ({type(exc).__name__}: {exc})", path) from None
    return movie, info


def _memmap_series(tif: Any, series: Any, path: Path) -> np.memmap:
    dtype = np.dtype(tif.byteorder + series.dtype.char)
    nbytes = int(np.prod(series.shape, dtype=np.int64)) * dtype.itemsize
    size = path.stat().st_size
    if series.dataoffset + nbytes > size:
        raise CalmError(
            f"truncated TIFF: pixel data need {series.dataoffset + nbytes} bytes, "
            f"the file has {size}",
            path,
        )
    return np.memmap(path, dtype, "r", series.dataoffset, tuple(series.shape), "C")


def find_roi_file(tif_path: Path) -> Path | None:
    """The ImageJ ROI set belonging to a TIFF, by the naming rule in the module docstring."""
    folder, stem = tif_path.parent, tif_path.stem
    for name in (f"{stem}.zip", f"{stem}.roi", f"{stem}_ROIs.zip", f"{stem}_RoiSet.zip", "RoiSet.zip"):
        if (folder / name).is_file():
            return folder / name
    candidates = [p for p in folder.glob("*.zip") if is_imagej_roi_zip(p)] + list(folder.glob("*.roi"))
    return candidates[0] if len(candidates) == 1 else None


def find_tiff_for_rois(roi_path: Path) -> Path:
    """The TIFF an ImageJ ROI set belongs to: same stem, else the only TIFF in its folder."""
    folder = roi_path.parent
    stem = roi_path.stem
    for suffix in TIFF_SUFFIXES:
        for s in (stem, stem.removesuffix("_ROIs"), stem.removesuffix("_RoiSet")):
            if (folder / f"{s}{suffix}").is_file():
                return folder / f"{s}{suffix}"
    tiffs = sorted(
        p for p in folder.iterdir() if p.suffix.lower() in TIFF_SUFFIXES and p.is_file()
    )
    if len(tiffs) == 1:
        return tiffs[0]
    raise CalmError(
        f"no TIFF movie for this ROI set (looked for {stem}.tif and for a single TIFF "
        f"in the folder, found {len(tiffs)})",
        roi_path,
    )


def read_tiff(
    path: str | Path, *, fs: float | None = None, rois: str | Path | None = None
) -> Recording:
    """Read a TIFF movie, with ImageJ ROIs and side files when present.

    Parameters
    ----------
    path : str or Path
        The TIFF file.
    fs : float, optional
        Frame rate in Hz (overrides metadata).
    rois : str or Path, optional
        ImageJ ROI set; by default looked up next to the TIFF.

    Returns
    -------
    Recording
        ``kind='tiff'``; movie-only (``F`` of shape ``(0, T)``) without ROIs.
    """
    path = Path(path)
    movie, info = open_tiff_movie(path)
    n_frames = int(movie.shape[0])
    metadata: dict[str, Any] = {
        "axes": info["axes"],
        "n_channels": info["n_channels"],
        "movie_access": info["access"],
        "movie_dtype": str(movie.dtype),
    }
    roi_path = Path(rois) if rois is not None else find_roi_file(path)
    roiset = None
    F = np.zeros((0, n_frames), np.float32)
    if roi_path is not None:
        if not roi_path.is_file():
            raise CalmError("ROI file not found", roi_path)
        roiset, names, skipped = read_imagej_rois(roi_path, tuple(movie.shape[1:]))
        F = roi_traces(movie, roiset)
        metadata.update(roi_file=str(roi_path), roi_names=names, skipped_rois=skipped)
    side = read_sidecars([path.parent], n_frames)
    fs_value, fs_info = resolve_fs(fs, side.fs, info["file_fs"], path)
    metadata = side.merged_metadata({**metadata, **fs_info})
    return Recording(
        F=F,
        fs=fs_value,
        source=path,
        kind="tiff",
        movie=movie,
        rois=roiset,
        behavior=side.behavior,
        trials=side.trials,
        metadata=metadata,
    )
