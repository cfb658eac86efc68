"""Write simulated sessions to disk in the suite2p layout the readers open.

One session::

    OUT/
      suite2p/plane0/F.npy        (N, T) float32 raw fluorescence
      suite2p/plane0/Fneu.npy     (N, T) float32 neuropil (zeros for ``poco``)
      suite2p/plane0/spks.npy     (N, T) float32 true spike counts (zeros for ``poco``)
      suite2p/plane0/iscell.npy   (N, 2) float32 [is cell, probability]
      suite2p/plane0/stat.npy     per-ROI dicts: ypix, xpix, lam, med, npix, overlap, radius
      suite2p/plane0/ops.npy      dict: fs, Ly, Lx, nframes, neucoeff, meanImg, tau, ...
      suite2p/plane0/data.bin     T×Ly×Lx int16 movie (when simulated)
      behavior.csv                header of variable names, one row per frame
      trials.csv                  start_frame, end_frame (exclusive), label columns
      ground_truth.npz            every ground-truth array (no pickles)
      meta.json                   {"fs", "indicator", "preset", "seed", ...}
      movie.tif                   the same movie as a uint16 ImageJ stack (for ``calm extract``)

Several sessions go to ``OUT/session_000/``, ... Everything is written into a
temporary sibling folder and renamed into place, so ``OUT`` is complete or absent.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from src_models.errors import CalmError
from src_models.simulation.session import SimulatedSession

#: layout version recorded in meta.json
FORMAT = "napari-calm-simulation/1"


def _stat(session: SimulatedSession) -> np.ndarray:
    rois = session.recording.rois
    Ly, Lx = rois.shape[-2:]
    count = np.zeros((Ly, Lx), np.int32)
    for px in rois.pixels:
        count[px[:, 0], px[:, 1]] += 1
    out = np.empty(len(rois), dtype=object)
    for i, (px, w) in enumerate(zip(rois.pixels, rois.weights)):
        ypix, xpix = px[:, 0].astype(np.int32), px[:, 1].astype(np.int32)
        out[i] = {
            "ypix": ypix,
            "xpix": xpix,
            "lam": np.asarray(w, np.float32),
            "med": [int(np.median(ypix)), int(np.median(xpix))],
            "npix": len(ypix),
            "overlap": count[ypix, xpix] > 1,
            "radius": float(np.sqrt(len(ypix) / np.pi)),
        }
    return out


def _write_csv(path: Path, columns: dict[str, np.ndarray]) -> None:
    names = list(columns)
    cols = []
    for n in names:
        v = np.asarray(columns[n])
        cols.append(np.char.mod("%.7g", v).tolist() if v.dtype.kind == "f" else v.tolist())
    rows = zip(*cols)
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(names)
        w.writerows(rows)


def _meta(session: SimulatedSession) -> dict:
    rec = session.recording
    meta = dict(rec.metadata)
    meta.update(
        format=FORMAT,
        fs=float(rec.fs),
        n_neurons=rec.n_neurons,
        n_frames=rec.n_frames,
        neuropil_coefficient=float(rec.neuropil_coefficient),
        movie="movie.tif" if rec.movie is not None else None,
    )
    return meta


def _write_into(session: SimulatedSession, folder: Path) -> None:
    rec = session.recording
    truth = session.ground_truth
    plane = folder / "suite2p" / "plane0"
    plane.mkdir(parents=True)
    n, T = rec.F.shape
    np.save(plane / "F.npy", np.asarray(rec.F, np.float32))
    Fneu = np.zeros((n, T), np.float32) if rec.Fneu is None else np.asarray(rec.Fneu, np.float32)
    np.save(plane / "Fneu.npy", Fneu)
    spks = truth.get("spikes")
    np.save(
        plane / "spks.npy",
        np.zeros((n, T), np.float32) if spks is None else spks.astype(np.float32),
    )
    iscell = np.ones(n, bool) if rec.iscell is None else np.asarray(rec.iscell, bool)
    np.save(plane / "iscell.npy", np.stack([iscell, iscell], axis=1).astype(np.float32))
    np.save(plane / "stat.npy", _stat(session), allow_pickle=True)
    Ly, Lx = rec.rois.shape[-2:]
    ops = {
        "fs": float(rec.fs),
        "Ly": int(Ly),
        "Lx": int(Lx),
        "nframes": int(T),
        "neucoeff": float(rec.neuropil_coefficient),
        "meanImg": np.asarray(truth["mean_image"], np.float32),
        "tau": float(truth["kernel_tau_decay"]) if "kernel_tau_decay" in truth else 1.0,
        "nplanes": 1,
        "nchannels": 1,
    }
    np.save(plane / "ops.npy", np.array(ops, dtype=object), allow_pickle=True)
    if rec.behavior:
        _write_csv(folder / "behavior.csv", rec.behavior)
    if rec.trials:
        _write_csv(folder / "trials.csv", rec.trials)
    np.savez_compressed(folder / "ground_truth.npz", **truth)
    if rec.movie is not None:
        import tifffile

        movie = np.asarray(rec.movie)
        np.minimum(movie, np.iinfo(np.int16).max).astype("<i2").tofile(plane / "data.bin")

        tifffile.imwrite(
            folder / "movie.tif",
            movie.astype(np.uint16),
            imagej=True,
            metadata={"axes": "TYX", "finterval": 1.0 / float(rec.fs)},
        )
    (folder / "meta.json").write_text(json.dumps(_meta(session), indent=2) + "\n")


def _replace_dir(tmp: Path, out_dir: Path, overwrite: bool) -> None:
    if out_dir.exists():
        if not out_dir.is_dir():
            raise CalmError("output exists and is not a folder", out_dir)
        if any(out_dir.iterdir()) and not overwrite:
            raise CalmError("output folder is not empty (pass --overwrite to replace it)", out_dir)
        trash = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.old-", dir=out_dir.parent))
        os.replace(out_dir, trash / "old")
        os.replace(tmp, out_dir)
        shutil.rmtree(trash, ignore_errors=True)
    else:
        os.replace(tmp, out_dir)


def write_sessions(
    sessions: Sequence[SimulatedSession], out_dir: str | Path, *, overwrite: bool = False
) -> list[Path]:
    """Write sessions atomically; one session at ``out_dir``, several in ``session_XXX``.

    Parameters
    ----------
    sessions : sequence of SimulatedSession
        Output of :func:`~src_models.simulation.simulate`.
    out_dir : str or Path
        Destination folder; must be absent or empty unless ``overwrite``.
    overwrite : bool
        Replace an existing non-empty folder.

    Returns
    -------
    list of Path
        The folder of every session, in order.

    Raises
    ------
    CalmError
        ``out_dir`` is a file, or a non-empty folder without ``overwrite``.
    """
    out_dir = Path(out_dir).expanduser().absolute()
    if not sessions:
        raise CalmError("nothing to write: no sessions", out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise CalmError("output exists and is not a folder", out_dir)
    if out_dir.is_dir() and any(out_dir.iterdir()) and not overwrite:
        raise CalmError("output folder is not empty (pass --overwrite to replace it)", out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.tmp-", dir=out_dir.parent))
    root = tmp / "out"
    names = [f"session_{k:03d}" for k in range(len(sessions))] if len(sessions) > 1 else []
    try:
        if names:
            root.mkdir()
            for s, name in zip(sessions, names):
                _write_into(s, root / name)
        else:
            _write_into(sessions[0], root)
        _replace_dir(root, out_dir, overwrite)
    except OSError as exc:
        raise CalmError(f"could not write simulation: {exc.strerror or exc}", out_dir) from exc
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return [out_dir / name for name in names] if names else [out_dir]


def write_session(session: SimulatedSession, out_dir: str | Path, *, overwrite: bool = False) -> Path:
    """Write one session atomically to ``out_dir`` (see the module docstring for the layout)."""
    return write_sessions([session], out_dir, overwrite=overwrite)[0]
