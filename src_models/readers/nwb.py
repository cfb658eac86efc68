"""NWB files (Neurodata Without Borders) through pynwb, an optional extra (``napari-calm[nwb]``).

Traces
    A ``RoiResponseSeries`` (inside ``Fluorescence`` or ``DfOverF``): the one
    named by ``var=``, else the largest one. Its data are ``(T, N)`` and are
    transposed to ``(N, T)``.
Frame rate
    The series' ``rate``, else the median interval of its ``timestamps``.
ROIs
    The series' plane segmentation rows: ``image_mask`` (weighted masks) or
    ``pixel_mask`` (``x, y, weight`` triples).
Behaviour
    Every other numeric ``TimeSeries`` of ``processing["behavior"]`` (also in
    containers) and ``acquisition``, interpolated onto the frame times
    (``name_<column>`` for 2-D data); image series are not behaviour.
Trials
    The ``trials`` table, its times mapped to frames ``[start_frame, end_frame)``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from src_models.readers.sidecars import resolve_fs
from src_models.errors import CalmError
from src_models.recording import Recording, RoiSet


def _import_pynwb(path: Path) -> Any:
    try:
        import pynwb
    except ImportError:
        raise CalmError("reading NWB files needs pynwb: pip install 'napari-calm[nwb]'", path) from None
    return pynwb


def _frame_times(series: Any, n_frames: int) -> tuple[np.ndarray, float | None]:
    if series.rate:
        start = float(series.starting_time or 0.0)
        return start + np.arange(n_frames) / float(series.rate), float(series.rate)
    ts = np.asarray(series.timestamps[:], np.float64)
    dt = float(np.median(np.diff(ts))) if len(ts) > 1 else 0.0
    return ts, (1.0 / dt if dt > 0 else None)


def _rois(series: Any, n: int) -> RoiSet | None:
    table = series.rois.table
    idx = np.asarray(series.rois.data[:], np.int64)
    if len(idx) != n:
        return None
    cols = table.colnames
    if "image_mask" in cols:
        masks = [np.asarray(table["image_mask"][int(i)]) for i in idx]
        shape = masks[0].shape
        pixels = [np.argwhere(m > 0) for m in masks]
        weights = [m[m > 0].astype(np.float32) for m in masks]
        return RoiSet(shape, pixels, weights, idx)
    if "pixel_mask" in cols:
        pm = [np.asarray([tuple(p) for p in table["pixel_mask"][int(i)]], np.float64) for i in idx]
        pixels = [p[:, [1, 0]].astype(np.int64) for p in pm]
        weights = [p[:, 2].astype(np.float32) for p in pm]
        ymax = max((int(p[:, 0].max()) for p in pixels if len(p)), default=0)
        xmax = max((int(p[:, 1].max()) for p in pixels if len(p)), default=0)
        return RoiSet((ymax + 1, xmax + 1), pixels, weights, idx)
    return None


def _behavior(nwb: Any, pynwb: Any, exclude: set[int], times: np.ndarray) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    sources = list(nwb.acquisition.values())
    if "behavior" in nwb.processing:
        sources += list(nwb.processing["behavior"].data_interfaces.values())
    series = []
    for obj in sources:
        if isinstance(obj, pynwb.TimeSeries):
            series.append(obj)
        elif hasattr(obj, "time_series"):
            series += list(obj.time_series.values())
        elif hasattr(obj, "spatial_series"):
            series += list(obj.spatial_series.values())
    for ts in series:
        if id(ts) in exclude or isinstance(
            ts, (pynwb.image.ImageSeries, pynwb.ophys.RoiResponseSeries)
        ):
            continue
        data = np.asarray(ts.data[:])
        if data.dtype.kind not in "fiub" or data.ndim not in (1, 2) or not len(data):
            continue
        t, _ = _frame_times(ts, len(data))
        cols = data.reshape(len(data), -1).astype(np.float64)
        for j in range(cols.shape[1]):
            name = ts.name if cols.shape[1] == 1 else f"{ts.name}_{j}"
            out[name] = np.interp(times, t, cols[:, j], left=np.nan, right=np.nan)
    return out


def _trials(nwb: Any, times: np.ndarray) -> dict[str, np.ndarray]:
    if nwb.trials is None:
        return {}
    df = nwb.trials.to_dataframe()
    start = np.searchsorted(times, df["start_time"].to_numpy(np.float64), side="left")
    stop = np.searchsorted(times, df["stop_time"].to_numpy(np.float64), side="left")
    keep = stop > start
    out = {"start_frame": start[keep].astype(np.int64), "end_frame": stop[keep].astype(np.int64)}
    for col in df.columns:
        if col in ("start_time", "stop_time"):
            continue
        values = df[col].to_numpy()
        if values.dtype == object:
            if not all(isinstance(v, (str, int, float, np.number)) for v in values):
                continue
            values = values.astype(str)
        out[col] = values[keep]
    return out


def read_nwb(path: str | Path, *, var: str | None = None, fs: float | None = None) -> Recording:
    """Read traces, ROIs, behaviour and trials from an NWB file (needs pynwb).

    Parameters
    ----------
    path : str or Path
        The ``.nwb`` file.
    var : str, optional
        Name of the ``RoiResponseSeries`` to read.
    fs : float, optional
        Frame rate in Hz (overrides the file).

    Returns
    -------
    Recording
        ``kind='nwb'``.
    """
    path = Path(path)
    pynwb = _import_pynwb(path)
    try:
        io = pynwb.NWBHDF5IO(str(path), "r", load_namespaces=True)
    except Exception as exc:  # pynwb/hdmf/h5py raise many types for bad files
        raise CalmError(f"not a readable NWB file ({type(exc).__name__}: {exc})", path) from None
    try:
        try:
            nwb = io.read()
        except Exception as exc:  # as above
            raise CalmError(f"not a readable NWB file ({type(exc).__name__}: {exc})", path) from None
        series = [o for o in nwb.objects.values() if isinstance(o, pynwb.ophys.RoiResponseSeries)]
        if var is not None:
            series = [s for s in series if s.name == var]
            if not series:
                raise CalmError(f"no RoiResponseSeries named {var!r}", path)
        if not series:
            raise CalmError("holds no RoiResponseSeries (Fluorescence / DfOverF)", path)
        chosen = max(series, key=lambda s: int(np.prod(s.data.shape)))
        data = np.asarray(chosen.data[:], np.float32)
        data = data.reshape(len(data), -1).T
        times, file_fs = _frame_times(chosen, data.shape[1])
        fs_value, fs_info = resolve_fs(fs, None, file_fs, path)
        rois = _rois(chosen, data.shape[0])
        metadata: dict[str, Any] = {"series": chosen.name, **fs_info}
        return Recording(
            F=data,
            fs=fs_value,
            source=path,
            kind="nwb",
            rois=rois,
            behavior=_behavior(nwb, pynwb, {id(s) for s in series}, times),
            trials=_trials(nwb, times),
            metadata=metadata,
        )
    finally:
        io.close()
