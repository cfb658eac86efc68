"""suite2p output folders (0.x and 1.x layouts), read with numpy only.

Which folder
    A plane folder (``F.npy`` and/or ``stat.npy``; also ``combined/``), a
    ``suite2p/`` folder with ``plane0, plane1, ...`` (stacked into one
    multi-plane recording), a session folder holding ``suite2p/`` or
    ``plane0/``, or any file inside a plane folder.

Files of a plane folder
    ``F.npy`` (required), ``Fneu.npy``, ``spks.npy``, ``iscell.npy``,
    ``stat.npy`` (ROI masks weighted by ``lam``, ``overlap`` pixels left out
    as in suite2p), the options (``ops.npy``, or 1.x's ``settings.npy`` +
    ``db.npy`` + ``*_outputs.npy``) and the registered movie ``data.bin``
    (memory-mapped). Pickles go through the restricted unpickler of
    :mod:`.npy`. Without ``data.bin``, a single plane uses the movie TIFF that
    ``meta.json`` names or a ``movie.tif`` nearby (``calm simulate``'s layout).

Options used
    Neuropil coefficient (1.x ``extraction.neuropil_coefficient``, 0.x
    ``neucoeff``, else 0.7), ``fs`` (else :mod:`.sidecars`), ``Ly``/``Lx``
    (else the mean image or the ROIs' extent) and the summary images
    (``metadata["images"]``, cropped maps pasted into the field of view).
    With ``only_cells`` only ROIs with ``iscell[:, 0] == 1`` are kept. Planes
    stack into a ``(Z, Y, X)`` field of view, cut to the shortest plane.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from src_models.readers.lazy import PlaneStack
from src_models.readers.npy import load_npy, load_npy_dict
from src_models.readers.sidecars import read_sidecars, resolve_fs
from src_models.validation import MAX_SIDE, finite_array, number
from src_models.errors import CalmError
from src_models.recording import Recording, RoiSet

DEFAULT_NEUROPIL_COEFFICIENT = 0.7
OPTION_FILES = ("ops.npy", "db.npy", "settings.npy", "reg_outputs.npy", "detect_outputs.npy")
IMAGE_KEYS = {
    "meanImg": "mean",
    "meanImgE": "mean_enhanced",
    "max_proj": "max_proj",
    "Vcorr": "correlation",
}
#: Scalar per-ROI statistics of stat.npy copied into metadata["roi_features"].
STAT_FEATURES = ("npix", "compact", "skew", "std", "radius", "aspect_ratio", "snr", "iplane")


def _is_plane(folder: Path) -> bool:
    return (folder / "F.npy").is_file() or (folder / "stat.npy").is_file()


def _natural_key(p: Path) -> tuple[int, str]:
    m = re.search(r"(\d+)$", p.name)
    return (int(m.group(1)) if m else -1, p.name)


def find_plane_folders(path: Path) -> list[Path] | None:
    """The plane folders a path stands for, or ``None`` when it is not suite2p output."""
    if path.is_file():
        path = path.parent
    if not path.is_dir():
        return None
    if _is_plane(path):
        return [path]
    planes = sorted(
        (p for p in path.glob("plane*") if p.is_dir() and _is_plane(p)), key=_natural_key
    )
    if planes:
        return planes
    if _is_plane(path / "combined"):
        return [path / "combined"]
    if (path / "suite2p").is_dir():
        return find_plane_folders(path / "suite2p")
    return None


def _side_folders(planes: list[Path]) -> list[Path]:
    """Where side files (behavior.csv, trials.csv, meta.json) may be: plane, suite2p, session."""
    folders = [planes[0]] if len(planes) == 1 else []
    parent = planes[0].parent
    folders.append(parent)
    if parent.name == "suite2p":
        folders.append(parent.parent)
    return folders


@dataclass
class _Plane:
    folder: Path
    F: np.ndarray
    Fneu: np.ndarray | None = None
    spks: np.ndarray | None = None
    iscell: np.ndarray | None = None
    iscell_prob: np.ndarray | None = None
    stat: list[dict] | None = None
    ops: dict[str, Any] = field(default_factory=dict)
    fov: tuple[int, int] | None = None
    movie: Any = None
    images: dict[str, np.ndarray] = field(default_factory=dict)


def _numeric_2d(path: Path, n_rows: int | None = None) -> np.ndarray:
    arr = load_npy(path)
    if arr.ndim != 2 or arr.dtype.kind not in "fiub":
        raise CalmError(f"expected a 2-D numeric array, found shape {arr.shape} {arr.dtype}", path)
    if n_rows is not None and arr.shape[0] != n_rows:
        raise CalmError(f"has {arr.shape[0]} rows but F.npy has {n_rows}", path)
    finite_array(arr, "traces", path)
    return arr


def _read_options(folder: Path) -> dict[str, Any]:
    ops: dict[str, Any] = {}
    for name in OPTION_FILES:
        if (folder / name).is_file():
            ops.update(load_npy_dict(folder / name))
    return ops


def _read_stat(folder: Path, n_rois: int) -> list[dict] | None:
    path = folder / "stat.npy"
    if not path.is_file():
        return None
    stat = load_npy(path, allow_objects=True)
    stat = list(stat) if isinstance(stat, (np.ndarray, list, tuple)) else None
    if stat is None or not all(isinstance(s, dict) and "ypix" in s and "xpix" in s for s in stat):
        raise CalmError("stat.npy must hold one dict with 'ypix' and 'xpix' per ROI", path)
    for i, s in enumerate(stat):
        for key in ("ypix", "xpix"):
            pix = np.asarray(s[key])
            if pix.size and (pix.dtype.kind not in "iu" or pix.max() >= MAX_SIDE):
                raise CalmError(f"ROI {i}: {key} must hold pixel indices below {MAX_SIDE}", path)
    if len(stat) != n_rois:
        raise CalmError(f"F.npy has {n_rois} rows but stat.npy has {len(stat)} ROIs", folder)
    return stat


def _paste(img: Any, fov: tuple[int, int], ops: dict[str, Any]) -> np.ndarray | None:
    img = np.asarray(img)
    if img.ndim != 2 or img.dtype.kind not in "biuf":   # an optional image: ignore what is not one
        return None
    img = img.astype(np.float32)
    if img.shape == fov:
        return img
    try:
        y0, y1 = (int(v) for v in ops["yrange"][:2])
        x0, x1 = (int(v) for v in ops["xrange"][:2])
    except (KeyError, TypeError, ValueError):
        return None
    if img.shape != (y1 - y0, x1 - x0) or min(y0, x0) < 0 or y1 > fov[0] or x1 > fov[1]:
        return None
    full = np.zeros(fov, np.float32)
    full[y0:y1, x0:x1] = img
    return full


def _data_bin(folder: Path, fov: tuple[int, int] | None, n_frames: int) -> np.memmap | None:
    path = folder / "data.bin"
    if not path.is_file():
        return None
    if fov is None:
        raise CalmError("data.bin present but the frame size (Ly, Lx) is unknown (no ops)", path)
    frame_bytes = fov[0] * fov[1] * 2
    size = path.stat().st_size
    if size % frame_bytes:
        raise CalmError(
            f"truncated data.bin: {size} bytes is not a whole number of "
            f"{fov[0]}x{fov[1]} int16 frames",
            path,
        )
    n = size // frame_bytes
    if n != n_frames:
        raise CalmError(f"data.bin holds {n} frames but F.npy has {n_frames}", path)
    return np.memmap(path, np.int16, "r", shape=(n, fov[0], fov[1]))


def _read_plane(folder: Path) -> _Plane:
    if not (folder / "F.npy").is_file():
        raise CalmError("suite2p folder without F.npy (traces); was extraction run?", folder)
    F = _numeric_2d(folder / "F.npy")
    n = F.shape[0]
    plane = _Plane(folder=folder, F=F)
    if (folder / "Fneu.npy").is_file():
        plane.Fneu = _numeric_2d(folder / "Fneu.npy", n)
        if plane.Fneu.shape != F.shape:
            raise CalmError(
                f"Fneu.npy shape {plane.Fneu.shape} differs from F.npy {F.shape}", folder
            )
    if (folder / "spks.npy").is_file():
        plane.spks = _numeric_2d(folder / "spks.npy", n)
    if (folder / "iscell.npy").is_file():
        isc = load_npy(folder / "iscell.npy")
        isc = isc.reshape(-1, 1) if isc.ndim == 1 else isc
        if isc.ndim != 2 or isc.shape[0] != n or isc.shape[1] == 0 or isc.dtype.kind not in "fiub":
            raise CalmError(
                f"iscell.npy has shape {isc.shape} for {n} ROIs in F.npy", folder / "iscell.npy"
            )
        plane.iscell = np.asarray(isc[:, 0]) > 0.5
        plane.iscell_prob = np.asarray(isc[:, 1], np.float32) if isc.shape[1] > 1 else None
    plane.stat = _read_stat(folder, n)
    plane.ops = _read_options(folder)
    ops = plane.ops
    if "Ly" in ops and "Lx" in ops:
        plane.fov = tuple(int(number(ops[k], k, folder / "ops.npy", integer=True, positive=True,
                                     maximum=MAX_SIDE)) for k in ("Ly", "Lx"))
    elif np.ndim(ops.get("meanImg")) == 2:
        plane.fov = tuple(int(s) for s in np.shape(ops["meanImg"]))
    elif plane.stat:
        ys = [int(np.max(s["ypix"])) for s in plane.stat if len(s["ypix"])]
        xs = [int(np.max(s["xpix"])) for s in plane.stat if len(s["xpix"])]
        plane.fov = (max(ys, default=0) + 1, max(xs, default=0) + 1)
    if plane.fov is not None:
        for key, name in IMAGE_KEYS.items():
            if key in ops:
                img = _paste(ops[key], plane.fov, ops)
                if img is not None:
                    plane.images[name] = img
    plane.movie = _data_bin(folder, plane.fov, F.shape[1])
    return plane


def _session_movie(
    folders: list[Path], meta: dict[str, Any], fov: tuple[int, int] | None, n_frames: int
) -> tuple[Any, dict[str, Any]] | None:
    """A session's movie TIFF: ``meta.json``'s ``movie`` entry, else ``movie.tif``."""
    from src_models.readers.tiff import open_tiff_movie

    names = [meta["movie"]] if isinstance(meta.get("movie"), str) else []
    names.append("movie.tif")
    path = next((f / n for n in names for f in folders if (f / n).is_file()), None)
    if path is None:
        return None
    movie, info = open_tiff_movie(path)
    if movie.shape[0] != n_frames or (fov is not None and tuple(movie.shape[-2:]) != fov):
        raise CalmError(
            f"movie {tuple(movie.shape)} does not match the traces ({n_frames} frames) "
            f"and field of view {fov}",
            path,
        )
    return movie, info


def _layout(plane: _Plane) -> str:
    """``1.x`` (settings/db files or nested options), ``0.x`` (flat ops.npy) or ``none``."""
    if (plane.folder / "settings.npy").is_file() or isinstance(plane.ops.get("extraction"), dict):
        return "1.x"
    return "0.x" if plane.ops else "none"


def _roi_pixels(s: dict, fov: tuple[int, int], z: int | None) -> tuple[np.ndarray, np.ndarray]:
    y, x = np.asarray(s["ypix"], np.int64).ravel(), np.asarray(s["xpix"], np.int64).ravel()
    lam = np.asarray(s.get("lam", np.ones(len(y))), np.float32).ravel()
    if len(lam) != len(y):
        lam = np.ones(len(y), np.float32)
    keep = (y >= 0) & (y < fov[0]) & (x >= 0) & (x < fov[1])
    overlap = np.asarray(s.get("overlap", np.zeros(len(y), bool)), bool).ravel()
    if len(overlap) == len(y) and (keep & ~overlap).any():
        keep &= ~overlap
    cols = [y[keep], x[keep]] if z is None else [np.full(int(keep.sum()), z), y[keep], x[keep]]
    return np.column_stack(cols).astype(np.int64), lam[keep]


def _stat_features(stats: list[dict]) -> dict[str, np.ndarray]:
    out = {}
    for key in STAT_FEATURES:
        vals = [s.get(key) for s in stats]
        if all(np.ndim(v) == 0 and isinstance(v, (int, float, np.number)) for v in vals):
            out[key] = np.asarray(vals, np.float64)
    return out


def read_suite2p(
    path: str | Path, *, only_cells: bool = True, fs: float | None = None
) -> Recording:
    """Read a suite2p output folder.

    Parameters
    ----------
    path : str or Path
        Plane folder, ``suite2p/`` folder, session folder, or a file inside a plane folder.
    only_cells : bool
        Keep only ROIs classified as cells (``iscell.npy``).
    fs : float, optional
        Frame rate in Hz (overrides the options and ``meta.json``).

    Returns
    -------
    Recording
        ``kind='suite2p'``.
    """
    path = Path(path)
    planes_dirs = find_plane_folders(path)
    if not planes_dirs:
        raise CalmError(
            "not a suite2p output folder (no F.npy/stat.npy, no plane*/ folders)", path
        )
    planes = [_read_plane(d) for d in planes_dirs]
    multi = len(planes) > 1
    lengths = [p.F.shape[1] for p in planes]
    n_frames = min(lengths)
    ops0 = planes[0].ops

    def cat(name: str) -> np.ndarray | None:
        parts = [getattr(p, name) for p in planes]
        if any(v is None for v in parts):
            return None
        return np.concatenate(
            [np.asarray(v[:, :n_frames]) if v.ndim == 2 else np.asarray(v) for v in parts]
        )

    F, Fneu, spks = cat("F"), cat("Fneu"), cat("spks")
    n_total = F.shape[0]
    iscell = cat("iscell")
    iscell_prob = cat("iscell_prob")
    plane_of_roi = np.concatenate([np.full(p.F.shape[0], k) for k, p in enumerate(planes)])

    rois = None
    features: dict[str, np.ndarray] = {}
    if all(p.stat is not None and p.fov is not None for p in planes):
        fov = tuple(max(p.fov[i] for p in planes) for i in range(2))
        pixels, weights = [], []
        for k, p in enumerate(planes):
            for s in p.stat:
                px, w = _roi_pixels(s, fov, k if multi else None)
                pixels.append(px)
                weights.append(w)
        shape = (len(planes), *fov) if multi else fov
        rois = RoiSet(shape, pixels, weights, np.arange(n_total))
        features.update(_stat_features([s for p in planes for s in p.stat]))
    if multi:
        features["plane"] = plane_of_roi.astype(np.float64)
    if iscell_prob is not None:
        features["iscell_prob"] = iscell_prob.astype(np.float64)

    movie = None
    movies = [p.movie for p in planes]
    if all(m is not None for m in movies):
        if not multi:
            movie = movies[0]
        elif len({m.shape[1:] for m in movies}) == 1:
            movie = PlaneStack([m[:n_frames] for m in movies])
    images: dict[str, np.ndarray] = {}
    for name in IMAGE_KEYS.values():
        imgs = [p.images.get(name) for p in planes]
        if all(i is not None for i in imgs) and len({i.shape for i in imgs}) == 1:
            images[name] = imgs[0] if not multi else np.stack(imgs)

    keep = np.ones(n_total, bool)
    if only_cells and iscell is not None:
        keep = iscell.astype(bool)
        if not keep.any():
            raise CalmError(
                f"none of the {n_total} ROIs is classified as a cell (iscell.npy); "
                "read all ROIs with --all-rois (only_cells=False)",
                path,
            )
    idx = np.flatnonzero(keep)

    ext = ops0.get("extraction")
    coef = ext.get("neuropil_coefficient") if isinstance(ext, dict) else None
    coef = ops0.get("neucoeff") if coef is None else coef
    if coef is not None:
        coef = number(coef, "neuropil coefficient", planes_dirs[0], minimum=0.0)
    metadata: dict[str, Any] = {
        "planes": [str(p.folder) for p in planes],
        "n_rois_total": int(n_total),
        "roi_index": idx,
        "neuropil_coefficient_assumed": coef is None,
        "suite2p_layout": _layout(planes[0]),
        "images": images,
        "roi_features": {k: v[idx] for k, v in features.items()},
    }
    if len(set(lengths)) > 1:
        metadata["frames_per_plane"] = lengths
    if spks is not None:
        metadata["spks"] = np.asarray(spks[idx], np.float32)
    if movie is not None:
        metadata.update(movie_access="memmap", movie_dtype="int16")

    side_folders = _side_folders(planes_dirs)
    side = read_sidecars(side_folders, n_frames)
    if movie is None and not multi:
        found = _session_movie(side_folders, side.meta, planes[0].fov, n_frames)
        if found is not None:
            movie, info = found
            metadata.update(movie_access=info["access"], movie_dtype=str(movie.dtype))
    # ops.npy of an extraction that guessed the rate holds the guess; meta.json says so
    file_fs = None if side.meta.get("fs_assumed") else ops0.get("fs")
    fs_value, fs_info = resolve_fs(fs, side.fs, file_fs, planes_dirs[0])
    metadata = side.merged_metadata({**metadata, **fs_info})
    source = path if path.is_dir() else path.parent
    return Recording(
        F=np.asarray(F[idx], np.float32),
        fs=fs_value,
        source=source,
        kind="suite2p",
        Fneu=None if Fneu is None else np.asarray(Fneu[idx], np.float32),
        neuropil_coefficient=float(DEFAULT_NEUROPIL_COEFFICIENT if coef is None else coef),
        iscell=None if iscell is None else iscell[idx].astype(bool),
        movie=movie,
        rois=None if rois is None else rois.subset(idx),
        behavior=side.behavior,
        trials=side.trials,
        metadata=metadata,
    )
