"""Forecast accuracy of the shipped CalM on recordings it never saw, against copy-last.

Recordings:

* simulated sessions from animals outside the pretraining corpus
  (``simulate('corpus', seed=1000)``, sessions ``--sim-ids``: new
  connectivity, indicators and frame rates drawn like the training corpus;
  and ``simulate('task', seed=1000)``);
* the real Triplett zebrafish tectum recording (114 neurons, 2.2 Hz): the
  shipped model saw only its first 60 % during pretraining, so its last 20 %
  is held back.

Each goes through :func:`src_models.dat.forecast.forecast_recording` — the
``calm forecast`` protocol: adapt on the first 60 % (skipped for Triplett,
whose embeddings the model already has), select the variant on the next
20 %, forecast the 48 -> 16 frame windows of the last 20 % (every one for
Triplett; for the simulations an even stride that keeps at most
``--sim-windows`` of them, to bound the run time), z-scored with training-split statistics — and prints one JSON object
per recording plus a markdown table.

Usage::

    python benchmarks/dat_forecast.py [--checkpoint DIR] [--sim-windows 256] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def recordings(sim_ids: list[int]):
    """(name, Recording) pairs: unseen simulations, then Triplett when present."""
    from src_models.bench.datasets import TRIPLETT, TRIPLETT_FS, real_data_dir
    from src_models.simulation import simulate

    sessions = simulate("corpus", seed=1000, n_sessions=max(sim_ids) + 1)
    for i in sim_ids:
        r = sessions[i].recording
        yield f"sim-corpus-{i} ({r.metadata.get('indicator')}, {r.fs:g} Hz)", r
    r = simulate("task", seed=1000)[0].recording
    yield f"sim-task ({r.metadata.get('indicator')}, {r.fs:g} Hz)", r
    root = real_data_dir()
    if root is not None and (root / TRIPLETT).is_file():
        from src_models.readers import read_recording

        yield "Triplett tectum (real, 2.2 Hz)", read_recording(root / TRIPLETT, fs=TRIPLETT_FS)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", type=Path, default=None)
    p.add_argument("--sim-windows", type=int, default=256,
                   help="at most this many test windows per simulation (evenly strided)")
    p.add_argument("--real-stride", type=int, default=1, help="step between test windows of Triplett")
    p.add_argument("--samples", type=int, default=8)
    p.add_argument("--sim-ids", type=int, nargs="+", default=[0, 1, 3, 5, 7],
                   help="sessions of simulate('corpus', seed=1000) to use (default: 60, 60, 10, 5, 2 Hz)")
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    from src_models.dat.calm import load_calm
    from src_models.dat.forecast import forecast_recording
    from src_models.metrics import window_starts
    from src_models.preprocessing import split_bounds

    model = load_calm(args.checkpoint)
    rows = []
    for name, rec in recordings(args.sim_ids):
        t = time.time()
        stride = args.real_stride
        if name.startswith("sim"):
            n_windows = len(window_starts(48, 16, *split_bounds(rec.n_frames)[2]))
            stride = max(1, -(-n_windows // args.sim_windows))
        res = forecast_recording(model, rec, 48, 16, n_samples=args.samples, stride=stride)
        report = res.to_json()
        report.update(name=name, stride=stride, wall_s=round(time.time() - t, 1))
        print(json.dumps(report, default=float), flush=True)
        rows.append(report)
    print()
    print("| recording | N | windows (stride) | CalM (selected) corr | MSE | pred. score | greedy corr | sample-mean corr "
          "| regression corr | copy-last corr | copy-last MSE | adapted | 80 % band coverage |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        m, b, v = r["metrics"], r["baseline_copy_last"], r["variants"]
        cell = lambda k: f"{v[k]['corr']:.3f}" if k in v else "-"  # noqa: E731
        print(f"| {r['name']} | {r['n_neurons']} | {r['n_windows']} ({r['stride']}) | {m['corr']:.3f} ({r['selected']}) | "
              f"{m['mse']:.3f} | {m['prediction_score']:.3f} | {cell('greedy')} | {cell('sample_mean')} | "
              f"{cell('regression')} | {b['corr']:.3f} | {b['mse']:.3f} | "
              f"{'yes' if r['adapted'] else 'known' if r['known_recording'] else 'no'} | "
              f"{'-' if r['band'] is None else format(r['band']['coverage'], '.2f')} |")


if __name__ == "__main__":
    main()
