"""``calm embed PATH --out emb.npz``: neuron embeddings, a 2-D map, cue/choice tuning and probes.

Embeddings come from CalM: time-averaged DAT states of every neuron (``mean_state``) and, after a
label-free adaptation to the recording (default 300 steps; ``--no-adapt`` skips it), the learned
neuron embeddings (``neuron_embedding``, the primary one when present). ``activity_pcs`` (loadings
on the population's principal components) is added as a reference. The primary embedding is
mapped to 2-D with PCA or UMAP. With a trial table holding ``cue``/``choice``, each neuron gets ROC
AUC, SI = 2(AUC − 0.5), permutation p-values and FDR q-values, and every embedding is probed
(cross-validated over neurons, against shuffles).

``--json`` prints one object::

    {"n_neurons", "method", "primary", "embeddings": {name: [N, D]},
     "selectivity": {column: {"classes", "condition_on", "n_trials", "n_significant", ...}},
     "probes": {embedding: {"si_cue", "si_choice", "strength": {"score", "r", "shuffled_mean",
                "shuffled_p95", "p", ...}, "gradient": {...}, "separation": {...}}},
     "adapted", "seconds", "checkpoint", "path", "out"}

The .npz holds ``coords``, ``emb_<name>``, ``auc_/si_/p_/q_/significant_<column>``, ``strength``,
``selective`` and the same JSON (under ``json``).
"""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``calm embed``."""
    parser.add_argument("path", help="recording (any readable format)")
    parser.add_argument(
        "--out", type=Path, required=True, metavar="FILE", help="write the results to this .npz"
    )
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    parser.add_argument(
        "--checkpoint",
        type=Path,
        metavar="DIR",
        help="CalM checkpoint (default: the shipped model)",
    )
    parser.add_argument(
        "--method", choices=("pca", "umap"), default="pca", help="2-D map (default pca)"
    )
    parser.add_argument(
        "--json", action="store_true", help="print one JSON object with the probe scores"
    )
    parser.add_argument(
        "--steps",
        type=int,
        default=300,
        metavar="N",
        help="label-free adaptation steps that learn the neuron embeddings (default 300)",
    )
    parser.add_argument(
        "--no-adapt", action="store_true", help="no adaptation: time-averaged states only"
    )
    parser.add_argument(
        "--perm", type=int, default=1000, metavar="N", help="permutations of the selectivity test"
    )
    parser.add_argument(
        "--shuffles", type=int, default=200, metavar="N", help="shuffles of each probe's control"
    )
    parser.add_argument(
        "--min-trials", type=int, default=5, metavar="N", help="minimum trials per condition"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed (default 0)")
    parser.add_argument("--fs", type=float, metavar="HZ", help="frame rate (overrides the files)")
    parser.add_argument("--device", default="auto", help="cpu, cuda or auto (default)")


def run(args: argparse.Namespace) -> int:
    """Embed, test tuning, probe and write."""
    import sys
    import time

    from src_models.readers import read_recording
    from src_models.analysis.calm_features import CalmFeatures
    from src_models.analysis.neuron_map import analyse_neurons
    from src_models.analysis.output import dumps, save_npz
    from src_models.dat.calm import default_calm_path, load_calm
    from src_models.device import resolve_device
    from src_models.errors import CalmError
    from src_models.outputs import claim_output

    if args.out.suffix != ".npz":
        raise CalmError("output file must end in .npz", args.out)
    claim_output(args.out, "embed", folder=False, overwrite=args.overwrite)
    if args.steps < 0 or args.perm < 0 or args.shuffles < 0:
        raise CalmError("--steps, --perm and --shuffles must be >= 0")
    t0 = time.time()
    recording = read_recording(args.path, fs=args.fs)
    device = resolve_device(args.device)
    model = load_calm(args.checkpoint, device=device)
    adapt = None if args.no_adapt or args.steps == 0 else {"embed_steps": args.steps}
    extractor = CalmFeatures(model, name="calm", adapt=adapt, device=str(device), seed=args.seed)
    last = [-1.0]

    def progress(fraction: float, message: str) -> None:
        if not args.json and fraction - last[0] >= 0.05:
            last[0] = fraction
            print(f"[{100 * fraction:3.0f}%] {message}", file=sys.stderr, flush=True)

    result = analyse_neurons(
        recording,
        extractor,
        method=args.method,
        n_perm=args.perm,
        n_shuffles=args.shuffles,
        min_trials=args.min_trials,
        seed=args.seed,
        progress=progress,
    )
    report = result.to_json()
    report.update(
        adapted=adapt is not None,
        seconds=round(time.time() - t0, 1),
        checkpoint=str(args.checkpoint or default_calm_path()),
        path=str(recording.source),
        out=str(args.out),
    )
    save_npz(args.out, result.arrays(), report)
    if args.json:
        print(dumps(report))
        return 0
    print(
        f"{recording.source}: {result.n_neurons} neurons, map: {args.method.upper()} of {result.primary}"
    )
    for col, s in result.selectivity.items():
        cond = f" | {s.condition_on}" if s.condition_on else ""
        print(f"  {col}{cond}: {int(s.significant.sum())} selective neurons (FDR {s.alpha})")
    for name, pr in result.probes.items():
        parts = [
            f"{k} R² {v['score']:.3f} (shuffled {v['shuffled_mean']:.3f})"
            for k, v in pr.items()
            if isinstance(v, dict) and v.get("metric") == "r2"
        ]
        print(f"  {name}: " + "; ".join(parts))
    if not result.selectivity:
        print("  no cue/choice trial columns: embeddings and map only")
    print(f"wrote {args.out}")
    return 0
