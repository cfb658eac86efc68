"""The datasets of the benchmark suites, as lazily loaded sources.

A :class:`Source` names a dataset (``key``), the table column it fills and a
``load()`` callable returning a :class:`~src_models.recording.Recording`.
Simulations come from :mod:`src_models.simulation`; recordings on disk are
read by the caller (the CLI passes ``src_models.readers.read_recording``,
which ``src_models`` must not import).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from src_models.errors import CalmError
from src_models.preparation import DFF_TEXT, apply_dff
from src_models.recording import Recording

#: builtin dataset key → table column label, in table order
COLUMNS: dict[str, str] = {
    "sim-poco": "Simulation", "sim-task": "Task sim", "triplett": "Single-session (Triplett)"
}

#: the Triplett tectum recording, relative to the shared real-data folder
TRIPLETT = Path("triplett-zebrafish-tectum") / "zf_20151104-f1.mat"
#: its imaging rate (Hz; from the authors' plotting script, see its SOURCE.md): the .mat has none
TRIPLETT_FS = 2.2


@dataclass
class Source:
    """One dataset of a benchmark run.

    Attributes
    ----------
    key : str
        Dataset name in ``results.json`` (``sim-poco``, ``triplett``, a file stem).
    column : str
        Column label in the tables.
    load : callable
        ``() -> Recording``; may raise :class:`~src_models.errors.CalmError`.
    max_frames : int or None
        Keep only the first ``max_frames`` frames (quick suite).
    dff : {'auto', 'yes', 'no'}
        ΔF/F policy before z-scoring (:func:`~src_models.preparation.apply_dff`):
        ``auto`` converts raw fluorescence (strictly positive traces) only.
    info : dict
        Provenance copied into ``results.json``.
    """

    key: str
    column: str
    load: Callable[[], Recording]
    max_frames: int | None = None
    dff: str = "auto"
    info: dict[str, Any] = field(default_factory=dict)

    def traces(self, rec: Recording) -> np.ndarray:
        """The ``(N, T)`` activity benchmarked: cropped, and ΔF/F where ``dff`` says so.

        The ΔF/F policy is :func:`src_models.preparation.apply_dff`, the one ``calm forecast``
        applies; ``info`` records it (``preprocessing``, ``preparation``).
        """
        x = rec.traces if self.max_frames is None else rec.traces[:, : self.max_frames]
        x, converted = apply_dff(x, rec.fs, self.dff)
        self.info["preprocessing"] = f"{DFF_TEXT}, then z-score" if converted else "z-score"
        self.info["preparation"] = {"dff": DFF_TEXT if converted else None, "dff_policy": self.dff,
                                    "zscore": "training split"}
        return x


def real_data_dir() -> Path | None:
    """The shared real-data folder (``$CALM_REAL_DATA`` or ``../shared/real-data`` next to the repo)."""
    env = os.environ.get("CALM_REAL_DATA")
    candidates = [Path(env)] if env else []
    candidates.append(Path(__file__).resolve().parents[2].parent / "shared" / "real-data")
    return next((c for c in candidates if c.is_dir()), None)


def real_data_file(relative: Path | str) -> Path:
    """``relative`` inside :func:`real_data_dir`; a :class:`CalmError` when it is not there."""
    root = real_data_dir()
    path = None if root is None else root / relative
    if path is None or not path.exists():
        raise CalmError(f"{relative} not found in the real-data folder (set CALM_REAL_DATA)")
    return path


def simulation_source(key: str, preset: str, n_neurons: int, n_frames: int, seed: int = 0) -> Source:
    """A source simulating one session of ``preset`` with :func:`src_models.simulation.simulate`."""

    def load() -> Recording:
        from src_models.simulation import simulate

        return simulate(preset, seed=seed, n_neurons=n_neurons, n_frames=n_frames, n_sessions=1)[0].recording

    info = {"preset": preset, "sim_seed": seed, "sim_neurons": n_neurons, "sim_frames": n_frames}
    return Source(key, COLUMNS.get(key, key), load, None, "auto", info)


def file_source(
    path: str | Path,
    reader: Callable[[Path], Recording],
    key: str | None = None,
    column: str | None = None,
    max_frames: int | None = None,
) -> Source:
    """A source reading ``path`` with ``reader`` (e.g. ``src_models.readers.read_recording``)."""
    path = Path(path)
    name = key or (path.stem if path.suffix else path.name)
    return Source(name, column or name, lambda: reader(path), max_frames, "auto", {"path": str(path)})
