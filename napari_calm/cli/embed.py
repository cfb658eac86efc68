"""``calm embed PATH --out emb.npz``: neuron embeddings, a 2-D map, cue/choice tuning and probes.

Embeddings come from CalM, after a label-free adaptation to the recording (``CalM.adapt``: the steps and
cache ``calm forecast`` and the docks use, ``--strategy auto`` by default; ``--no-adapt`` uses the model as shipped): ``state_loadings`` (the primary one: each neuron's
loadings on the principal components of the pretrained DAT's states of the centred-baseline ΔF/F,
averaged in 4 time bins of every trial — trial timing only, no labels), time-averaged states (``mean_state``) and the learned neuron
embeddings (``neuron_embedding``). ``activity_pcs`` (loadings on the population's principal
components) is added as a reference. The primary embedding is mapped to 2-D with UMAP (default)
or PCA. With a trial table holding ``cue``/``choice``, each neuron gets ROC
AUC, SI = 2(AUC − 0.5), permutation p-values and FDR q-values, and every embedding is probed
(cross-validated over neurons, against shuffles).

``--json`` prints one object::

    {"n_neurons", "method", "primary", "embeddings": {name: [N, D]},
     "selectivity": {column: {"classes", "condition_on", "n_trials", "n_significant", ...}},
     "probes": {embedding: {"si_cue", "si_choice", "strength": {"score", "r", "shuffled_mean",
                "shuffled_p95", "p", ...}, "gradient": {...}, "separation": {...}}},
     "adapted", "preparation", "seconds", "checkpoint", "path", "out"}

The .npz holds ``coords``, ``emb_<name>``, ``auc_/si_/p_/q_/significant_<column>``, ``strength``,
``selective`` and the same JSON (under ``json``).
"""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``calm embed``."""
    from napari_calm.cli.options import add_model_options, add_settings
    from napari_calm.cli.recording_options import add_recording_options
    from src_models.settings import AdaptSettings, EmbedSettings

    parser.add_argument("path", help="recording (any readable format)")
    parser.add_argument("--out", type=Path, required=True, metavar="FILE", help="write the results to this .npz")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    add_recording_options(parser)
    add_model_options(parser)
    add_settings(parser, AdaptSettings)
    add_settings(parser, EmbedSettings)
    parser.add_argument("--json", action="store_true", help="print one JSON object with the probe scores")
    parser.add_argument("--no-adapt", action="store_true", help="no adaptation: time-averaged states only")


def run(args: argparse.Namespace) -> int:
    """Embed, test tuning, probe and write."""
    import time

    from napari_calm.cli.options import settings_from
    from napari_calm.cli.recording_options import read_with_options
    from src_models.engine import CalM
    from src_models.errors import CalmError
    from src_models.outputs import claim_output, dumps, save_npz
    from src_models.settings import AdaptSettings, EmbedSettings

    es = settings_from(args, EmbedSettings)
    settings = settings_from(args, AdaptSettings, **({"steps": 0, "full_steps": 0} if args.no_adapt else {}))
    if args.out.suffix != ".npz":
        raise CalmError("output file must end in .npz", args.out)
    claim_output(args.out, "embed", folder=False, overwrite=args.overwrite)
    t0 = time.time()
    recording = read_with_options(args.path, args)
    model = CalM.load(args.checkpoint, device=args.device)
    adapted = model.adapt_job(recording, settings).run(bar=not args.json)
    result = adapted.embed(method=es.method, n_perm=es.perm, n_shuffles=es.shuffles, min_trials=es.min_trials)
    report = result.to_json()
    report.update(
        adapted=settings.steps + settings.full_steps > 0,
        preparation=adapted.prep.report,
        seconds=round(time.time() - t0, 1),
        checkpoint=str(args.checkpoint or model.checkpoint),
        path=str(recording.source),
        out=str(args.out),
    )
    save_npz(args.out, result.arrays(), report)
    if args.json:
        print(dumps(report))
        return 0
    print(f"{recording.source}: {result.n_neurons} neurons, map: {es.method.upper()} of {result.primary}")
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
