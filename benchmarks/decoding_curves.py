"""Where a pretrained representation should help: few labelled trials, and a new session.

Parts (results merge into one JSON file):

``curves``
    Learning curves on task simulations (``simulate('task', seed=s)``): cue and choice decoded per
    trial (4 time bins of the trial) by ridge (penalty by inner contiguous CV, or the middle of the
    grid below 30 trials) on the z-scored traces, on the traces projected on the neurons' loadings
    on the top 16 activity PCs (``ridge_activity_pcs``) or on CalM's label-free
    ``state_loadings`` (``calm_state_loadings``: 16 population signals weighted by CalM's neuron
    embedding), on CalM's per-neuron states (4 shared principal axes, frozen model) and on CalM's
    states pooled over neurons (mean + std). The 5 trial folds of
    ``calm decode`` (gap = the CalM heads' reach); in each fold a decoder is fitted on ``n``
    training trials drawn class-balanced at random (``--repeats`` draws) and tested on the fold's
    whole test run. Balanced accuracy, mean over folds and draws.
``sessions``
    Cross-session transfer on ``simulate('corpus', seed=s)`` (two sessions per animal, different
    neurons, neuron counts and frame rates): choice and cue per trial, fitted on all trials of
    session A and tested on session B (both directions), against a within-session 5-fold score on
    B. Per-neuron decoders cannot be applied to other neurons, so the models are neuron-order free:
    ridge on the population mean + std of the z-scored traces, and on CalM's states pooled over
    neurons (mean + std, frozen model); each session's features are standardised by that session's
    own statistics (label-free) before fitting or applying a decoder.

Example::

    export OMP_NUM_THREADS=1
    python benchmarks/decoding_curves.py --part curves --seeds 11 12 13 --out curves.json
    python benchmarks/decoding_curves.py --part sessions --out curves.json
    python benchmarks/decoding_curves.py --markdown --out curves.json
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

#: labelled training trials of the learning curves (0 = every training trial of the fold)
SIZES = (4, 8, 16, 32, 0)
TARGETS = ("cue", "choice")


def _features(rec: Any, model: Any) -> dict[str, np.ndarray]:
    """``(T, d)`` per-frame series of every model: traces, CalM per neuron, CalM pooled."""
    from src_models.analysis.calm_features import CalmFeatures
    from src_models.analysis.decoding import zscored_traces
    from src_models.analysis.embedding import activity_embedding

    calm = CalmFeatures(model, name="calm_neurons", window_tokens=6)
    z = zscored_traces(rec)
    return {
        "ridge_traces": z,
        "ridge_activity_pcs": z @ activity_embedding(rec.traces),
        "ridge_pooled_traces": np.c_[z.mean(1), z.std(1)],
        "calm_neurons": calm.frame_features(rec),
        "calm_pooled": calm.view("calm_pooled", ("mean", "std")).frame_features(rec),
        "calm_state_loadings": z @ calm.neuron_embeddings(rec)["state_loadings"],
    }


def _fit_score(
    inputs: Any, tgt: Any, train: np.ndarray, test: np.ndarray, gap: int, other: Any = None
) -> float:
    """Balanced accuracy of ridge fitted on ``train`` and tested on ``test`` (of ``other``'s
    ``(inputs, target)`` when given: another session)."""
    from src_models.analysis.decoders import RidgeDecoder
    from src_models.analysis.scores import balanced_accuracy

    dec = RidgeDecoder("discrete", len(tgt.classes), gap).fit(inputs, train, tgt.y, tgt.frames)
    truth = tgt.y if other is None else other[1].y
    return balanced_accuracy(truth[test], dec.predict(inputs if other is None else other[0], test))


def curves(seed: int, model: Any, repeats: int) -> dict[str, Any]:
    """Balanced accuracy against the number of labelled training trials."""
    from src_models.analysis.decoding import make_folds
    from src_models.analysis.inputs import TrialInputs
    from src_models.analysis.targets import resolve_target
    from src_models.simulation import simulate

    rec = simulate("task", seed=seed)[0].recording
    t0 = time.time()
    feats = _features(rec, model)
    feats.pop("ridge_pooled_traces")
    out: dict[str, Any] = {"feature_seconds": round(time.time() - t0, 1)}
    gap = 103
    for name in TARGETS:
        tgt = resolve_target(rec, name)
        folds = make_folds(tgt, 5, gap)
        inputs = {m: TrialInputs(f, tgt.start, tgt.end) for m, f in feats.items()}
        rng = np.random.default_rng(seed)
        res: dict[str, dict[str, float]] = {m: {} for m in inputs}
        for n in SIZES:
            scores: dict[str, list[float]] = {m: [] for m in inputs}
            for fold in folds:
                for _ in range(1 if n == 0 else repeats):
                    if n == 0:
                        train = fold.train
                    else:
                        per = [rng.permutation(fold.train[tgt.y[fold.train] == c]) for c in (0, 1)]
                        train = np.sort(np.concatenate([p[: n // 2] for p in per]))
                    for m, inp in inputs.items():
                        scores[m].append(_fit_score(inp, tgt, train, fold.test, gap))
            for m in inputs:
                res[m][str(n or "all")] = float(np.mean(scores[m]))
        out[name] = res
    return out


def sessions(seed: int, model: Any) -> dict[str, Any]:
    """Fit on one session of an animal, test on the other, against within-session CV."""
    from src_models.analysis.decoding import make_folds
    from src_models.analysis.inputs import TrialInputs
    from src_models.analysis.targets import resolve_target
    from src_models.simulation import simulate

    sims = simulate("corpus", seed=seed)
    by_animal: dict[int, list[Any]] = {}
    for s in sims:
        by_animal.setdefault(int(s.ground_truth["animal"]), []).append(s.recording)
    rows = []
    for animal, recs in sorted(by_animal.items()):
        data = []
        for rec in recs:
            feats = _features(rec, model)
            for per_neuron in ("ridge_traces", "ridge_activity_pcs"):
                feats.pop(per_neuron)
            for per_neuron in ("calm_neurons", "calm_state_loadings"):
                feats.pop(per_neuron)
            # every session standardised by its own statistics (label-free): frame rates and
            # neuron counts differ, so the raw pooled features shift between sessions
            feats = {m: (f - f.mean(0)) / np.maximum(f.std(0), 1e-12) for m, f in feats.items()}
            data.append((rec, feats))
        for (ra, fa), (rb, fb) in ((data[0], data[1]), (data[1], data[0])):
            for name in TARGETS:
                ta, tb = resolve_target(ra, name), resolve_target(rb, name)
                row = {
                    "animal": animal,
                    "target": name,
                    "train": f"{ra.n_neurons} neurons, {ra.fs:g} Hz",
                    "test": f"{rb.n_neurons} neurons, {rb.fs:g} Hz",
                }
                for m in fa:
                    ia = TrialInputs(fa[m], ta.start, ta.end)
                    ib = TrialInputs(fb[m], tb.start, tb.end)
                    test = np.arange(len(tb))
                    row[f"{m}_cross"] = _fit_score(ia, ta, np.arange(len(ta)), test, 0, (ib, tb))
                    gap = int(np.ceil(103 * rb.fs / 15.0))  # the CalM heads' reach at 15 Hz
                    folds = make_folds(tb, 5, gap)
                    within = [_fit_score(ib, tb, f.train, f.test, gap) for f in folds]
                    row[f"{m}_within"] = float(np.mean(within))
                rows.append(row)
    return {"rows": rows}


def markdown(res: dict[str, Any]) -> str:
    """The tables of BENCHMARKS.md."""
    lines = []
    seeds = sorted(k for k in res if k.startswith("curves_"))
    if seeds:
        models = list(res[seeds[0]][TARGETS[0]])
        sizes = " | ".join(f"{n or 'all'} trials" for n in SIZES)
        lines.append(f"| target | model | {sizes} |")
        lines.append("|---|---|" + "---|" * len(SIZES))
        for t in TARGETS:
            for m in models:
                cells = []
                for n in SIZES:
                    v = [res[s][t][m][str(n or "all")] for s in seeds]
                    cells.append(f"{np.mean(v):.3f} ± {np.std(v):.3f}")
                lines.append(f"| {t} | {m} | " + " | ".join(cells) + " |")
        lines.append(f"\n(seeds {', '.join(s[7:] for s in seeds)}; mean ± sd over seeds)\n")
    for key in sorted(k for k in res if k.startswith("sessions_")):
        rows = res[key]["rows"]
        models = [k[:-6] for k in rows[0] if k.endswith("_cross")]
        head = " | ".join(f"{m} A→B | {m} within B" for m in models)
        lines.append(f"| animal | target | train A | test B | {head} |")
        lines.append("|---|---|---|---|" + "---|---|" * len(models))
        for r in rows:
            cells = " | ".join(f"{r[m + '_cross']:.3f} | {r[m + '_within']:.3f}" for m in models)
            pair = f"{r['animal']} | {r['target']} | {r['train']} | {r['test']}"
            lines.append(f"| {pair} | {cells} |")
    return "\n".join(lines)


def main() -> None:
    import torch

    from src_models.dat.calm import load_calm

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--part", action="append", choices=("curves", "sessions"), default=[])
    parser.add_argument("--seeds", type=int, nargs="+", default=[11, 12, 13])
    parser.add_argument("--corpus-seed", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args()
    res = json.loads(args.out.read_text()) if args.out.is_file() else {}
    if args.part:
        torch.set_num_threads(1)
        model = load_calm(None, device="cpu")
    if "curves" in args.part:
        for s in args.seeds:
            res[f"curves_{s}"] = curves(s, model, args.repeats)
            args.out.write_text(json.dumps(res, indent=1))
            print(f"curves seed {s} done", flush=True)
    if "sessions" in args.part:
        res[f"sessions_{args.corpus_seed}"] = sessions(args.corpus_seed, model)
        args.out.write_text(json.dumps(res, indent=1))
    if args.markdown:
        print(markdown(res))


if __name__ == "__main__":
    main()
