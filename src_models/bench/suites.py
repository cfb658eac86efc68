"""The suites: which builtin datasets, at which size, with which training budget.

``quick``
    Small simulations (48 neurons, 1 200 frames), the first 1 500 frames of
    the Triplett recording, a short budget and one seed: every model runs in a
    few minutes on 2 CPU cores (the CI smoke test runs a reduced version).
``full``
    What ``BENCHMARKS.md`` reports: the POCO-style chaotic network at POCO's
    size (150 neurons, 4 096 frames), the task simulation (128 neurons, 4 096
    frames), the whole Triplett recording (114 neurons, 4 245 frames), the
    full budget and three seeds.
``transfer``
    Recordings the pretrained CalM never saw, leave-one-recording-out
    (:mod:`~src_models.bench.transfer`), the transfer budget and three seeds.

Budgets: the trained baselines train to convergence on validation (up to
5 000 steps, POCO's ``max_batch``; early stop; best weights kept; learning rate
chosen on validation). ``transfer`` caps this at 3 000 steps with lr 1e-3 so five
recordings finish on a 2-core CPU. CalM's fine-tuning has its own, smaller
budget (:data:`SUITE_FOUNDATION_BUDGETS`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from src_models.bench.datasets import (
    COLUMNS,
    TRIPLETT,
    TRIPLETT_FS,
    Source,
    file_source,
    real_data_dir,
    simulation_source,
)
from src_models.bench.training import Budget
from src_models.bench.transfer import TRANSFER_COLUMNS, transfer_sources
from src_models.errors import CalmError
from src_models.recording import Recording

SUITES = ("quick", "full", "transfer")

#: per suite: builtin key → (n_neurons, n_frames) for simulations, max frames for files
SUITE_SIZES: dict[str, dict[str, tuple[int | None, int | None]]] = {
    "quick": {"sim-poco": (48, 1200), "sim-task": (48, 1200), "triplett": (None, 1500)},
    "full": {"sim-poco": (150, 4096), "sim-task": (128, 4096), "triplett": (None, None)},
}

#: per suite: training budget of every gradient-trained baseline
SUITE_BUDGETS: dict[str, Budget] = {
    "quick": Budget(
        steps=40, batch_size=8, lr_grid=(1e-3,), eval_every=20, patience=2, max_val_windows=32,
        max_neurons=32,
    ),
    "full": Budget(
        steps=5000, batch_size=16, lr_grid=(3e-4, 1e-3), eval_every=100, patience=10,
        max_val_windows=1024, max_neurons=512,
    ),
}
SUITE_BUDGETS["transfer"] = replace(SUITE_BUDGETS["full"], steps=3000, lr_grid=(1e-3,), patience=5)

#: per suite: budget of CalM's fine-tuning (the ``foundation`` rows)
SUITE_FOUNDATION_BUDGETS: dict[str, Budget] = {
    "quick": SUITE_BUDGETS["quick"],
    "full": Budget(
        steps=300, batch_size=8, lr_grid=(1e-3, 3e-3), eval_every=50, patience=2, max_val_windows=64,
        max_neurons=64,
    ),
}
SUITE_FOUNDATION_BUDGETS["transfer"] = SUITE_FOUNDATION_BUDGETS["full"].with_lr(1e-3)

#: per suite: default number of seeds
SUITE_SEEDS: dict[str, int] = {"quick": 1, "full": 3, "transfer": 3}


def suite_datasets(suite: str) -> list[str]:
    """Default dataset keys of ``suite``."""
    return list(TRANSFER_COLUMNS if suite == "transfer" else COLUMNS)


def suite_budgets(suite: str, steps: int | None = None) -> tuple[Budget, Budget]:
    """Budgets of ``suite``: (trained baselines, CalM fine-tuning).

    Parameters
    ----------
    suite : str
        One of :data:`SUITES`.
    steps : int, optional
        Overrides the maximum optimiser steps of both (``calm bench --steps``).

    Raises
    ------
    CalmError
        Unknown suite or ``steps`` < 1.
    """
    if suite not in SUITES:
        raise CalmError(f"unknown suite {suite!r} (use {', '.join(SUITES)})")
    budgets = SUITE_BUDGETS[suite], SUITE_FOUNDATION_BUDGETS[suite]
    if steps is None:
        return budgets
    if steps < 1:
        raise CalmError(f"--steps must be at least 1, got {steps}")
    return tuple(replace(b, steps=steps, eval_every=min(b.eval_every, steps)) for b in budgets)


def builtin_sources(
    suite: str, keys: list[str], reader: Callable[..., Recording] | None,
    calm_checkpoint: str | Path | None = None,
) -> tuple[list[Source], list[str]]:
    """Sources of the builtin datasets ``keys`` at the sizes of ``suite``.

    Parameters
    ----------
    suite : {'quick', 'full', 'transfer'}
        Sizes of the simulations and frames kept of the real recording;
        ``transfer`` hands over to :func:`~src_models.bench.transfer.transfer_sources`.
    keys : list of str
        Dataset names (:func:`suite_datasets`).
    reader : callable or None
        ``reader(path, fs=...) -> Recording`` for the real recording
        (``src_models.readers.read_recording``); without one it is skipped.
    calm_checkpoint : str or Path, optional
        The CalM evaluated (``transfer``: its manifest marks the columns it was pretrained on).

    Returns
    -------
    sources : list of Source
    notes : list of str
        Why a dataset was skipped (e.g. the Triplett file is absent).
    """
    if suite not in SUITES:
        raise CalmError(f"unknown suite {suite!r} (use {', '.join(SUITES)})")
    if suite == "transfer":
        return transfer_sources(keys, reader, calm_checkpoint)
    sizes = SUITE_SIZES[suite]
    sources, notes = [], []
    for key in keys:
        if key not in COLUMNS:
            raise CalmError(f"unknown dataset {key!r}; builtin datasets: {', '.join(COLUMNS)}")
        n, t = sizes[key]
        if key.startswith("sim-"):
            sources.append(simulation_source(key, key.removeprefix("sim-"), n, t))
        else:
            root = real_data_dir()
            path = None if root is None else root / TRIPLETT
            if path is None or not path.is_file() or reader is None:
                notes.append(f"triplett: skipped, {TRIPLETT.name} not found (set CALM_REAL_DATA)")
                continue
            src = file_source(path, lambda p: reader(p, fs=TRIPLETT_FS), key, COLUMNS[key], max_frames=t)
            src.info["fs_note"] = f"{TRIPLETT_FS} Hz from SOURCE.md (the .mat file has no rate)"
            sources.append(src)
    return sources, notes
