"""Why CalM ranks where it does: forecasting correlation under controlled changes.

Runs :func:`src_models.bench.runner.run_benchmark` on one builtin dataset of a
suite for

* several context lengths (``--contexts 16,48,96``), and/or
* several CalM bundles (``--checkpoints name=DIR,...``: e.g. DATs pretrained
  on corpora of different sizes, or with NQ tokenizers of different patch
  lengths, i.e. tokens per frame),

and prints one markdown table (rows: setting × model, columns: correlation
×100, prediction score, MSE; mean ± SEM over seeds) and writes the rows to
``--out`` as JSON.

Example::

    OMP_NUM_THREADS=1 python benchmarks/bench_ablation.py --dataset sim-poco \
        --models mlp,poco,calm --contexts 16,48,96 --seeds 2 --out ablation_context.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch


def main(argv: list[str] | None = None) -> int:
    from src_models.bench.registry import parse_models
    from src_models.bench.runner import run_benchmark
    from src_models.bench.suites import builtin_sources, suite_budgets

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--suite", default="full", choices=("quick", "full"))
    p.add_argument("--dataset", default="sim-poco")
    p.add_argument("--models", default="mlp,poco,calm,calm_scratch")
    p.add_argument("--contexts", default="48", help="comma-separated context lengths")
    p.add_argument("--horizon", type=int, default=16)
    p.add_argument("--checkpoints", default="", help="name=DIR,... CalM bundles to compare")
    p.add_argument("--seeds", type=int, default=2)
    p.add_argument("--steps", type=int, default=None)
    p.add_argument("--out", required=True)
    args = p.parse_args(argv)

    torch.set_num_threads(1)

    from src_models.readers import read_recording

    models = parse_models(args.models)
    budget, foundation_budget = suite_budgets(args.suite, args.steps)
    sources, notes = builtin_sources(args.suite, [args.dataset], read_recording)
    if not sources:
        print("; ".join(notes), file=sys.stderr)
        return 2
    ckpts = [tuple(c.split("=", 1)) for c in args.checkpoints.split(",") if c] or [("shipped", None)]
    rows = []
    for context in [int(c) for c in args.contexts.split(",")]:
        for ck_name, ck_dir in ckpts:
            opts = {} if ck_dir is None else {"checkpoint": ck_dir}
            use = models if ck_dir is None or len(ckpts) == 1 else [m for m in models if m.startswith("calm")]
            t0 = time.perf_counter()
            res = run_benchmark(
                sources, use, seeds=args.seeds, budget=budget,
                foundation_budget=foundation_budget, context=context,
                horizon=args.horizon, model_options={"calm": opts, "calm_scratch": opts},
                log=lambda s: print(s, file=sys.stderr, flush=True),
            )
            for r in res.rows:
                uses_calm = r["model"].startswith("calm")
                r.update(setting_context=context, setting_checkpoint=ck_name if uses_calm else "—")
            rows += res.rows
            print(f"context {context}, checkpoint {ck_name}: {time.perf_counter() - t0:.0f} s",
                  file=sys.stderr)
    Path(args.out).write_text(json.dumps(rows, indent=1, default=float))
    print("| Context | CalM bundle | Model | Correlation ×100 | Prediction score | MSE |")
    print("|---|---|---|---|---|---|")
    keys = dict.fromkeys((r["setting_context"], r["setting_checkpoint"], r["label"]) for r in rows)
    for c, ck, label in keys:
        g = [r for r in rows if (r["setting_context"], r["setting_checkpoint"], r["label"]) == (c, ck, label)]

        def ms(k: str, scale: float = 1.0, d: int = 2) -> str:
            v = np.array([r[k] for r in g], float) * scale
            sem = v.std(ddof=1) / np.sqrt(len(v)) if len(v) > 1 else 0.0
            return f"{v.mean():.{d}f} ± {sem:.{d}f}"

        print(f"| {c} | {ck} | {label} | {ms('corr', 100)} | {ms('prediction_score', 1, 3)} | "
              f"{ms('mse', 1, 4)} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
