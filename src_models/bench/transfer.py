"""The ``transfer`` suite: recordings the pretrained model never saw, one at a time.

Leave-one-recording-out: every row is a recording that is not in the
pretraining corpus of the CalM being evaluated, so CalM (pretrained → adapted)
brings only what it learned elsewhere, while every other model (and CalM
scratch) is trained on that recording's training split alone. The datasets
(:data:`TRANSFER_COLUMNS`; sizes, sources and preparation in ``BENCHMARKS.md``): three real
recordings — ``triplett`` (zebrafish tectum; **not held out for the shipped model**, whose
pretraining and NQ tokenizer used its frames 0–60 %, ``docs/model-card.md``), ``worm``
(C. elegans, WormWideWeb) and ``hippocampy`` (mouse two-photon suite2p, 10 Hz assumed) — and two
simulated families, ``sim-chaos`` (POCO's chaotic rate network; never in the pretraining corpus)
and ``sim-assembly`` (:mod:`src_models.simulation.assemblies`; **its generator is in the shipped
model's corpus** with other seeds and parameters, so the recording is new, the family is not),
both with seed :data:`SIM_SEED`. Whether a column is held out is read from the pretraining
manifest of the CalM being evaluated (:func:`seen_in_pretraining`), so a model pretrained without
Triplett (``benchmarks/dat_train_default.py --hold-out-triplett``) gets an unmarked column.
The thunder mouse S1 movie is not a row: its 500 frames leave 37 test windows.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from src_models.bench.datasets import TRIPLETT, TRIPLETT_FS, Source, file_source, real_data_dir, simulation_source
from src_models.errors import CalmError
from src_models.recording import Recording

#: transfer dataset key → table column, in table order (marked † / ‡ when not held out, see
#: :func:`seen_in_pretraining`)
TRANSFER_COLUMNS: dict[str, str] = {
    "triplett": "Zebrafish tectum (Triplett)",
    "worm": "C. elegans (WormWideWeb)",
    "hippocampy": "Mouse 2p (hippocampy)",
    "sim-chaos": "Chaotic network (sim)",
    "sim-assembly": "Spontaneous assemblies (sim)",
}

#: what marks a pretraining session (its manifest ``source``) as coming from a transfer dataset
_SEEN_AS: dict[str, str] = {
    "triplett": "triplett-zebrafish-tectum/",
    "worm": "wormwideweb-celegans",
    "hippocampy": "hippocampy-suite2p",
    "sim-chaos": "simulated/poco",
    "sim-assembly": "simulated/v2/assembl",
}

#: the rows of the transfer table, in order
TRANSFER_MODELS = ("copy_last", "dlinear", "ridge_var", "mlp", "tcn", "poco", "calm", "calm_scratch")

#: real recordings: key → (path in the real-data folder, frame rate to impose or None)
_REAL: dict[str, tuple[str, float | None]] = {
    "triplett": (str(TRIPLETT), TRIPLETT_FS),
    "worm": ("wormwideweb-celegans", None),
    "hippocampy": ("hippocampy-suite2p/plane0", 10.0),
}

#: simulation seed of the transfer suite (pretraining used seed 0)
SIM_SEED = 1000

#: note printed with every transfer table
NOT_HELD_OUT = (
    "†: not held out for the CalM evaluated: frames of this recording are in its pretraining manifest "
    "(the shipped CalM's pretraining and tokenizer used Triplett frames 0–60 %, the training split here); "
    "‡: a recording it never saw, from a generator whose other seeds and parameters were in its "
    "pretraining; every unmarked column is a recording it never saw"
)


def seen_in_pretraining(checkpoint: str | Path | None) -> set[str]:
    """Transfer dataset keys whose recording (real) or generator (simulated) the CalM at
    ``checkpoint`` (the shipped model when None) was pretrained on, read from its manifest.

    The manifest lists the DAT's pretraining sessions; the bundle does not record its NQ
    tokenizer's data, which ``benchmarks/train_default_nq.py`` keeps to the same recordings.
    """
    from src_models.dat.calm import default_calm_path, resolve_checkpoint

    folder = resolve_checkpoint(default_calm_path() if checkpoint is None else checkpoint)
    try:
        sessions = json.loads((folder / "config.json").read_text()).get("sessions", [])
        sources = [str(s.get("source", "")) for s in sessions]
    except (OSError, ValueError, AttributeError) as exc:
        raise CalmError(f"unreadable pretraining manifest ({exc})", folder / "config.json") from exc
    return {key for key, mark in _SEEN_AS.items() if any(mark in src for src in sources)}


def transfer_sources(
    keys: list[str], reader: Callable[..., Recording] | None, calm_checkpoint: str | Path | None = None
) -> tuple[list[Source], list[str]]:
    """Sources of the transfer datasets ``keys`` (see the module docstring).

    Parameters
    ----------
    keys : list of str
        Keys of :data:`TRANSFER_COLUMNS`.
    reader : callable or None
        ``reader(path, fs=...) -> Recording`` for the real recordings; without
        one they are skipped.
    calm_checkpoint : str or Path, optional
        The CalM evaluated (default: the shipped one); its manifest decides which columns are
        marked as not held out (:func:`seen_in_pretraining`).

    Returns
    -------
    sources : list of Source
    notes : list of str
        Skipped datasets and why, and the held-out note.
    """
    from src_models.simulation.assemblies import simulate_assemblies

    sources, notes = [], [NOT_HELD_OUT]
    seen = seen_in_pretraining(calm_checkpoint)
    root = real_data_dir()
    for key in keys:
        if key not in TRANSFER_COLUMNS:
            raise CalmError(f"unknown dataset {key!r}; transfer datasets: {', '.join(TRANSFER_COLUMNS)}")
        column = TRANSFER_COLUMNS[key] + ((" ‡" if key.startswith("sim-") else " †") if key in seen else "")
        if key == "sim-chaos":
            src = simulation_source(key, "poco", 150, 4096, seed=SIM_SEED)
            src.column = column
        elif key == "sim-assembly":
            src = Source(key, column, lambda: simulate_assemblies(120, 4096, seed=SIM_SEED),
                         info={"generator": "assemblies", "sim_seed": SIM_SEED})
        else:
            rel, fs = _REAL[key]
            path = None if root is None else root / rel
            if path is None or not path.exists() or reader is None:
                notes.append(f"{key}: skipped, {rel} not found (set CALM_REAL_DATA)")
                continue
            src = file_source(path, lambda p, fs=fs: reader(p, fs=fs), key, column)
        src.info["held_out_for_calm"] = key not in seen
        if calm_checkpoint is None:
            src.info["held_out_for_shipped_calm"] = key not in seen
        sources.append(src)
    return sources, notes
