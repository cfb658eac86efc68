"""``calm decode PATH --target NAME``: decode behaviour with CalM and supervised baselines.

Targets are the recording's behaviour variables (decoded per frame) or trial columns (decoded per
trial, or per frame with ``--level frame``). Every model is scored on the same cross-validation
folds — contiguous blocks of frames or runs of whole trials, separated from the training samples
by at least the decoders' context — with R² (continuous) or balanced accuracy (discrete); chance
comes from circularly shifted labels. CalM's heads (linear and MLP) read DAT states — each
neuron's state on 4 shared principal axes (``--readouts neurons``) and/or their mean and std over
neurons (``pooled``) — of the model as shipped (``calm_frozen_*``) and, unless ``--no-adapt``, of a
copy adapted to the recording without labels (``calm_adapted_*``: ``CalM.adapt``, shared and cached with
``calm forecast`` and the docks, default 150 steps of new neuron/session embeddings, backbone frozen;
``--full-steps`` also fine-tunes the backbone). ``--finetune-steps N`` adds ``calm_finetuned``: the DAT and a head
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
    from src_models.settings import AdaptSettings

    parser.add_argument("path", help="recording (any readable format)")
    add_recording_options(parser)
    add_model_options(parser)
    add_settings(parser, AdaptSettings)
    parser.add_argument(
        "--target", required=True, metavar="NAME", help="behaviour variable or trial column"
    )
    parser.add_argument(
        "--json", action="store_true", help="print one JSON object with the scores"
    )
    parser.add_argument(
        "--out", type=Path, metavar="FILE", help="write decoded vs true series to this .npz"
    )
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    parser.add_argument(
        "--level", choices=("frame", "trial"), help="per frame or per trial (trial columns)"
    )
    parser.add_argument(
        "--context",
        type=int,
        default=48,
        metavar="C",
        help="decoder context in frames (default 48)",
    )
    parser.add_argument(
        "--folds", type=int, default=5, metavar="K", help="cross-validation folds (default 5)"
    )
    parser.add_argument(
        "--shifts",
        type=int,
        default=20,
        metavar="S",
        help="circular shifts for chance (default 20)",
    )
    parser.add_argument(
        "--baselines",
        default="ridge,mlp,gru",
        metavar="LIST",
        help="comma-separated supervised baselines (default ridge,mlp,gru)",
    )
    parser.add_argument(
        "--heads", default="linear,mlp", metavar="LIST", help="CalM heads (default linear,mlp)"
    )
    parser.add_argument(
        "--no-adapt", action="store_true", help="frozen model only, no adapted variant"
    )
    parser.add_argument(
        "--finetune-steps",
        type=int,
        default=0,
        metavar="N",
        help="also fine-tune the DAT with a task head on each fold's labels for N steps "
        "(calm_finetuned; default 0 = off)",
    )
    parser.add_argument(
        "--readouts",
        default="neurons",
        metavar="LIST",
        help="CalM state read-outs: neurons (each neuron's state on 4 shared principal axes) "
        "and/or pooled (mean and std over neurons); default neurons",
    )
    parser.add_argument(
        "--phases",
        type=int,
        default=1,
        metavar="K",
        help="token grids per patch: states every P/K frames instead of every P (K times the "
        "cost; default 1)",
    )
    parser.add_argument(
        "--calm-window",
        type=int,
        metavar="TOKENS",
        help="tokens per DAT pass (default: the tokens covering --context, so every decoder "
        "reads the same window)",
    )
    parser.add_argument(
        "--min-trials",
        type=int,
        default=5,
        metavar="N",
        help="minimum trials per class (default 5)",
    )


#: CalM read-outs offered on the command line
READOUTS = {"neurons": ("neuron_pcs",), "pooled": ("mean", "std")}


def _names(text: str) -> tuple[str, ...]:
    return tuple(n.strip() for n in text.split(",") if n.strip())


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
    from src_models.analysis.output import dumps, save_npz
    from src_models.analysis.targets import resolve_target
    from src_models.engine import CalM
    from src_models.errors import CalmError
    from src_models.nq.rate import frames_to_tokens, tokens_to_frames
    from src_models.outputs import claim_output
    from src_models.settings import AdaptSettings

    if (
        args.folds < 2
        or args.context < 1
        or min(args.shifts, args.finetune_steps) < 0
    ):
        raise CalmError("--folds must be >= 2, --context >= 1, --shifts/--finetune-steps >= 0")
    settings = settings_from(args, AdaptSettings)
    readouts = _names(args.readouts)
    if not readouts or set(readouts) - set(READOUTS):
        raise CalmError(f"unknown --readouts {args.readouts!r}; use any of {', '.join(READOUTS)}")
    if args.phases < 1:
        raise CalmError("--phases must be >= 1")
    if args.out is not None and args.out.suffix != ".npz":
        raise CalmError("output file must end in .npz", args.out)
    if args.out is not None:
        claim_output(args.out, "decode", folder=False, overwrite=args.overwrite)
    t0 = time.time()
    recording = read_with_options(args.path, args)
    resolve_target(
        recording,
        args.target,
        level=args.level,
        context=args.context,
        min_per_class=args.min_trials,
    )
    engine = CalM.load(args.checkpoint, device=args.device)
    model, device = engine.bundle, engine.bundle.device
    token_frames = int(np.ceil(tokens_to_frames(1, recording.fs, model.nq.config)))
    if args.context < token_frames:
        raise CalmError(
            f"--context must be at least one token ({token_frames} frames) for the CalM heads"
        )
    window = args.calm_window or max(
        2, frames_to_tokens(args.context, recording.fs, model.nq.config)
    )
    kw = dict(window_tokens=window, phases=args.phases, device=str(device), seed=args.seed)
    bases = [CalmFeatures(model, name="calm_frozen", **kw)]
    if not args.no_adapt and settings.steps + settings.full_steps > 0:
        # the recording's shared adaptation (cached; the one calm forecast and the docks use)
        adapted = engine.adapt_job(recording, settings).run(bar=not args.json)
        bases.append(CalmFeatures(adapted.model, name="calm_adapted", **kw))
    extractors = [b.view(f"{b.name}_{r}", READOUTS[r]) for b in bases for r in readouts]
    finetuned = (
        [CalmFinetune(model, window_tokens=window, steps=args.finetune_steps)]
        if args.finetune_steps
        else []
    )

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
        baselines=_names(args.baselines),
        heads=_names(args.heads),
        level=args.level,
        context=args.context,
        n_folds=args.folds,
        n_shifts=args.shifts,
        min_per_class=args.min_trials,
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
        f"{args.folds} folds, gap {result.settings['gap']} frames)"
    )
    for name in result.calm_models + result.baseline_models:
        s = result.scores[name]
        extra = f"  r {s['r']:.3f}" if "r" in s else ""
        print(f"  {name:22s} {metric} {s[metric]:.3f}{extra}")
    print(f"  {'chance (shifted)':22s} {metric} {report['chance']:.3f}")
    if args.out is not None:
        print(f"wrote {args.out}")
    return 0
