"""Ablation of the transfer suite's CalM row: old CalM, + ridge VAR, + pooled AR, + stacking.

For each transfer dataset the shipped CalM is adapted through the engine (``calm forecast``'s path,
default settings: the embeddings strategy) and forecasts once; the cells are the variant each
candidate set would select on validation MSE, scored on the test windows:

* old CalM: CalM's own variants (greedy, sample_mean, regression);
* + VAR skip: those and the ridge VAR of the training split (``var``);
* + AR: those and the pooled univariate ridge AR (``ar``);
* + stack: every variant, the convex stacks ``blend_*`` too (what ``calm forecast`` reports).

The JSON line after each dataset has every variant's validation MSE and the skip path's settings
and stack weights.

``--checkpoints A,B`` compares CalM bundles (``shipped`` is the shipped model; a pretraining run's
folder uses its ``best/``): the ``old CalM`` cell isolates what the DAT brings. ``--strategies``
compares adaptation strategies (default: ``embeddings``, ``calm forecast``'s default).

Example::

    OMP_NUM_THREADS=1 PYTHONPATH=. python benchmarks/transfer_ablation.py --datasets worm,hippocampy
    OMP_NUM_THREADS=1 PYTHONPATH=. python benchmarks/transfer_ablation.py --datasets worm,hippocampy,sim-assembly \
        --checkpoints shipped,/work/bench/pretrain2/run --strategies embeddings
"""

from __future__ import annotations

import argparse
import json
import time


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--datasets", default="worm,hippocampy,sim-chaos,sim-assembly,triplett")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--checkpoints", default="shipped", help="comma-separated CalM bundles or runs ('shipped')")
    p.add_argument("--strategies", default="embeddings", help="adaptation strategies to compare (embeddings, lora, full, auto)")
    args = p.parse_args()

    from src_models.bench.transfer import transfer_sources
    from src_models.dat.forecast import VARIANTS
    from src_models.engine import CalM
    from src_models.readers import read_recording

    sources, _ = transfer_sources(args.datasets.split(","), read_recording)
    cells = (("old CalM", VARIANTS), ("+ VAR skip", (*VARIANTS, "var")), ("+ AR", (*VARIANTS, "var", "ar")),
             ("+ stack", None))
    print("| model | dataset | strategy | cell | variant | corr ×100 | prediction score |\n|---|---|---|---|---|---|---|")
    for name, src in ((n, s) for n in args.checkpoints.split(",") for s in sources):
        model = CalM.load(None if name == "shipped" else name)
        rec = src.load()
        for strategy in args.strategies.split(","):
            t = time.time()
            ad = model.adapt_job(rec, cache=False, strategy=strategy, seed=args.seed, dff=src.dff).run()
            fc = ad.forecast()
            for cell, names in cells:
                val = {k: v for k, v in fc.val_mse.items() if names is None or k in names}
                pick = min(val, key=val.get)
                m = fc.variant_metrics[pick]
                print(f"| {name} | {src.key} | {ad.info['strategy']} | {cell} | {pick} | {100 * m['corr']:.2f} | "
                      f"{m['prediction_score']:+.3f} |", flush=True)
            print(json.dumps({"model": name, "dataset": src.key, "strategy": strategy,
                              "seconds": round(time.time() - t, 1), "val_mse": fc.val_mse,
                              "test": {k: [round(100 * m["corr"], 2), round(m["prediction_score"], 3)]
                                       for k, m in fc.variant_metrics.items()},
                              "skip": fc.info.get("linear_skip")}, default=str), flush=True)


if __name__ == "__main__":
    main()
