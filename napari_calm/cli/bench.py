"""``calm bench``: CalM against every forecasting baseline on identical windows.

Trains and evaluates the registered models (``--models``, all by default)
on the builtin datasets of a suite (POCO-style simulation, task simulation,
the Triplett tectum recording) and on any recording given with ``--data``,
then writes ``results.json`` (one row per dataset × model × seed) and
``results.md`` (the paper's table layout) into ``--out`` and prints the
correlation table.
"""

from __future__ import annotations

import argparse
import datetime
import json
import shlex
import sys
import time
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``calm bench``."""
    parser.add_argument(
        "--suite",
        choices=("quick", "full", "transfer"),
        default="quick",
        help="dataset sizes, training budget and default seeds (default: quick); "
        "transfer: recordings the pretrained CalM never saw, leave-one-recording-out",
    )
    parser.add_argument(
        "--datasets",
        default=None,
        metavar="A,B",
        help="builtin datasets to run: sim-poco, sim-task, triplett (transfer suite: triplett, "
        "worm, hippocampy, sim-chaos, sim-assembly), or 'none' (default: all of the suite's)",
    )
    parser.add_argument("--data", nargs="+", action="extend", default=[], metavar="PATH",
                        help="also benchmark these recordings (any format calm reads)")
    parser.add_argument("--models", default=None, metavar="A,B",
                        help="comma-separated model names (default: every registered model; "
                        "transfer suite: its eight rows)")
    parser.add_argument("--seeds", type=int, default=None, help="seeds per model (quick: 1, full: 3)")
    parser.add_argument("--context", type=int, default=48, help="context frames (default 48)")
    parser.add_argument("--horizon", type=int, default=16, help="forecast frames (default 16)")
    parser.add_argument("--steps", type=int, default=None, help="override the suite's max optimiser steps")
    parser.add_argument("--calm-checkpoint", default=None, metavar="DIR",
                        help="CalM bundle for the two CalM rows (default: the shipped model)")
    parser.add_argument("--device", default="auto", help="torch device (default: CUDA when available)")
    parser.add_argument("--out", required=True, help="output folder for results.json and results.md")
    parser.add_argument(
        "--resume",
        action="store_true",
        help="reuse the rows of an earlier run in --out (same settings) instead of retraining; "
        "its rows this run does not redo are kept",
    )
    parser.add_argument("--overwrite", action="store_true", help="start afresh in an --out calm bench wrote")
    parser.add_argument("--quiet", action="store_true", help="no progress lines")


def _command(args: argparse.Namespace, models: list[str], seeds: int) -> str:
    """The equivalent ``calm bench`` command line, for the record."""
    parts = ["calm", "bench", "--suite", args.suite]
    if args.datasets is not None:
        parts += ["--datasets", args.datasets]
    if args.data:
        parts += ["--data", *args.data]
    if args.models:
        parts += ["--models", ",".join(models)]
    parts += ["--seeds", str(seeds), "--context", str(args.context), "--horizon", str(args.horizon)]
    if args.steps is not None:
        parts += ["--steps", str(args.steps)]
    if args.calm_checkpoint:
        parts += ["--calm-checkpoint", str(args.calm_checkpoint)]
    parts += ["--out", str(args.out)]
    return " ".join(shlex.quote(p) for p in parts)


def run(args: argparse.Namespace) -> int:
    """Run the benchmark; returns the exit status."""
    from dataclasses import replace

    from src_models.readers import read_recording
    from src_models.bench.datasets import file_source
    from src_models.bench.registry import parse_models
    from src_models.bench.report import machine_description, markdown_tables, write_results
    from src_models.bench.runner import BenchResults, merge_results, run_benchmark
    from src_models.bench.suites import SUITE_SEEDS, builtin_sources, suite_budgets, suite_datasets
    from src_models.bench.transfer import TRANSFER_MODELS
    from src_models.errors import CalmError
    from src_models.outputs import claim_output

    claim_output(args.out, "bench", folder=True, overwrite=args.overwrite, resume=args.resume)
    if args.suite == "transfer" and not args.models:
        args.models = ",".join(TRANSFER_MODELS)
    models = parse_models(args.models)
    seeds = SUITE_SEEDS[args.suite] if args.seeds is None else args.seeds
    if seeds < 1:
        raise CalmError(f"--seeds must be at least 1, got {seeds}")
    if args.context < 1 or args.horizon < 1:
        raise CalmError(f"--context and --horizon must be positive, got {args.context} and {args.horizon}")
    budget, foundation_budget = suite_budgets(args.suite, args.steps)
    if args.datasets is None:
        keys = suite_datasets(args.suite)
    elif args.datasets.strip().lower() == "none":
        keys = []
    else:
        keys = [k.strip() for k in args.datasets.split(",") if k.strip()]
    sources, notes = builtin_sources(args.suite, keys, read_recording, args.calm_checkpoint)
    for path in args.data:
        sources.append(file_source(path, read_recording))
    if not sources:
        raise CalmError("nothing to benchmark: no builtin dataset available and no --data given")

    model_options = {}
    if args.calm_checkpoint:
        model_options = {m: {"checkpoint": args.calm_checkpoint} for m in ("calm", "calm_scratch")}
    settings = {
        "suite": args.suite,
        "context": args.context,
        "horizon": args.horizon,
        "budget": budget.describe(),
        "foundation_budget": foundation_budget.describe(),
        "calm_checkpoint": args.calm_checkpoint,
    }
    previous, previous_datasets = _previous_run(Path(args.out), settings) if args.resume else ([], [])
    log = (lambda s: None) if args.quiet else (lambda s: print(s, file=sys.stderr, flush=True))
    t0 = time.perf_counter()

    def meta() -> dict:
        return {
            "command": _command(args, models, seeds),
            "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
            "machine": machine_description(),
            **settings,
            "seeds": seeds,
            "models": models,
            "wall_time_s": round(time.perf_counter() - t0, 1),
        }

    def save(res: BenchResults) -> tuple[Path, Path]:
        res = merge_results(res, previous, previous_datasets)
        return write_results(args.out, replace(res, notes=notes + res.notes), meta())

    results = run_benchmark(
        sources, models, seeds=seeds, budget=budget, foundation_budget=foundation_budget,
        context=args.context, horizon=args.horizon, device=args.device, model_options=model_options,
        previous=previous, on_progress=save, log=log,
    )
    pj, pm = save(results)
    results = merge_results(results, previous, previous_datasets)
    columns = list(dict.fromkeys(d["column"] for d in results.datasets))
    print(markdown_tables(results.summary(), columns).split("\n\n### ")[0])
    for n in notes + results.notes:
        print(f"note: {n}")
    print(f"wrote {pj} and {pm}")
    return 0


def _previous_run(out: Path, settings: dict) -> tuple[list[dict], list[dict]]:
    """Rows and datasets of an earlier run in ``out`` made with the same ``settings`` (``--resume``)."""
    from src_models.errors import CalmError

    path = out / "results.json"
    if not path.is_file():
        return [], []
    try:
        old = json.loads(path.read_text())
        old_settings = {k: old["meta"].get(k) for k in settings}
        rows = list(old["rows"])
        datasets = list(old["datasets"])
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise CalmError(f"cannot resume from this file ({exc.__class__.__name__})", path) from None
    if old_settings != json.loads(json.dumps(settings)):
        changed = sorted(k for k in settings if old_settings[k] != json.loads(json.dumps(settings[k])))
        raise CalmError(
            f"cannot resume: written with other settings ({', '.join(changed)}); "
            "drop --resume or choose another --out",
            path,
        )
    return rows, datasets
