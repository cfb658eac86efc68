"""``calm forecast``: forecast population activity with CalM, scored against copy-last.

The command is ``CalM.load(checkpoint).adapt(rec, AdaptSettings).forecast(ForecastSettings)``
(:mod:`src_models.engine`), so the Python API and the docks give the same numbers. Protocol
(stable contract): prepare the recording (:mod:`src_models.preparation`: ΔF/F of raw
fluorescence, 60/20/20 split, z-scored with the training split's statistics), adapt to its
first 60 % (``--strategy``: new embeddings by default; ``lora`` then low-rank adapters, ``full``
then the whole DAT, ``auto`` all three within ``--budget-s``, the lowest validation loss kept;
skipped when the checkpoint knows the recording, cached), select the
forecast variant (CalM's, the skip path's ridge VAR and pooled AR, their stacks) on the next 20 %, and forecast
every window (``--context`` frames → ``--horizon`` frames, stride 1) of the last 20 %. Every forecaster reads
its context clipped to each neuron's training range, the excess carried as copy-last (``--no-guard``: not).

``--json`` prints one object::

    {"metrics": {"corr", "corr_median", "corr_per_step", "mse", "mae", "r2", "prediction_score"},
     "baseline_copy_last": {... same keys ...},
     "selected": "greedy" | "sample_mean" | "regression" | "var" | "ar" | "blend_linear" | "blend_<variant>",
     "variants": {variant: {... same keys ...}}, "val_mse": {variant: float},
     "context", "horizon", "n_windows", "n_neurons", "fs", "band": {"quantiles", "coverage"},
     "adapted", "known_recording", "strategy", "adapt_val_loss", "adapt_steps", "adapt_seconds",
     "adapt_tried": {candidate: {"val_loss", "steps", "seconds", "skipped"}}, "adapt_budget_s",
     "linear_skip": {"lag", "lambda", "delta", "ar": {"lag", "lambda", "delta"}, "blend_weights",
                     "stack_weights": {"blend_<k>": {"calm", "var", "ar"}}},
     "range_guard": {"validation", "test": {"fraction_outside", "max_excess"}}, "seconds", "forecast_seconds",
     "n_samples", "splits", "preparation", "adapt_cache", "checkpoint", "path"}

``--out forecast.npz`` stores the forecasts (``pred``, ``pred_<variant>``),
``true``, ``last``, ``starts``, ``lower``/``upper`` and the same JSON.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``calm forecast``."""
    from napari_calm.cli.options import add_model_options, add_settings
    from napari_calm.cli.recording_options import add_recording_options
    from src_models.settings import AdaptSettings, ForecastSettings

    parser.add_argument("path", help="recording (any readable format)")
    add_recording_options(parser)
    add_model_options(parser)
    add_settings(parser, ForecastSettings)
    add_settings(parser, AdaptSettings)
    parser.add_argument("--no-adapt", action="store_true", help="use generic embeddings, no adaptation")
    parser.add_argument("--out", type=Path, metavar="FILE", help="write forecasts to this .npz")
    parser.add_argument("--json", action="store_true", help="print one JSON object with the metrics")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output file")


def run(args: argparse.Namespace) -> int:
    """Forecast and report."""
    from napari_calm.cli.options import settings_from
    from napari_calm.cli.recording_options import read_with_options
    from src_models.dat.forecast import check_length
    from src_models.engine import CalM
    from src_models.outputs import claim_output, dumps
    from src_models.settings import AdaptSettings, ForecastSettings

    fs = settings_from(args, ForecastSettings)
    adapt = settings_from(args, AdaptSettings, **({"steps": 0, "full_steps": 0} if args.no_adapt else {}))
    if args.out is not None:
        claim_output(args.out, "forecast", folder=False, overwrite=args.overwrite)
    recording = read_with_options(args.path, args)
    check_length(recording.n_frames, fs.context, fs.horizon, recording.source)
    model = CalM.load(args.checkpoint, device=args.device)
    adapted = model.adapt_job(recording, adapt).run(bar=not args.json)
    result = adapted.forecast(settings=fs)
    if args.out is not None:
        result.save(args.out)
    report = result.to_json()
    report.update(adapt_cache=adapted.info["cache"], checkpoint=str(model.checkpoint), path=str(recording.source))
    if args.json:
        print(dumps(report))
        return 0
    m, b = result.metrics, result.baseline
    print(f"{recording.source}: {len(result.starts)} windows x {result.true.shape[2]} neurons, "
          f"{fs.context} -> {fs.horizon} frames")
    print(f"CalM ({result.selected}): corr {m['corr']:.3f}  mse {m['mse']:.3f}  "
          f"prediction_score {m['prediction_score']:.3f}")
    print(f"copy-last:          corr {b['corr']:.3f}  mse {b['mse']:.3f}  prediction_score 0.000")
    for name, vm in result.variant_metrics.items():
        print(f"  {name:12s} corr {vm['corr']:.3f}  mse {vm['mse']:.3f}  val_mse {result.val_mse.get(name, float('nan')):.3f}")
    if args.out is not None:
        print(f"wrote {args.out}")
    return 0
