"""ROI extraction quality of ``calm extract`` (suite2p) on simulated movies with known neurons.

For each simulated session (``demo``/``task`` with a movie) the movie is run
through :func:`napari_calm.extraction.run_extraction` exactly as ``calm
extract`` does (automatic settings from ``meta.json``: frame rate, GCaMP6s
decay), then the extracted ROIs are matched one-to-one to the true
footprints by mask IoU (≥ 0.3, Hungarian assignment) and the extracted
neuropil-corrected traces are correlated with the true somatic ΔF/F.

Reported per session: ROI recall / precision over all suite2p ROIs and over
the ROIs suite2p's classifier calls cells, median IoU of matches, median
trace correlation, and the wall-clock and CPU time per 1,000 frames (the
one-off ``import suite2p`` is timed separately).

Usage::

    OMP_NUM_THREADS=1 python benchmarks/extract_quality.py [--presets demo task] \\
        [--task-frames 3000] [--seeds 0] [--threads 1] [--json results.json]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np


def run_session(
    preset: str, seed: int, n_frames: int | None, threads: int | None
) -> dict[str, Any]:
    """Simulate, extract and score one session; returns one result row."""
    from napari_calm.extraction import ExtractionSettings, run_extraction
    from napari_calm.extraction.quality import extraction_quality
    from src_models.readers import read_recording
    from src_models.simulation import simulate, write_session

    session = simulate(preset, seed=seed, n_frames=n_frames, movie=True)[0]
    truth = session.recording
    with tempfile.TemporaryDirectory(prefix="calm-extract-bench-") as tmp:
        folder = Path(tmp) / "session"
        write_session(session, folder)
        cpu0, wall0 = time.process_time(), time.perf_counter()
        settings = ExtractionSettings(threads=threads)
        result = run_extraction(folder / "movie.tif", Path(tmp) / "s2p", settings)
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
        rois = read_recording(result.out, only_cells=False)
    scores = {}
    subsets = (("all", np.ones(rois.n_neurons, bool)), ("cells", np.asarray(rois.iscell, bool)))
    for name, keep in subsets:
        q = extraction_quality(
            rois.rois.subset(keep), rois.traces[keep], truth.rois, session.ground_truth["calcium"]
        )
        scores[name] = {k: v for k, v in q.items() if k != "trace_corr"}
    T = truth.n_frames
    return {
        "preset": preset,
        "seed": seed,
        "neurons": truth.n_neurons,
        "frames": T,
        "field": list(truth.movie.shape[1:]),
        "fs": truth.fs,
        "settings": {
            k: result.summary[k] for k in ("tau", "bin_size", "nonrigid", "block_size", "device")
        },
        "rois": result.n_rois,
        "cells": result.n_cells,
        "all": scores["all"],
        "classified_cells": scores["cells"],
        "wall_s_per_1000_frames": round(1000 * wall / T, 2),
        "cpu_s_per_1000_frames": round(1000 * cpu / T, 2),
    }


def _table(rows: list[dict[str, Any]]) -> str:
    head = (
        "| session | neurons | frames | field | ROIs (cells) | recall all / cells | "
        "precision all / cells | median IoU | median trace r | wall s / 1k frames "
        "| CPU s / 1k frames |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|"
    )
    lines = [head]
    for r in rows:
        a, c = r["all"], r["classified_cells"]
        lines.append(
            f"| {r['preset']} seed {r['seed']} | {r['neurons']} | {r['frames']} | "
            f"{r['field'][0]}×{r['field'][1]} | {r['rois']} ({r['cells']}) | "
            f"{a['recall']:.2f} / {c['recall']:.2f} | "
            f"{a['precision']:.2f} / {c['precision']:.2f} | "
            f"{a['median_iou']:.2f} | {a['median_trace_corr']:.2f} | "
            f"{r['wall_s_per_1000_frames']:.1f} | {r['cpu_s_per_1000_frames']:.1f} |"
        )
    return "\n".join(lines)


def main() -> None:
    """Run the benchmark and print a markdown table (and optionally JSON)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", nargs="+", default=["demo", "task"], choices=["demo", "task"])
    parser.add_argument("--task-frames", type=int, default=3000, help="frames of the task session")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--threads", type=int, default=1, help="torch threads for suite2p")
    parser.add_argument("--json", type=Path, help="also write the rows here")
    args = parser.parse_args()
    t0 = time.perf_counter()
    import suite2p  # noqa: F401  (imported once per process; timed apart from the runs)

    print(f"import suite2p: {time.perf_counter() - t0:.1f} s", flush=True)
    rows = []
    for preset in args.presets:
        for seed in args.seeds:
            frames = args.task_frames if preset == "task" else None
            rows.append(run_session(preset, seed, frames, args.threads))
            print(json.dumps(rows[-1]), flush=True)
    print(_table(rows))
    print(f"load average at the end: {os.getloadavg()[0]:.1f}")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
