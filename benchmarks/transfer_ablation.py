"""Ablation of the transfer suite's CalM row: old CalM, + linear skip path, + adaptation strategy.

For each transfer dataset the shipped CalM is adapted through the engine (``calm forecast``'s path)
with ``--strategy auto`` (the embeddings phase, then the whole DAT early-stopped, the lower
validation loss kept) and, when auto keeps the full phase, ``--strategy embeddings``. The cells, each
chosen on validation only:

* old CalM: embeddings strategy, best of CalM's own variants (greedy, sample_mean, regression);
* + skip: embeddings strategy, best of every variant (the ridge VAR and its blends too);
* + strategy: auto strategy, CalM's own variants;
* + skip + strategy: auto strategy, every variant (what ``calm forecast`` reports now).

Example::

    OMP_NUM_THREADS=1 PYTHONPATH=. python benchmarks/transfer_ablation.py --datasets worm,hippocampy
"""

from __future__ import annotations

import argparse
import json
import time


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--datasets", default="worm,hippocampy,sim-chaos,sim-assembly,triplett")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()

    from src_models.bench.transfer import transfer_sources
    from src_models.dat.forecast import VARIANTS
    from src_models.engine import CalM
    from src_models.readers import read_recording

    sources, _ = transfer_sources(args.datasets.split(","), read_recording)
    model = CalM.from_pretrained()
    print("| dataset | cell | strategy | variant | corr ×100 | prediction score |\n|---|---|---|---|---|---|")
    for src in sources:
        rec = src.load()
        runs = {}
        for strategy in ("auto", "embeddings"):
            if strategy == "embeddings" and runs["auto"][0]["strategy"] == "embeddings":
                runs[strategy] = runs["auto"]  # the same adaptation
                continue
            t = time.time()
            ad = model.adapt_job(rec, cache=False, strategy=strategy, seed=args.seed, dff=src.dff).run()
            runs[strategy] = (ad.info, ad.forecast(), round(time.time() - t, 1))
        for cell, strategy, names in (("old CalM", "embeddings", VARIANTS), ("+ skip", "embeddings", None),
                                      ("+ strategy", "auto", VARIANTS), ("+ skip + strategy", "auto", None)):
            info, fc, _ = runs[strategy]
            val = {k: v for k, v in fc.val_mse.items() if names is None or k in names}
            pick = min(val, key=val.get)
            m = fc.variant_metrics[pick]
            print(f"| {src.key} | {cell} | {strategy} | {pick} | {100 * m['corr']:.2f} | {m['prediction_score']:+.3f} |",
                  flush=True)
        print(json.dumps({s: {"info": r[0], "seconds": r[2], "val_mse": r[1].val_mse,
                              "skip": r[1].info.get("linear_skip")} for s, r in runs.items()}, default=str), flush=True)


if __name__ == "__main__":
    main()
