"""``calm forecast``: forecast population activity with CalM, scored against copy-last.

Protocol (stable contract): adapt to the recording on its first 60 % of frames
(new neuron and session embeddings, backbone frozen; default budget
``FinetuneConfig``: 150 steps of 4 windows x 64 neurons x 16 tokens, 1-4 minutes
on a 2-core CPU; skipped when the
checkpoint already knows the recording), select the forecast variant on the
next 20 %, and forecast every window (``--context`` frames → ``--horizon``
frames, stride 1) of the last 20 %. Everything is z-scored with the training
split's per-neuron statistics.

``--json`` prints one object::

    {"metrics": {"corr", "corr_median", "corr_per_step", "mse", "mae", "r2", "prediction_score"},
     "baseline_copy_last": {... same keys ...},
     "selected": "greedy" | "sample_mean" | "regression",
     "variants": {variant: {... same keys ...}}, "val_mse": {variant: float},
     "context", "horizon", "n_windows", "n_neurons", "fs", "band": {"quantiles", "coverage"},
     "adapted", "known_recording", "adapt_steps", "adapt_seconds", "seconds", "forecast_seconds",
     "n_samples", "splits", "checkpoint", "path"}

``--out forecast.npz`` stores the forecasts (``pred``, ``pred_<variant>``),
``true``, ``last``, ``starts``, ``lower``/``upper`` and the same JSON.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``calm forecast``."""
    parser.add_argument("path", help="recording (any readable format)")
    parser.add_argument("--checkpoint", type=Path, metavar="DIR", help="CalM checkpoint (default: the shipped model)")
    parser.add_argument("--context", type=int, default=48, metavar="C", help="context frames (default 48)")
    parser.add_argument("--horizon", type=int, default=16, metavar="H", help="forecast frames (default 16)")
    parser.add_argument("--out", type=Path, metavar="FILE", help="write forecasts to this .npz")
    parser.add_argument("--json", action="store_true", help="print one JSON object with the metrics")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    parser.add_argument("--samples", type=int, default=8, metavar="S",
                        help="sampled rollouts per window for the band and sample_mean (default 8; 0 = none)")
    parser.add_argument("--steps", type=int, metavar="N", help="adaptation steps (default 150)")
    parser.add_argument("--no-adapt", action="store_true", help="use generic embeddings, no adaptation")
    parser.add_argument("--stride", type=int, default=1, metavar="K", help="step between test windows (default 1)")
    parser.add_argument("--seed", type=int, default=0, help="seed of adaptation and sampling (default 0)")
    parser.add_argument("--fs", type=float, metavar="HZ", help="frame rate (overrides the files)")
    parser.add_argument("--device", default="auto", help="cpu, cuda or auto (default)")


def run(args: argparse.Namespace) -> int:
    """Forecast and report."""
    import sys

    from src_models.outputs import dumps
    from src_models.readers import read_recording
    from src_models.dat.calm import default_calm_path, load_calm
    from src_models.dat.config import FinetuneConfig
    from src_models.dat.forecast import check_length, forecast_recording
    from src_models.device import resolve_device
    from src_models.errors import CalmError
    from src_models.outputs import claim_output

    if args.samples < 0 or args.stride < 1:
        raise CalmError("--samples must be >= 0 and --stride >= 1")
    if args.out is not None:
        claim_output(args.out, "forecast", folder=False, overwrite=args.overwrite)
    recording = read_recording(args.path, fs=args.fs)
    check_length(recording.n_frames, args.context, args.horizon, recording.source)
    model = load_calm(args.checkpoint, device=resolve_device(args.device))
    cfg = FinetuneConfig()
    if args.steps is not None:
        cfg.embed_steps = max(0, args.steps)

    def progress(info):
        if not args.json and info.get("phase") != "forecast" and info["step"] % 50 == 0:
            print(f"adapting: step {info['step']}/{info['total']}", file=sys.stderr, flush=True)

    result = forecast_recording(model, recording, args.context, args.horizon, n_samples=args.samples,
                                adapt=not args.no_adapt, finetune_config=cfg, stride=args.stride,
                                seed=args.seed, progress=progress)
    if args.out is not None:
        result.save(args.out)
    report = result.to_json()
    report["checkpoint"] = str(args.checkpoint or default_calm_path())
    report["path"] = str(recording.source)
    if args.json:
        print(dumps(report))
        return 0
    m, b = result.metrics, result.baseline
    print(f"{recording.source}: {len(result.starts)} windows x {result.true.shape[2]} neurons, "
          f"{args.context} -> {args.horizon} frames")
    print(f"CalM ({result.selected}): corr {m['corr']:.3f}  mse {m['mse']:.3f}  "
          f"prediction_score {m['prediction_score']:.3f}")
    print(f"copy-last:          corr {b['corr']:.3f}  mse {b['mse']:.3f}  prediction_score 0.000")
    for name, vm in result.variant_metrics.items():
        print(f"  {name:12s} corr {vm['corr']:.3f}  mse {vm['mse']:.3f}  val_mse {result.val_mse.get(name, float('nan')):.3f}")
    if args.out is not None:
        print(f"wrote {args.out}")
    return 0
