"""Files that travel next to a recording: frame rate, behaviour and trial table.

Every reader looks for these in the recording's folder (for a suite2p plane
folder also in the session folder above it):

``meta.json``
    A JSON object; ``fs`` (Hz) sets the frame rate, everything else goes to
    ``Recording.metadata``.
``behavior.csv``
    A header of variable names, then one row per frame of numbers (an empty
    cell is NaN).
``trials.csv``
    ``start_frame,end_frame`` (frames ``[start_frame, end_frame)``, 0-based)
    plus label columns (``cue``, ``choice``, ...: integer, float or text).
``covariates.json``
    thunder's list of ``{"name", "value", "unit"}`` (or ``{name: values}``);
    numeric lists with one value per frame become behaviour variables.

Frame rate
    Resolved in this order: the ``fs`` argument, ``meta.json``, the file's own
    metadata, else :data:`DEFAULT_FS` with ``metadata["fs_assumed"] = True``.
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from src_models.errors import CalmError
from src_models.validation import MAX_FS, frame_numbers, number

#: Frame rate (Hz) used when neither the user nor the file gives one (suite2p's default).
DEFAULT_FS = 10.0

SIDECAR_NAMES = ("meta.json", "behavior.csv", "trials.csv", "covariates.json")


@dataclass
class Sidecars:
    """What the side files next to a recording held."""

    behavior: dict[str, np.ndarray] = field(default_factory=dict)
    trials: dict[str, np.ndarray] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)
    units: dict[str, str] = field(default_factory=dict)
    files: list[Path] = field(default_factory=list)

    def merged_metadata(self, reader_metadata: dict[str, Any]) -> dict[str, Any]:
        """``meta.json`` entries (except ``fs``) overlaid by the reader's own entries.

        Adds ``side_files`` (paths read) and ``behavior_units`` (when known).
        """
        out = {k: v for k, v in self.meta.items() if k != "fs"}
        out.update(reader_metadata)
        out["side_files"] = [str(p) for p in self.files]
        if self.units:
            out["behavior_units"] = dict(self.units)
        return out

    @property
    def fs(self) -> float | None:
        """Frame rate from ``meta.json`` (``None`` when absent)."""
        value = self.meta.get("fs")
        return None if value is None else float(value)


def resolve_fs(
    explicit: float | None, meta_fs: float | None, file_fs: float | None, path: Path
) -> tuple[float, dict[str, Any]]:
    """Pick the frame rate and say where it came from.

    Returns
    -------
    fs : float
        The frame rate.
    info : dict
        ``fs_source`` (``argument``, ``meta.json``, ``file`` or ``default``) and
        ``fs_assumed`` (True only for the default).
    """
    for value, source in ((explicit, "argument"), (meta_fs, "meta.json"), (file_fs, "file")):
        if value is None:
            continue
        fs = number(value, f"frame rate from {source}", path, positive=True, maximum=MAX_FS)
        return fs, {"fs_source": source, "fs_assumed": False}
    return DEFAULT_FS, {"fs_source": "default", "fs_assumed": True}


def find_sidecars(folders: list[Path]) -> dict[str, Path]:
    """The first folder (in order) holding each side file."""
    found: dict[str, Path] = {}
    for name in SIDECAR_NAMES:
        for folder in folders:
            if (folder / name).is_file():
                found[name] = folder / name
                break
    return found


def read_sidecars(folders: list[Path], n_frames: int) -> Sidecars:
    """Read every side file found in ``folders`` (earlier folders win).

    Parameters
    ----------
    folders : list of Path
        Where to look, most specific first.
    n_frames : int
        Frames of the recording; behaviour and trials are checked against it.
    """
    out = Sidecars()
    found = find_sidecars(folders)
    if "meta.json" in found:
        out.meta = read_meta_json(found["meta.json"])
    if "covariates.json" in found:
        cov, units = read_covariates_json(found["covariates.json"], n_frames)
        out.behavior.update(cov)
        out.units.update(units)
    if "behavior.csv" in found:
        out.behavior.update(read_behavior_csv(found["behavior.csv"], n_frames))
    if "trials.csv" in found:
        out.trials = read_trials_csv(found["trials.csv"], n_frames)
    out.files = list(found.values())
    return out


def read_meta_json(path: Path) -> dict[str, Any]:
    """``meta.json`` as a dict (must be a JSON object)."""
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CalmError(f"not valid JSON ({exc})", path) from None
    if not isinstance(meta, dict):
        raise CalmError('must hold a JSON object such as {"fs": 30.0}', path)
    if meta.get("fs") is not None:
        meta["fs"] = number(meta["fs"], "fs", path, positive=True, maximum=MAX_FS)
    return meta


def _read_csv(path: Path) -> tuple[list[str], list[list[str]]]:
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            rows = [r for r in csv.reader(f) if r and any(c.strip() for c in r)]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise CalmError(f"could not read CSV ({exc})", path) from None
    if not rows:
        raise CalmError("empty CSV file (a header row is required)", path)
    header = [h.strip() for h in rows[0]]
    if len(set(header)) != len(header) or not all(header):
        raise CalmError(f"header needs unique, non-empty column names, got {header}", path)
    body = rows[1:]
    for i, r in enumerate(body, start=2):
        if len(r) != len(header):
            raise CalmError(f"line {i} has {len(r)} fields, the header has {len(header)}", path)
    return header, body


def _to_float(cell: str) -> float:
    cell = cell.strip()
    return math.nan if cell == "" or cell.lower() == "nan" else float(cell)


def read_behavior_csv(path: Path, n_frames: int) -> dict[str, np.ndarray]:
    """Behaviour variables from ``behavior.csv`` (one row per frame)."""
    header, body = _read_csv(path)
    if len(body) != n_frames:
        raise CalmError(f"has {len(body)} rows for a recording of {n_frames} frames", path)
    out = {}
    for j, name in enumerate(header):
        try:
            out[name] = np.array([_to_float(r[j]) for r in body], np.float64)
        except ValueError:
            raise CalmError(f"column {name!r} holds a value that is not a number", path) from None
    return out


def _label_column(cells: list[str]) -> np.ndarray:
    stripped = [c.strip() for c in cells]
    try:
        return np.array([int(c) for c in stripped], np.int64)
    except (ValueError, OverflowError):
        pass
    try:
        return np.array([_to_float(c) for c in stripped], np.float64)
    except ValueError:
        return np.array(stripped, dtype=str)


def read_trials_csv(path: Path, n_frames: int) -> dict[str, np.ndarray]:
    """Trial table from ``trials.csv`` (frames ``[start_frame, end_frame)``)."""
    header, body = _read_csv(path)
    if not {"start_frame", "end_frame"} <= set(header):
        raise CalmError(f"needs start_frame and end_frame columns, found {header}", path)
    out = {name: _label_column([r[j] for r in body]) for j, name in enumerate(header)}
    for name in ("start_frame", "end_frame"):
        out[name] = frame_numbers(out[name] if len(body) else np.zeros(0, np.int64), f"column {name}", path)
    check_trials(out, n_frames, path)
    return out


def check_trials(trials: dict[str, np.ndarray], n_frames: int, path: Path) -> None:
    """Raise when trial bounds are not ``0 <= start < end <= n_frames``."""
    s, e = np.asarray(trials["start_frame"]), np.asarray(trials["end_frame"])
    bad = np.flatnonzero((s < 0) | (e <= s) | (e > n_frames))
    if len(bad):
        i = int(bad[0])
        raise CalmError(
            f"trial {i} spans frames [{s[i]}, {e[i]}), outside 0..{n_frames} or empty "
            f"({len(bad)} such trials)",
            path,
        )


def read_covariates_json(
    path: Path, n_frames: int
) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Per-frame numeric variables from a thunder ``covariates.json``.

    Returns
    -------
    behavior : dict
        Name to float array of length ``n_frames``.
    units : dict
        Name to unit, where given.
    """
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CalmError(f"not valid JSON ({exc})", path) from None
    if isinstance(data, dict):
        items = [{"name": k, "value": v} for k, v in data.items()]
    elif isinstance(data, list) and all(isinstance(d, dict) for d in data):
        items = data
    else:
        raise CalmError("expected a list of {name, value} objects or a {name: values} object", path)
    behavior, units = {}, {}
    for item in items:
        name, value = item.get("name"), item.get("value")
        if not isinstance(name, str) or not isinstance(value, list):
            continue
        try:
            arr = np.array([math.nan if v is None else float(v) for v in value], np.float64)
        except (TypeError, ValueError):
            continue
        if len(arr) != n_frames:
            raise CalmError(f"variable {name!r} has {len(arr)} values for {n_frames} frames", path)
        behavior[name] = arr
        if isinstance(item.get("unit"), str):
            units[name] = item["unit"]
    return behavior, units
