"""Decoding and neuron embeddings: CalM against supervised decoders, planted tuning recovered.

Parts (results merge into one JSON file; adapted checkpoints are cached in ``--work``):

``selectivity``
    Task simulations (``simulate('task', seed=s)``, seeds not used by the shipped model): precision
    and recall of the cue | choice and choice | cue permutation tests (4 time bins, 1000
    permutations, FDR 5 %) against the planted cue / choice cells, overall and for strongly tuned
    cells (strength ≥ 0.5).
``adapt``
    CalM adapted to the first simulation without labels (``calm finetune``'s protocol: neuron and
    session embeddings, backbone frozen, ``ADAPT`` steps), saved under ``--work``.
``embedding``
    The adapted model's learned neuron embeddings and time-averaged states, and the activity
    reference embedding: ridge probes of cue SI, choice SI and tuning strength (CV over neurons,
    200 shuffles), a probe of the planted neuron type, selective-vs-untuned separation.
``decode``
    Angular velocity (per frame) and choice (per trial and per frame) on the simulation: ridge,
    MLP and GRU on the traces vs CalM heads (linear, MLP) on frozen and adapted DAT states, two
    read-outs (per-neuron PCs, pooled mean+std) on ``--phases`` shifted token grids, optionally CalM fine-tuned end to end per fold
    (``--finetune-steps``); 5 contiguous folds with a gap ≥ context.
``thunder``
    The real thunder mouse S1 movie: ROIs and traces by ``calm extract`` (suite2p), running speed
    decoded per frame with the same models.

Example::

    OMP_NUM_THREADS=1 python benchmarks/analysis_decoding.py --part selectivity --out analysis.json
    OMP_NUM_THREADS=1 python benchmarks/analysis_decoding.py --part adapt --part embedding --out analysis.json
    OMP_NUM_THREADS=1 python benchmarks/analysis_decoding.py --part decode --targets av --out analysis.json
    python benchmarks/analysis_decoding.py --markdown --out analysis.json   # print the tables

``--seed-table`` aggregates ``calm decode --json`` outputs (one file per target and seed) into one
row per target and level: every model's headline score as mean ± sd over
seeds, the hybrid head's CalM state weight (1: states stacked on the traces' residuals, 0: off), and the margin over the best baseline::

    python benchmarks/analysis_decoding.py --seed-table res/*.json
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

REAL = Path(__file__).resolve().parents[1].parent / "shared" / "real-data" / "thunder-mouse-s1"
#: label-free adaptation budget (neuron/session embeddings, backbone frozen)
ADAPT = {"embed_steps": 300}


def _adapted(model: Any, rec: Any, work: Path, name: str, seed: int) -> Any:
    """CalM adapted to ``rec`` without labels, cached as a checkpoint under ``work/name``."""
    from src_models.dat.calm import load_calm
    from src_models.dat.finetune import finetune

    folder = work / name
    if not (folder / "best" / "config.json").is_file():
        t0 = time.time()
        for info in finetune(model, rec, config=ADAPT, out=folder, seed=seed):
            if info["step"] % 50 == 0 or info["phase"] in ("done", "stopped"):
                print(
                    f"adapting {name}: step {info['step']}/{info['total']} ({time.time() - t0:.0f} s)",
                    file=sys.stderr,
                    flush=True,
                )
    return load_calm(folder / "best")


def _extractors(
    frozen: Any, adapted: Any, context: int, fs: float, seed: int, phases: int
) -> list:
    """Frozen and adapted CalM, each read out per neuron (4 PCs per neuron) and pooled (mean+std)."""
    from src_models.analysis.calm_features import CalmFeatures
    from src_models.nq.rate import frames_to_tokens

    window = max(2, frames_to_tokens(context, fs, frozen.nq.config))
    out = []
    for name, model in (("calm_frozen", frozen), ("calm_adapted", adapted)):
        if model is None:
            continue
        base = CalmFeatures(
            model, name=f"{name}_neurons", window_tokens=window, phases=phases, seed=seed
        )
        out += [base, base.view(f"{name}_pooled", ("mean", "std"))]
    return out


def _decode(
    rec: Any,
    target: str,
    extractors: list,
    finetuned: list,
    level: str | None,
    context: int,
    seed: int,
) -> dict:
    from src_models.analysis.decoding import decode

    t0 = time.time()
    res = decode(
        rec,
        target,
        extractors=extractors,
        finetuned=finetuned,
        level=level,
        context=context,
        n_shifts=20,
        seed=seed,
    )
    js = res.to_json()
    js["seconds"] = round(time.time() - t0, 1)
    js["fold_scores"] = {m: [s[res.metric] for s in v] for m, v in res.fold_scores.items()}
    return js


def part_selectivity(seeds: list[int]) -> dict:
    from src_models.analysis.selectivity import recovery, task_selectivity
    from src_models.preprocessing import delta_f_over_f
    from src_models.simulation import simulate

    rows = []
    for seed in seeds:
        s = simulate("task", seed=seed)[0]
        rec, gt = s.recording, s.ground_truth
        t0 = time.time()
        sel = task_selectivity(
            delta_f_over_f(rec.traces, rec.fs), rec.trials, n_perm=1000, seed=seed
        )
        secs = time.time() - t0
        strong = gt["tuning_strength"] >= 0.5
        for col, code in (("cue", 1), ("choice", 2)):
            planted = gt["neuron_type"] == code
            r = recovery(sel[col].significant, planted)
            pref = np.where(
                gt["preferred_side"] == 0, 1.0, -1.0
            )  # left-preferring planted = side 0
            sign_ok = np.mean(
                np.sign(-sel[col].si[planted & sel[col].significant])
                == pref[planted & sel[col].significant]
            )
            rows.append(
                {
                    "seed": seed,
                    "column": col,
                    "condition_on": sel[col].condition_on,
                    **r,
                    "recall_strong": float(sel[col].significant[planted & strong].mean()),
                    "sign_agreement": float(sign_ok),
                    "n_neurons": rec.n_neurons,
                    "n_trials": rec.n_trials,
                    "seconds": round(secs, 2),
                }
            )
    return {"selectivity": rows}


def part_adapt(model: Any, seed: int, work: Path) -> dict:
    from src_models.simulation import simulate

    t0 = time.time()
    _adapted(model, simulate("task", seed=seed)[0].recording, work, f"task{seed}", seed)
    return {"adapt": {"seed": seed, "config": ADAPT, "seconds": round(time.time() - t0, 1)}}


def part_embedding(model: Any, seed: int, work: Path) -> dict:
    from src_models.analysis.calm_features import CalmFeatures
    from src_models.analysis.embedding import probe_classification
    from src_models.analysis.neuron_map import analyse_neurons
    from src_models.simulation import simulate

    s = simulate("task", seed=seed)[0]
    rec, gt = s.recording, s.ground_truth
    adapted = _adapted(model, rec, work, f"task{seed}", seed)
    t0 = time.time()
    nm = analyse_neurons(
        rec, CalmFeatures(adapted, name="calm", seed=seed), n_perm=1000, n_shuffles=200, seed=seed
    )
    out = nm.to_json()
    out["type_probe"] = {
        name: probe_classification(emb, gt["neuron_type"], n_shuffles=200, seed=seed).to_json()
        for name, emb in nm.embeddings.items()
    }
    out["seconds"] = round(time.time() - t0, 1)
    out["seed"] = seed
    return {"embedding": out}


TARGETS = {
    "av": ("angular_velocity", None),
    "choice": ("choice", "trial"),
    "choice_frame": ("choice", "frame"),
}


def part_decode(
    model: Any,
    seed: int,
    context: int,
    work: Path,
    targets: list[str],
    finetune_steps: int,
    phases: int,
) -> dict:
    """Rows ``target/level -> decode JSON`` for the chosen targets of the task simulation."""
    from src_models.analysis.finetuned_head import CalmFinetune
    from src_models.nq.rate import frames_to_tokens
    from src_models.simulation import simulate

    rec = simulate("task", seed=seed)[0].recording
    adapted = _adapted(model, rec, work, f"task{seed}", seed)
    extractors = _extractors(model, adapted, context, rec.fs, seed, phases)
    window = max(2, frames_to_tokens(context, rec.fs, model.nq.config))
    finetuned = (
        [CalmFinetune(model, window_tokens=window, steps=finetune_steps)] if finetune_steps else []
    )
    rows = {}
    for key in targets:
        target, level = TARGETS[key]
        name = f"{target}/{level or 'frame'}"
        rows[name] = _decode(rec, target, extractors, finetuned, level, context, seed)
        print(
            f"{name}: {json.dumps({k: rows[name][k] for k in ('calm', 'calm_model', 'baselines', 'chance')})}",
            file=sys.stderr,
            flush=True,
        )
    return rows


def part_thunder(
    model: Any, seed: int, context: int, work: Path, finetune_steps: int, phases: int
) -> dict:
    from src_models.readers import read_recording
    from src_models.analysis.finetuned_head import CalmFinetune
    from src_models.nq.rate import frames_to_tokens

    movie = REAL / "mouse_s1_movie.tif"
    if not movie.is_file():
        return {"thunder": {"skipped": f"{movie} not found"}}
    out = work / "thunder_s2p"
    t0 = time.time()
    if not (out / "plane0" / "F.npy").is_file():
        subprocess.run(
            [
                sys.executable,
                "-m",
                "napari_calm.cli.main",
                "extract",
                str(movie),
                "--out",
                str(out),
                "--quiet",
                "--threads",
                "1",
                "--overwrite",
            ],
            check=True,
        )
    extract_s = time.time() - t0
    rec = read_recording(out, only_cells=False)
    adapted = _adapted(model, rec, work, "thunder", seed)
    window = max(2, frames_to_tokens(context, rec.fs, model.nq.config))
    finetuned = (
        [CalmFinetune(model, window_tokens=window, steps=finetune_steps)] if finetune_steps else []
    )
    row = _decode(
        rec,
        "runningSpeed",
        _extractors(model, adapted, context, rec.fs, seed, phases),
        finetuned,
        None,
        context,
        seed,
    )
    row.update(
        n_rois=rec.n_neurons, n_frames=rec.n_frames, fs=rec.fs, extract_seconds=round(extract_s, 1)
    )
    return {"thunder": row}


# -- markdown --------------------------------------------------------------------------------------
def _f(x: Any, nd: int = 3) -> str:
    return "–" if x is None else f"{x:.{nd}f}"


def _decode_table(rows: dict[str, dict]) -> list[str]:
    models = None
    lines = []
    for key, r in rows.items():
        if models is None:
            models = list(r["baselines"]) + list(r["calm_variants"])
            lines.append(
                "| target | metric | "
                + " | ".join(models)
                + " | chance | best CalM − best baseline |"
            )
            lines.append("|---" * (len(models) + 4) + "|")
        best_b = max(r["baselines"].values())
        scores = {**r["baselines"], **r["calm_variants"]}
        cells = [
            f"**{_f(scores[m])}**" if m in (r["calm_model"], r["best_baseline"]) else _f(scores[m])
            for m in models
        ]
        lines.append(
            f"| {key} | {r['metric']} | "
            + " | ".join(cells)
            + f" | {_f(r['chance'])} | {r['calm'] - best_b:+.3f} |"
        )
    return lines


def markdown(res: dict) -> str:
    out = []
    if "selectivity" in res:
        out += [
            "Planted cue/choice cells recovered by the selectivity test (ΔF/F trial means, ROC AUC, 1000",
            "permutations within the other column's conditions, BH-FDR 5 %); task simulation, 200 neurons,",
            "9000 frames at 15 Hz (~110 trials, 80 % correct), 40 planted cue and 40 choice cells.",
            "",
            "| seed | test | precision | recall | recall (strength ≥ 0.5) | SI sign = planted side | detected / planted |",
            "|---|---|---|---|---|---|---|",
        ]
        for r in res["selectivity"]:
            test = r["column"] + (f" \\| {r['condition_on']}" if r["condition_on"] else "")
            out.append(
                f"| {r['seed']} | {test} | {_f(r['precision'], 2)} | {_f(r['recall'], 2)} | "
                f"{_f(r['recall_strong'], 2)} | {_f(r['sign_agreement'], 2)} | {r['n_detected']} / {r['n_planted']} |"
            )
        out.append("")
    if "embedding" in res:
        e = res["embedding"]
        out += [
            f"Embedding probes (seed {e['seed']}; ridge, 5-fold CV over neurons, R² vs 200 shuffles; "
            f"{e['seconds']:.0f} s incl. adaptation).",
            "",
            "| embedding | cue SI R² (shuffled p95) | choice SI R² (shuffled p95) | strength R² (shuffled p95) | "
            "gradient r (CV) | selective vs untuned BA (shuffled) | planted type BA (shuffled) |",
            "|---|---|---|---|---|---|---|",
        ]
        for name, pr in e["probes"].items():
            sep = pr["separation"].get("probe", {})
            tp = e["type_probe"][name]
            out.append(
                f"| {name} | {_f(pr['si_cue']['score'])} ({_f(pr['si_cue']['shuffled_p95'])}) | "
                f"{_f(pr['si_choice']['score'])} ({_f(pr['si_choice']['shuffled_p95'])}) | "
                f"{_f(pr['strength']['score'])} ({_f(pr['strength']['shuffled_p95'])}) | {_f(pr['gradient']['r_cv'])} | "
                f"{_f(sep.get('score'))} ({_f(sep.get('shuffled_mean'))}) | {_f(tp['score'])} ({_f(tp['shuffled_mean'])}) |"
            )
        out.append("")
    if "decode_sim" in res:
        d = res["decode_sim"]
        out += [
            f"Decoding on the task simulation (seed {d['seed']}), 5 contiguous folds, gap ≥ context; "
            "R² for angular velocity, balanced accuracy for choice; chance = ridge on circularly shifted labels.",
            "",
        ]
        out += _decode_table(d["rows"]) + [""]
    if "thunder" in res and "skipped" not in res["thunder"]:
        t = res["thunder"]
        out += [
            f"Real data: thunder mouse S1 (500 frames, frame rate unknown, 10 Hz assumed), {t['n_rois']} suite2p "
            f"ROIs from `calm extract` ({t['extract_seconds']:.0f} s), running speed per frame.",
            "",
        ]
        out += _decode_table({"runningSpeed/frame": t}) + [""]
    return "\n".join(out)


def seed_table(files: list[str]) -> str:
    """Markdown table of ``calm decode --json`` files (one per target and seed): mean ± sd over seeds."""
    runs: dict[str, list[dict]] = {}
    for f in sorted(files):
        r = json.loads(Path(f).read_text())
        runs.setdefault(f"{r['target']}/{r['level']}", []).append(r)

    def ms(xs: list[float]) -> str:
        return f"{np.mean(xs):.3f} ± {np.std(xs):.3f}"

    first = next(iter(runs.values()))[0]
    models = list(first["baselines"]) + list(first["calm_variants"])
    out = [
        "| target | metric | seeds | " + " | ".join(models)
        + " | chance | CalM state weight (folds × seeds) | CalM − best baseline (per seed) | s per run |",
        "|---" * (len(models) + 7) + "|",
    ]
    for key, rs in runs.items():
        calm = [r["calm_variants"][r["calm_model"]] for r in rs]
        margin = [c - max(r["baselines"].values()) for c, r in zip(calm, rs)]
        weights = [w for r in rs for w in r["hyperparameters"][r["calm_model"]].get("weight", [])]
        out.append(
            f"| {key} | {rs[0]['metric']} | {len(rs)} | "
            + " | ".join(ms([r["scores"][m][r["metric"]] for r in rs]) for m in models)
            + f" | {ms([r['chance'] for r in rs])} | {ms(weights) if weights else '–'} | "
            + f"{ms(margin)} ({', '.join(f'{m:+.3f}' for m in margin)}) | "
            + f"{np.mean([r['seconds'] for r in rs]):.0f} |"
        )
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--part",
        action="append",
        default=[],
        choices=("selectivity", "adapt", "embedding", "decode", "thunder"),
    )
    p.add_argument(
        "--targets", default="av,choice,choice_frame", help=f"decode targets: {','.join(TARGETS)}"
    )
    p.add_argument("--checkpoint", help="CalM bundle (default: the shipped model)")
    p.add_argument(
        "--seeds",
        default="101,102,103",
        help="task-simulation seeds (the first is used beyond selectivity)",
    )
    p.add_argument("--context", type=int, default=48)
    p.add_argument(
        "--phases", type=int, default=4, help="token grids per patch of the CalM read-outs"
    )
    p.add_argument(
        "--finetune-steps",
        type=int,
        default=0,
        help="also train calm_finetuned for N steps per fold",
    )
    p.add_argument(
        "--work",
        default=str(Path(tempfile.gettempdir()) / "calm-analysis-bench"),
        help="folder for adapted checkpoints and the extracted thunder ROIs (reused between runs)",
    )
    p.add_argument("--out", help="JSON file the results merge into")
    p.add_argument("--seed-table", nargs="+", metavar="JSON", help="print the table of calm decode --json files")
    p.add_argument("--markdown", action="store_true", help="print the markdown tables of --out")
    args = p.parse_args(argv)
    if args.seed_table:
        print(seed_table(args.seed_table))
        return 0
    if args.out is None:
        p.error("--out is required")
    import torch

    torch.set_num_threads(1)
    out, work = Path(args.out), Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    res = json.loads(out.read_text()) if out.is_file() else {}
    seeds = [int(s) for s in args.seeds.split(",")]
    model = None
    if set(args.part) - {"selectivity"}:
        from src_models.dat.calm import load_calm

        model = load_calm(args.checkpoint)
    for part in args.part:
        t0 = time.time()
        if part == "selectivity":
            res.update(part_selectivity(seeds))
        elif part == "adapt":
            res.update(part_adapt(model, seeds[0], work))
        elif part == "embedding":
            res.update(part_embedding(model, seeds[0], work))
        elif part == "decode":
            rows = part_decode(
                model,
                seeds[0],
                args.context,
                work,
                args.targets.split(","),
                args.finetune_steps,
                args.phases,
            )
            res.setdefault("decode_sim", {"seed": seeds[0], "rows": {}})["rows"].update(rows)
        else:
            res.update(
                part_thunder(model, seeds[0], args.context, work, args.finetune_steps, args.phases)
            )
        res.setdefault("seconds", {})[part] = round(time.time() - t0, 1)
        res["checkpoint"] = args.checkpoint or "shipped default"
        out.write_text(json.dumps(res, indent=1, default=float))
        print(f"{part}: {time.time() - t0:.0f} s", file=sys.stderr, flush=True)
    if args.markdown:
        print(markdown(res))
    return 0


if __name__ == "__main__":
    sys.exit(main())
