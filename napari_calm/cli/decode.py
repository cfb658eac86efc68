"""``calm decode PATH --target NAME``: decode behaviour with CalM and supervised baselines.

Targets are the recording's behaviour variables (decoded per frame) or trial columns (decoded per
trial, or per frame with ``--level frame``). Every model is scored on the same cross-validation
folds — contiguous blocks of frames or runs of whole trials, separated from the training samples
by at least the decoders' context — with R² (continuous) or balanced accuracy (discrete); chance
comes from circularly shifted labels. CalM's heads (default ``hybrid``: ridge on the
frame-resolution traces, then the states on its residuals where inner validation keeps them; ``linear``, ``mlp``) read DAT states — each
neuron's state on 4 shared principal axes (``--readouts neurons``) and/or their mean and std over
neurons (``pooled``) — of the model as shipped (``calm_frozen_*``) and, unless ``--no-adapt``, of a
copy adapted to the recording without labels (``calm_adapted_*``: ``CalM.adapt``, shared and cached with
``calm forecast`` and the docks: by default 150 steps of new neuron/session embeddings, then low-rank
adapters and the whole DAT, the lowest validation loss kept, ``--strategy auto``). ``--finetune-steps N`` adds ``calm_finetuned``: the DAT and a head
trained end to end on each fold's training labels.

``--json`` prints one object::

    {"target", "kind", "level", "metric", "calm", "calm_model", "calm_variants": {model: score},
     "baselines": {"ridge", "mlp", "gru"}, "best_baseline", "chance", "scores": {model: {metric}},
     "chance_all", "classes", "n_samples", "n_folds", "gap", "context", "n_shifts", "seed",
     "hyperparameters", "seconds", "checkpoint", "path"}

``--out decoded.npz`` stores ``frames``, ``times``, ``true``, ``fold``, ``pred_<model>`` and the same
JSON (under ``json``).
"""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``calm decode``."""
    from napari_calm.cli.options import add_model_options, add_settings
    from napari_calm.cli.recording_options import add_recording_options
    from src_models.settings import AdaptSettings, DecodeSettings

    parser.add_argument("path", help="recording (any readable format)")
    add_recording_options(parser)
    add_model_options(parser)
    add_settings(parser, AdaptSettings)
    parser.add_argument("--target", required=True, metavar="NAME", help="behaviour variable or trial column")
    parser.add_argument("--json", action="store_true", help="print one JSON object with the scores")
    parser.add_argument("--out", type=Path, metavar="FILE", help="write decoded vs true series to this .npz")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    parser.add_argument("--no-adapt", action="store_true", help="frozen model only, no adapted variant")
    add_settings(parser, DecodeSettings)


def run(args: argparse.Namespace) -> int:
    """Decode and report."""
    import sys
    import time

    import numpy as np

    from napari_calm.cli.options import settings_from
    from napari_calm.cli.recording_options import read_with_options
    from src_models.analysis.calm_features import CalmFeatures
    from src_models.analysis.decoding import decode
    from src_models.analysis.finetuned_head import CalmFinetune
    from src_models.analysis.targets import resolve_target
    from src_models.engine import CalM
    from src_models.errors import CalmError
    from src_models.nq.rate import frames_to_tokens, tokens_to_frames
    from src_models.outputs import claim_output, dumps, save_npz
    from src_models.settings import READOUTS, AdaptSettings, DecodeSettings, split_names

    ds = settings_from(args, DecodeSettings)
    settings = settings_from(args, AdaptSettings)
    if args.out is not None and args.out.suffix != ".npz":
        raise CalmError("output file must end in .npz", args.out)
    if args.out is not None:
        claim_output(args.out, "decode", folder=False, overwrite=args.overwrite)
    t0 = time.time()
    recording = read_with_options(args.path, args)
    resolve_target(recording, args.target, level=ds.level, context=ds.context, min_per_class=ds.min_trials)
    engine = CalM.load(args.checkpoint, device=args.device)
    model, device = engine.bundle, engine.bundle.device
    token_frames = int(np.ceil(tokens_to_frames(1, recording.fs, model.nq.config)))
    if ds.context < token_frames:
        raise CalmError(f"--context must be at least one token ({token_frames} frames) for the CalM heads")
    window = ds.calm_window or max(2, frames_to_tokens(ds.context, recording.fs, model.nq.config))
    kw = dict(window_tokens=window, phases=ds.phases, device=str(device), seed=args.seed)
    bases = [CalmFeatures(model, name="calm_frozen", **kw)]
    if not args.no_adapt and settings.steps + settings.full_steps > 0:
        # the recording's shared adaptation (cached; the one calm forecast and the docks use)
        adapted = engine.adapt_job(recording, settings).run(bar=not args.json)
        bases.append(CalmFeatures(adapted.model, name="calm_adapted", **kw))
    extractors = [b.view(f"{b.name}_{r}", READOUTS[r]) for b in bases for r in split_names(ds.readouts)]
    finetuned = [CalmFinetune(model, window_tokens=window, steps=ds.finetune_steps)] if ds.finetune_steps else []

    last = [-1.0]

    def progress(fraction: float, message: str) -> None:
        if not args.json and fraction - last[0] >= 0.05:
            last[0] = fraction
            print(f"[{100 * fraction:3.0f}%] {message}", file=sys.stderr, flush=True)

    result = decode(
        recording,
        args.target,
        extractors=extractors,
        finetuned=finetuned,
        baselines=split_names(ds.baselines),
        heads=split_names(ds.heads),
        level=ds.level,
        context=ds.context,
        n_folds=ds.folds,
        n_shifts=ds.shifts,
        min_per_class=ds.min_trials,
        seed=args.seed,
        device=str(device),
        progress=progress,
    )
    report = result.to_json()
    report.update(
        seconds=round(time.time() - t0, 1),
        checkpoint=str(args.checkpoint or engine.checkpoint),
        path=str(recording.source),
    )
    if args.out is not None:
        arrays = {
            "frames": result.frames,
            "times": result.times,
            "true": result.true,
            "fold": result.fold_of,
        }
        arrays.update({f"pred_{k}": v for k, v in result.predictions.items()})
        save_npz(args.out, arrays, report)
    if args.json:
        print(dumps(report))
        return 0
    metric = report["metric"]
    print(
        f"{recording.source}: {args.target} ({result.kind}, per {result.level}, {len(result.true)} samples, "
        f"{ds.folds} folds, gap {result.settings['gap']} frames)"
    )
    for name in result.calm_models + result.baseline_models:
        s = result.scores[name]
        extra = f"  r {s['r']:.3f}" if "r" in s else ""
        print(f"  {name:22s} {metric} {s[metric]:.3f}{extra}")
    print(f"  {'chance (shifted)':22s} {metric} {report['chance']:.3f}")
    if args.out is not None:
        print(f"wrote {args.out}")
    return 0
