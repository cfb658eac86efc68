"""Traces from any pipeline: the CalM traces folder, one ``.npz``, or a bare ``.npy``.

CalM traces folder
    ``traces.npy`` — ``(N, T)`` float, one row per neuron; ``meta.json`` —
    ``{"fs": <Hz>, ...}``; optional ``behavior.csv`` and ``trials.csv`` (see
    :mod:`.sidecars`).
Single ``.npz``
    ``traces`` (or ``F``) ``(N, T)``, ``fs``, ``behavior_<name>`` ``(T,)`` and
    ``trials_<column>`` (with ``trials_start_frame``/``trials_end_frame``),
    read with ``allow_pickle=False`` (text as numpy string arrays). Its own
    behaviour and trials win over the side files next to it.
Bare ``.npy``
    A 2-D numeric array read like ``traces.npy``, with the side files of its folder.

All of these are ``kind='traces'``.
"""

from __future__ import annotations

import zipfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from src_models.readers.npy import load_npy
from src_models.readers.sidecars import check_trials, read_sidecars, resolve_fs
from src_models.errors import CalmError
from src_models.validation import frame_numbers
from src_models.recording import Recording


def _check_traces(arr: Any, path: Path, what: str) -> np.ndarray:
    arr = np.asarray(arr)
    if arr.ndim != 2 or arr.dtype.kind not in "fiu":
        raise CalmError(
            f"{what} must be a 2-D numeric (neurons x frames) array, got {arr.shape} {arr.dtype}",
            path,
        )
    return np.asarray(arr, np.float32)


def _build(
    traces: np.ndarray,
    path: Path,
    side_folder: Path,
    fs: float | None,
    file_fs: float | None = None,
    behavior: dict[str, np.ndarray] | None = None,
    trials: dict[str, np.ndarray] | None = None,
) -> Recording:
    side = read_sidecars([side_folder], traces.shape[1])
    fs_value, fs_info = resolve_fs(fs, side.fs, file_fs, path)
    return Recording(
        F=traces,
        fs=fs_value,
        source=path,
        kind="traces",
        behavior={**side.behavior, **(behavior or {})},
        trials=trials or side.trials,
        metadata=side.merged_metadata(fs_info),
    )


def read_traces_folder(path: str | Path, *, fs: float | None = None) -> Recording:
    """Read a CalM traces folder (``traces.npy`` + ``meta.json`` + optional CSVs)."""
    path = Path(path)
    folder = path if path.is_dir() else path.parent
    traces = _check_traces(load_npy(folder / "traces.npy"), folder / "traces.npy", "traces.npy")
    return _build(traces, folder, folder, fs)


def read_npy_traces(path: str | Path, *, fs: float | None = None) -> Recording:
    """Read a bare ``(N, T)`` ``.npy`` with the side files of its folder."""
    path = Path(path)
    return _build(_check_traces(load_npy(path), path, "the array"), path, path.parent, fs)


def read_npz(path: str | Path, *, fs: float | None = None) -> Recording:
    """Read the CalM ``.npz`` layout (see the module docstring)."""
    path = Path(path)
    try:
        archive = np.load(path, allow_pickle=False)
        if not isinstance(archive, np.lib.npyio.NpzFile):
            raise CalmError("not an .npz archive (a single array?)", path)
        with archive as z:
            data = {k: z[k] for k in z.files}
    except ValueError as exc:
        if "allow_pickle" in str(exc) or "Object arrays" in str(exc):
            raise CalmError(
                "holds pickled Python objects, which are refused; "
                "store text as numpy string arrays",
                path,
            ) from None
        raise CalmError(f"not a readable .npz ({exc})", path) from None
    except (OSError, EOFError, KeyError, zipfile.BadZipFile, zlib.error) as exc:
        raise CalmError(f"corrupt or truncated .npz ({type(exc).__name__}: {exc})", path) from None
    key = "traces" if "traces" in data else "F" if "F" in data else None
    if key is None:
        raise CalmError(f"no 'traces' array (found {sorted(data)})", path)
    traces = _check_traces(data[key], path, f"'{key}'")
    file_fs = None
    if "fs" in data:
        if np.size(data["fs"]) != 1 or data["fs"].dtype.kind not in "fiu":
            raise CalmError(f"'fs' must be one number, got {data['fs']!r}", path)
        file_fs = float(np.asarray(data["fs"]).ravel()[0])
    behavior = {}
    for k, v in data.items():
        if k.startswith("behavior_"):
            v = np.asarray(v).ravel() if np.ndim(v) == 2 and 1 in np.shape(v) else np.asarray(v)
            if v.ndim != 1 or v.dtype.kind not in "fiub":
                raise CalmError(f"{k!r} must be a 1-D numeric array, got {v.shape} {v.dtype}", path)
            behavior[k.removeprefix("behavior_")] = v.astype(np.float64)
    trials = {
        k.removeprefix("trials_"): np.asarray(v).ravel() for k, v in data.items() if k.startswith("trials_")
    }
    if trials:
        if not {"start_frame", "end_frame"} <= set(trials):
            raise CalmError("trial columns need trials_start_frame and trials_end_frame", path)
        for col in ("start_frame", "end_frame"):
            trials[col] = frame_numbers(trials[col], f"trials_{col}", path)
        lengths = {len(v) for v in trials.values()}
        if len(lengths) != 1:
            raise CalmError(
                f"trial columns differ in length: { {k: len(v) for k, v in trials.items()} }", path
            )
        check_trials(trials, traces.shape[1], path)
    return _build(traces, path, path.parent, fs, file_fs, behavior, trials or None)
