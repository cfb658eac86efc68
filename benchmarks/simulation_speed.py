"""Time ``simulate()`` and ``write_sessions()`` for every preset at its default size.

Usage::

    OMP_NUM_THREADS=1 python benchmarks/simulation_speed.py

Prints one markdown table row per preset: sessions, neurons, frames, simulate
seconds, write seconds, and megabytes on disk.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from src_models.simulation import PRESETS, simulate, write_sessions


def _size_mb(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 1e6


def main() -> None:
    """Run every preset once and print the table."""
    print("| preset | sessions | neurons | frames | simulate (s) | write (s) | disk (MB) |")
    print("|---|---|---|---|---|---|---|")
    for name in PRESETS:
        t0 = time.perf_counter()
        sessions = simulate(name, seed=0)
        t1 = time.perf_counter()
        with tempfile.TemporaryDirectory() as tmp:
            write_sessions(sessions, Path(tmp) / "out")
            t2 = time.perf_counter()
            mb = _size_mb(Path(tmp) / "out")
        neurons = sum(s.recording.n_neurons for s in sessions)
        frames = sum(s.recording.n_frames for s in sessions)
        print(
            f"| {name} | {len(sessions)} | {neurons} | {frames} | {t1 - t0:.1f} | {t2 - t1:.1f} | {mb:.0f} |"
        )


if __name__ == "__main__":
    main()
