"""Forecast latency of the shipped CalM: 1,000 neurons, 48 frames of context -> 16 frames.

One forecast = tokenize the context (NQ), run the DAT over it, generate the
horizon tokens with a key/value cache, decode them to frames (plus the
regression head's forecast, which comes with the same pass). Timed end to
end with :func:`src_models.dat.forecast.forecast_windows` on a simulated
1,000-neuron recording, greedy only and with an 8-sample uncertainty band,
with 2 threads (this machine's cores) and on CUDA when available. Median of
``--repeats`` runs after one warm-up.

Usage::

    python benchmarks/dat_latency.py [--checkpoint resources/weights/calm] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", type=Path, default=None, help="CalM folder (default: shipped)")
    p.add_argument("--neurons", type=int, default=1000)
    p.add_argument("--context", type=int, default=48)
    p.add_argument("--horizon", type=int, default=16)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--device", default="cpu")
    args = p.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    from src_models.dat.calm import load_calm
    from src_models.dat.data import prepare_recording
    from src_models.dat.forecast import forecast_windows
    from src_models.simulation import simulate

    model = load_calm(args.checkpoint, device=args.device)
    rec = simulate("task", seed=7, n_neurons=args.neurons, n_frames=400)[0].recording
    prep = prepare_recording(rec)
    starts = np.array([prep.bounds[2][0]])
    out = {"neurons": args.neurons, "context": args.context, "horizon": args.horizon, "device": args.device,
           "threads": args.threads, "fs": rec.fs}
    for name, kwargs in (("greedy+regression", dict(n_samples=0, variants=("greedy", "regression"))),
                         ("with 8-sample band", dict(n_samples=8))):
        forecast_windows(model, prep, starts, args.context, args.horizon, **kwargs)
        times = []
        for _ in range(args.repeats):
            if args.device.startswith("cuda"):
                torch.cuda.synchronize()
            t = time.perf_counter()
            forecast_windows(model, prep, starts, args.context, args.horizon, **kwargs)
            if args.device.startswith("cuda"):
                torch.cuda.synchronize()
            times.append(time.perf_counter() - t)
        out[name] = {"median_s": round(float(np.median(times)), 3), "min_s": round(float(np.min(times)), 3)}
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
