"""The datasets of the benchmark suites, as lazily loaded sources.

A :class:`Source` names a dataset (``key``), the table column it fills and a
``load()`` callable returning a :class:`~src_models.recording.Recording`.
Simulations come from :mod:`src_models.simulation`; recordings on disk are
read by the caller (the CLI passes ``napari_calm.readers.read_recording``,
which ``src_models`` must not import).

Suites
    ``quick`` — small simulations (48 neurons, 1 200 frames) and the first
    1 500 frames of the Triplett recording: a smoke test in minutes on 2 cores.
    ``full`` — what ``BENCHMARKS.md`` reports: the POCO-style chaotic network
    at POCO's size (150 neurons, 4 096 frames), the task simulation (128
    neurons, 4 096 frames) and the whole Triplett recording (114 neurons,
    4 245 frames).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from src_models.errors import CalmError
from src_models.recording import Recording

#: builtin dataset key → table column label, in table order
COLUMNS: dict[str, str] = {
    "sim-poco": "Simulation",
    "sim-task": "Task sim",
    "triplett": "Single-session (Triplett)",
}

#: the Triplett tectum recording, relative to the shared real-data folder
TRIPLETT = Path("triplett-zebrafish-tectum") / "zf_20151104-f1.mat"

#: per suite: builtin key → (n_neurons, n_frames) for simulations, max frames for files
SUITE_SIZES: dict[str, dict[str, tuple[int | None, int | None]]] = {
    "quick": {"sim-poco": (48, 1200), "sim-task": (48, 1200), "triplett": (None, 1500)},
    "full": {"sim-poco": (150, 4096), "sim-task": (128, 4096), "triplett": (None, None)},
}


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
        ``() -> Recording``; may raise :class:`CalmError`.
    max_frames : int or None
        Keep only the first ``max_frames`` frames (quick suite).
    info : dict
        Provenance copied into ``results.json``.
    """

    key: str
    column: str
    load: Callable[[], Recording]
    max_frames: int | None = None
    info: dict[str, Any] = field(default_factory=dict)


def real_data_dir() -> Path | None:
    """The shared real-data folder (``$CALM_REAL_DATA`` or ``../shared/real-data`` next to the repo)."""
    env = os.environ.get("CALM_REAL_DATA")
    candidates = [Path(env)] if env else []
    candidates.append(Path(__file__).resolve().parents[2].parent / "shared" / "real-data")
    return next((c for c in candidates if c.is_dir()), None)


def simulation_source(key: str, preset: str, n_neurons: int, n_frames: int, seed: int = 0) -> Source:
    """A source simulating one session of ``preset`` with :func:`src_models.simulation.simulate`."""

    def load() -> Recording:
        from src_models.simulation import simulate

        return simulate(preset, seed=seed, n_neurons=n_neurons, n_frames=n_frames, n_sessions=1)[0].recording

    info = {"preset": preset, "sim_seed": seed, "sim_neurons": n_neurons, "sim_frames": n_frames}
    return Source(key, COLUMNS.get(key, key), load, None, info)


def file_source(path: str | Path, reader: Callable[[Path], Recording], key: str | None = None,
                column: str | None = None, max_frames: int | None = None) -> Source:
    """A source reading ``path`` with ``reader`` (e.g. ``napari_calm.readers.read_recording``)."""
    path = Path(path)
    name = key or (path.stem if path.suffix else path.name)
    return Source(name, column or name, lambda: reader(path), max_frames, {"path": str(path)})


def builtin_sources(
    suite: str, keys: list[str], reader: Callable[[Path], Recording] | None
) -> tuple[list[Source], list[str]]:
    """Sources of the builtin datasets ``keys`` at the sizes of ``suite``.

    Returns
    -------
    sources : list of Source
    notes : list of str
        Why a dataset was skipped (e.g. the Triplett file is absent).
    """
    if suite not in SUITE_SIZES:
        raise CalmError(f"unknown suite {suite!r} (use {' or '.join(SUITE_SIZES)})")
    sizes = SUITE_SIZES[suite]
    sources, notes = [], []
    for key in keys:
        if key not in COLUMNS:
            raise CalmError(f"unknown dataset {key!r}; builtin datasets: {', '.join(COLUMNS)}")
        n, t = sizes[key]
        if key == "sim-poco":
            sources.append(simulation_source(key, "poco", n, t))
        elif key == "sim-task":
            sources.append(simulation_source(key, "task", n, t))
        else:
            root = real_data_dir()
            path = None if root is None else root / TRIPLETT
            if path is None or not path.is_file() or reader is None:
                notes.append(f"triplett: skipped, {TRIPLETT.name} not found (set CALM_REAL_DATA)")
                continue
            sources.append(file_source(path, reader, key, COLUMNS[key], max_frames=t))
    return sources, notes
