"""Run suite2p on a TIFF movie into an output folder, all or nothing.

:func:`run_extraction` validates the movie (:func:`~.settings.probe_movie`)
and the destination, runs ``suite2p.run_s2p`` into a hidden temporary folder
next to the destination (``.<name>.calm-extract-<id>``), and renames it into
place only when every step succeeded. A destination that already holds
results is refused unless ``overwrite`` — then it is swapped out whole, so two
runs are never mixed. On any failure the temporary folder is removed.

The destination is a normal suite2p folder::

    OUT/
      plane0/            F.npy Fneu.npy spks.npy iscell.npy stat.npy ops.npy
                         db.npy settings.npy reg_outputs.npy detect_outputs.npy data.bin
      plane1/ ...        (multi-plane movies; plus combined/)
      db.npy settings.npy
      meta.json          fs (or fs_assumed), tau, indicator, the movie, every setting ("extraction")
      behavior.csv ...   side files copied from the movie's folder when they fit the movie

Movies suite2p cannot convert to int16 without loss (float, 32/64-bit) are
rescaled into a temporary int16 copy; ``F``, ``Fneu`` and ``spks`` are mapped
back to the movie's units afterwards (exact up to int16 rounding).
"""

from __future__ import annotations

import importlib.metadata
import json
import logging
import os
import re
import shutil
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from napari_calm.extraction.settings import (
    ExtractionSettings,
    MovieInfo,
    probe_movie,
    suite2p_config,
)
from src_models.errors import CalmError

#: Names whose presence marks a folder as holding extraction/suite2p results.
RESULT_MARKERS = (
    "plane0", "combined", "suite2p", "F.npy", "stat.npy", "ops.npy", "db.npy", "settings.npy",
    "meta.json",
)
#: Side files copied from the movie's folder into the results (when they fit the movie).
COPIED_SIDE_FILES = ("behavior.csv", "trials.csv", "covariates.json")
#: Dictionary files whose paths are rewritten from the temporary to the final folder.
PATH_FILES = ("db.npy", "ops.npy")
#: Bytes read at a time when rescaling a movie.
CHUNK_BYTES = 64 * 2**20
#: Overall progress span of each step (fractions of the whole run).
SPANS = {
    "validate": (0.0, 0.01),
    "convert": (0.01, 0.06),
    "binary": (0.06, 0.12),
    "planes": (0.12, 0.96),
    "finalise": (0.96, 1.0),
}
#: Span of each suite2p stage within one plane.
PLANE_STAGES = {
    "registration": (0.0, 0.6),
    "detection": (0.6, 0.8),
    "extraction": (0.8, 0.9),
    "deconvolution": (0.9, 0.95),
    "classification": (0.95, 1.0),
}
#: suite2p log lines that open each stage.
_STAGE_MARKERS = {
    "----------- REGISTRATION": "registration",
    "----------- ROI DETECTION": "detection",
    "----------- EXTRACTION": "extraction",
    "----------- SPIKE DECONVOLUTION": "deconvolution",
    "----------- ROI CLASSIFICATION": "classification",
}
_PLANE = re.compile(r">>>>+ PLANE (\d+) <<<<")
_TQDM = re.compile(r"(\d+)/(\d+) \[")


@dataclass(frozen=True)
class Progress:
    """One progress report.

    Attributes
    ----------
    stage : str
        ``validate``, ``convert``, ``binary``, ``registration``, ``detection``,
        ``extraction``, ``deconvolution``, ``classification``, ``finalise``.
    fraction : float
        Overall progress in ``[0, 1]``.
    message : str
        Short human-readable status.
    """

    stage: str
    fraction: float
    message: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dict."""
        return {"stage": self.stage, "fraction": round(float(self.fraction), 4), "message": self.message}


ProgressCallback = Callable[[Progress], None]


@dataclass
class ExtractionResult:
    """What a finished extraction wrote.

    Attributes
    ----------
    out : Path
        The results folder.
    n_rois, n_cells : int
        ROIs detected and ROIs the classifier calls cells (all planes).
    n_frames, n_planes : int
        Frames per plane and planes.
    seconds : float
        Wall time of the whole run.
    summary : dict
        Every setting chosen (see :func:`~.settings.suite2p_config`).
    """

    out: Path
    n_rois: int
    n_cells: int
    n_frames: int
    n_planes: int
    seconds: float
    summary: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dict (``out`` as a string)."""
        d = asdict(self)
        d["out"] = str(self.out)
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ExtractionResult:
        """Inverse of :meth:`to_dict`."""
        return cls(**{**data, "out": Path(data["out"])})


def looks_like_results(folder: Path) -> bool:
    """Whether ``folder`` holds suite2p/extraction output (see :data:`RESULT_MARKERS`)."""
    return any((folder / name).exists() for name in RESULT_MARKERS)


def check_destination(out: Path, movie: Path, overwrite: bool) -> None:
    """Refuse destinations that would mix runs, lose data or swallow the movie.

    Raises
    ------
    CalmError
        ``out`` is a file; the movie lies inside ``out``; ``out`` holds results
        and ``overwrite`` is off; ``out`` holds anything else.
    """
    if out.exists() and not out.is_dir():
        raise CalmError("output exists and is not a folder", out)
    if movie.resolve().is_relative_to(out.resolve()):
        raise CalmError("the movie lies inside the output folder; choose another output folder", out)
    if out.is_dir() and any(out.iterdir()):
        if not looks_like_results(out):
            raise CalmError(
                "output folder is not empty and holds no suite2p results; choose a new or empty folder",
                out,
            )
        if not overwrite:
            raise CalmError("output folder already holds results; pass --overwrite to replace them", out)


def temp_folder(out: Path) -> Path:
    """A fresh hidden folder name next to ``out`` for a run in progress."""
    return out.parent / f".{out.name}.calm-extract-{uuid.uuid4().hex[:8]}"


def _make_parents(folder: Path) -> list[Path]:
    """Create ``folder`` and missing parents; return the ones created (deepest first)."""
    created = [p for p in [folder, *folder.parents] if not p.exists()]
    folder.mkdir(parents=True, exist_ok=True)
    return created


def commit(results: Path, out: Path) -> None:
    """Move the finished ``results`` folder to ``out``, replacing a previous ``out`` whole."""
    old = None
    if out.is_dir():
        if any(out.iterdir()):
            old = out.with_name(f".{out.name}.replaced-{uuid.uuid4().hex[:8]}")
            os.replace(out, old)
        else:
            out.rmdir()
    try:
        os.replace(results, out)
    except OSError:
        if old is not None:
            os.replace(old, out)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


class _Suite2pProgress(logging.Handler):
    """Turns suite2p's log records into :class:`Progress` reports."""

    def __init__(self, n_planes: int, report: ProgressCallback) -> None:
        super().__init__(logging.INFO)
        self.n_planes = max(1, n_planes)
        self.report = report
        self.plane = 0
        self.stage = "binary"

    def _fraction(self, within: float) -> float:
        if self.stage == "binary":
            a, b = SPANS["binary"]
            return a + (b - a) * within
        a, b = SPANS["planes"]
        s0, s1 = PLANE_STAGES[self.stage]
        plane_fraction = (self.plane + s0 + (s1 - s0) * within) / self.n_planes
        return a + (b - a) * plane_fraction

    def emit(self, record: logging.LogRecord) -> None:
        msg = " ".join(record.getMessage().split())
        if not msg:
            return
        within = 0.0
        m = _PLANE.search(msg)
        if m:
            self.plane = min(int(m.group(1)), self.n_planes - 1)
            self.stage = "registration"
            msg = f"plane {self.plane + 1}/{self.n_planes}"
        elif "converting to binary" in msg:
            self.stage = "binary"
            msg = "converting the TIFF to suite2p's binary"
        else:
            for marker, stage in _STAGE_MARKERS.items():
                if msg.startswith(marker):
                    self.stage, msg = stage, stage
                    break
            else:
                t = _TQDM.search(msg)
                if t:
                    done, total = int(t.group(1)), int(t.group(2))
                    within = done / total if total else 0.0
                    msg = f"{self.stage} {done}/{total}"
                elif msg.startswith("-----------"):
                    return
        prefix = f"plane {self.plane + 1}/{self.n_planes}: " if self.n_planes > 1 else ""
        text = msg if msg.startswith("plane ") else prefix + msg
        self.report(Progress(self.stage, self._fraction(within), text[:200]))


def _rescale_to_int16(info: MovieInfo, dst: Path, report: ProgressCallback) -> dict[str, float]:
    """Write the movie's pages as int16 into ``dst``; return ``{"offset", "scale"}``.

    Pixels map to ``(value - offset) * scale`` spanning 0..30000; NaN/Inf become 0.
    """
    import tifffile

    from src_models.readers.lazy import quiet_tifffile

    a, b = SPANS["convert"]
    n = info.n_pages
    Ly, Lx = info.shape
    step = max(1, CHUNK_BYTES // (Ly * Lx * 8))
    lo, hi = np.inf, -np.inf
    with quiet_tifffile(), tifffile.TiffFile(info.path) as tif:

        def chunks() -> Any:
            for i in range(0, n, step):
                data = tif.asarray(key=range(i, min(n, i + step)), series=0, maxworkers=1)
                yield i, np.asarray(data, np.float64).reshape(-1, Ly, Lx)

        for i, data in chunks():
            finite = data[np.isfinite(data)]
            if finite.size:
                lo, hi = min(lo, float(finite.min())), max(hi, float(finite.max()))
            done = 0.5 * (i + len(data)) / n
            report(Progress("convert", a + (b - a) * done, "reading the movie's range"))
        if not np.isfinite(lo) or hi <= lo:
            raise CalmError("movie is constant or holds no finite values", info.path)
        scale = 30000.0 / (hi - lo)

        def pages() -> Any:
            for i, data in chunks():
                scaled = np.nan_to_num((data - lo) * scale, nan=0.0, posinf=30000.0, neginf=0.0)
                done = 0.5 + 0.5 * (i + len(data)) / n
                report(Progress("convert", a + (b - a) * done, "rescaling to int16"))
                yield from np.round(scaled).astype(np.int16)

        bigtiff = n * Ly * Lx * 2 > 2**31
        with tifffile.TiffWriter(dst, bigtiff=bigtiff) as tw:
            tw.write(pages(), shape=(n, Ly, Lx), dtype=np.int16, photometric="minisblack")
    return {"offset": lo, "scale": scale}


def _plane_folders(folder: Path) -> list[Path]:
    planes = [p for p in folder.iterdir() if p.is_dir() and re.fullmatch(r"plane\d+", p.name)]
    return sorted(planes, key=lambda p: int(p.name[5:]))


def _restore_units(plane: Path, intensity: dict[str, float]) -> None:
    """Map ``F``, ``Fneu`` (affine) and ``spks`` (scale) back to the movie's units."""
    offset, scale = intensity["offset"], intensity["scale"]
    for name, shift in (("F.npy", True), ("Fneu.npy", True), ("spks.npy", False)):
        path = plane / name
        if path.is_file():
            arr = np.load(path, allow_pickle=False).astype(np.float64) / scale
            if shift:
                arr += offset
            np.save(path, arr.astype(np.float32))


def _rewrite_paths(folder: Path, out: Path, info: MovieInfo) -> None:
    """Point paths inside ``db.npy``/``ops.npy`` of ``folder`` at ``out`` and the original movie.

    suite2p's convention ``save_path0 / save_folder`` then names ``out`` again.
    """
    from src_models.readers.npy import load_npy_dict

    old, new = str(folder), str(out)
    work, parent = str(folder.parent), str(out.parent)

    def fix(value: Any) -> Any:
        if isinstance(value, str) and (value == old or value.startswith(old + os.sep)):
            return new + value[len(old):]
        if isinstance(value, str) and value == work:  # save_path0 / fast_disk
            return parent
        if isinstance(value, list):
            return [fix(v) for v in value]
        return value

    for path in [folder / n for n in PATH_FILES] + [
        p / n for p in (*_plane_folders(folder), folder / "combined") for n in PATH_FILES
    ]:
        if path.is_file():
            d = {k: fix(v) for k, v in load_npy_dict(path).items()}
            if "data_path" in d:
                d["data_path"], d["file_list"] = [str(info.path.parent)], [info.path.name]
            if "save_folder" in d:
                d["save_folder"] = out.name
            np.save(path, np.array(d, dtype=object), allow_pickle=True)


def _copy_side_files(info: MovieInfo, results: Path) -> list[str]:
    """Copy behaviour/trial side files that fit the movie; return the names copied."""
    from src_models.readers.sidecars import find_sidecars, read_sidecars

    found = {k: v for k, v in find_sidecars([info.path.parent]).items() if k in COPIED_SIDE_FILES}
    if not found:
        return []
    try:
        read_sidecars([info.path.parent], info.n_frames)
    except CalmError:
        return []
    for name, src in found.items():
        shutil.copyfile(src, results / name)
    return sorted(found)


def _count(results: Path) -> tuple[int, int]:
    n_rois = n_cells = 0
    for plane in _plane_folders(results):
        if (plane / "iscell.npy").is_file():
            iscell = np.load(plane / "iscell.npy", allow_pickle=False)
            n_rois += int(iscell.shape[0])
            n_cells += int(np.asarray(iscell[:, 0] > 0.5).sum())
    return n_rois, n_cells


def _set_threads(threads: int | None) -> int | None:
    """Set torch's CPU threads; return the previous count (None when unchanged)."""
    if threads is None:
        return None
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(int(threads))
    return previous


def _run_suite2p(db: dict, s2p: dict, info: MovieInfo, handler: logging.Handler) -> None:
    """``suite2p.run_s2p`` with its log routed to ``handler``; "no ROIs" becomes a CalmError."""
    import suite2p

    log = logging.getLogger("suite2p")
    level, propagate = log.level, log.propagate
    log.setLevel(logging.INFO)
    log.propagate = False
    log.addHandler(handler)
    try:
        suite2p.run_s2p(db=db, settings=s2p)
    except ValueError as exc:
        if "no ROIs" in str(exc):
            raise CalmError(
                "suite2p found no ROIs in the movie (try --diameter, or a longer or brighter movie)",
                info.path,
            ) from None
        raise
    finally:
        log.removeHandler(handler)
        log.setLevel(level)
        log.propagate = propagate


def run_extraction(
    movie: str | Path,
    out: str | Path,
    settings: ExtractionSettings | None = None,
    *,
    overwrite: bool = False,
    workdir: str | Path | None = None,
    progress: ProgressCallback | None = None,
) -> ExtractionResult:
    """Run suite2p on ``movie`` and write the results folder ``out`` (all or nothing).

    Parameters
    ----------
    movie : str or Path
        TIFF stack (``T×Y×X``, or with plane/channel axes).
    out : str or Path
        Results folder (created; must be new, empty, or hold results with ``overwrite``).
    settings : ExtractionSettings, optional
        Frame rate, decay, diameter, planes, device ...; chosen from the movie when omitted.
    overwrite : bool
        Replace an ``out`` that already holds results.
    workdir : str or Path, optional
        The temporary folder to use (must not exist; default: :func:`temp_folder`).
        A supervising process passes it so it can remove it after a kill.
    progress : callable, optional
        Called with :class:`Progress` reports (from this thread).

    Returns
    -------
    ExtractionResult

    Raises
    ------
    CalmError
        Bad movie, bad destination, invalid settings, or no ROIs found. Nothing is
        left behind.
    """
    t0 = time.monotonic()
    settings = settings or ExtractionSettings()
    report = progress or (lambda p: None)
    report(Progress("validate", 0.0, f"checking {Path(movie).name}"))
    info = probe_movie(movie, settings)
    out = Path(out).expanduser().absolute()
    check_destination(out, info.path, overwrite)
    work = Path(workdir).absolute() if workdir is not None else temp_folder(out)
    created = _make_parents(out.parent)
    previous_threads, made = None, False
    try:
        work.mkdir()
        made = True
        previous_threads = _set_threads(settings.threads)
        source, intensity = info.path, None
        if not info.native:
            (work / ".input").mkdir()
            source = work / ".input" / "movie.tif"
            intensity = _rescale_to_int16(info, source, report)
        db, s2p, summary = suite2p_config(info, settings, work, movie=source)
        report(Progress("binary", SPANS["binary"][0], f"suite2p on {summary['device']}"))
        _run_suite2p(db, s2p, info, _Suite2pProgress(info.n_planes, report))
        report(Progress("finalise", SPANS["finalise"][0], "writing results"))
        results = work / "suite2p"
        if intensity is not None:
            for plane in (*_plane_folders(results), results / "combined"):
                _restore_units(plane, intensity)
        _rewrite_paths(results, out, info)
        n_rois, n_cells = _count(results)
        seconds = time.monotonic() - t0
        summary.update(
            movie=str(info.path),
            intensity_rescale=intensity,
            side_files=_copy_side_files(info, results),
            suite2p_version=importlib.metadata.version("suite2p"),
            seconds=round(seconds, 2),
            seconds_per_1000_frames=round(1000.0 * seconds / (info.n_frames * info.n_planes), 2),
            n_rois=n_rois,
            n_cells=n_cells,
        )
        # a guessed frame rate is never written as known: the readers then still say "assumed"
        known = {"fs_assumed": True} if info.fs_source == "default" else {"fs": info.fs}
        meta = {
            **info.meta,
            "movie": str(info.path),
            **known,
            "tau": info.tau,
            "indicator": info.indicator,
            "extraction": summary,
        }
        (results / "meta.json").write_text(json.dumps(meta, indent=2, default=str) + "\n")
        commit(results, out)
        shutil.rmtree(work, ignore_errors=True)
    except BaseException:
        if made:
            shutil.rmtree(work, ignore_errors=True)
        for folder in created:
            if folder.is_dir() and not any(folder.iterdir()):
                folder.rmdir()
        raise
    finally:
        _set_threads(previous_threads)
    report(Progress("finalise", 1.0, f"{n_rois} ROIs ({n_cells} cells) in {seconds:.1f} s"))
    n_frames, n_planes = info.n_frames, info.n_planes
    return ExtractionResult(out, n_rois, n_cells, n_frames, n_planes, round(seconds, 2), summary)
