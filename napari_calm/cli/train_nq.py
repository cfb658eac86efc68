"""``calm train-nq``: train the NQ tokenizer on recordings (resumable, deterministic for a seed).

Each ``--data`` entry is any recording ``calm`` reads; ``PATH@A:B`` uses only
the fraction ``A``–``B`` of its frames (``rec.mat@0:0.6`` = the first 60 %),
so a held-out part can stay unseen. Re-running the same command continues
from the last checkpoint in ``--out``.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

SPLIT = re.compile(r"^(?P<path>.+)@(?P<a>\d*\.?\d+):(?P<b>\d*\.?\d+)$")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``calm train-nq``."""
    parser.add_argument("--data", nargs="+", required=True, metavar="PATH",
                        help="recordings to train on; PATH@A:B keeps the frames between fractions A and B")
    parser.add_argument("--out", required=True, metavar="DIR", help="checkpoint folder (resumed when it exists)")
    parser.add_argument("--config", metavar="FILE", help="NQ config JSON (default: built-in defaults)")
    parser.add_argument("--overwrite", action="store_true", help="start afresh in an --out calm wrote")
    parser.add_argument("--max-steps", type=int, metavar="N", help="training steps (overrides the config)")
    parser.add_argument("--seed", type=int, metavar="N", help="random seed (overrides the config)")
    parser.add_argument("--device", default="auto", help="cpu, cuda or auto (default)")
    parser.add_argument("--threads", type=int, metavar="N", help="CPU threads for torch")


def parse_data_spec(spec: str) -> tuple[Path, tuple[float, float] | None]:
    """``PATH`` or ``PATH@A:B`` -> (path, (A, B) fractions or None)."""
    from src_models.errors import CalmError

    m = SPLIT.match(spec)
    if m is None or Path(spec).exists():
        return Path(spec), None
    a, b = float(m["a"]), float(m["b"])
    if not 0 <= a < b <= 1:
        raise CalmError(f"frame range {a}:{b} must satisfy 0 <= A < B <= 1", m["path"])
    return Path(m["path"]), (a, b)


def display_name(path: Path, frac: tuple[float, float] | None) -> str:
    """Short, machine-independent label of a data entry (recorded in the checkpoint)."""
    name = f"{path.parent.name}/{path.name}" if path.parent.name else path.name
    return name if frac is None else f"{name}@{frac[0]:g}:{frac[1]:g}"


def run(args: argparse.Namespace) -> int:
    """Train and save; returns the exit status."""
    import torch
    from tqdm import tqdm

    from src_models.readers import read_recording
    from src_models.errors import CalmError
    from src_models.nq.config import NQConfig
    from src_models.nq.data import prepare_source
    from src_models.nq.train import train_nq
    from src_models.outputs import claim_output

    claim_output(args.out, "train-nq", folder=True, overwrite=args.overwrite, resume=True)
    if args.threads is not None:
        if args.threads < 1:
            raise CalmError(f"--threads must be at least 1, got {args.threads}")
        torch.set_num_threads(args.threads)
    config = NQConfig.from_json(args.config) if args.config else NQConfig()
    overrides = {k: v for k, v in (("steps", args.max_steps), ("seed", args.seed)) if v is not None}
    if overrides:
        config = NQConfig.from_dict({**config.to_dict(), **overrides}, args.config)
    sources = []
    for spec in args.data:
        path, frac = parse_data_spec(spec)
        rec = read_recording(path)
        frames = None
        if frac is not None:
            frames = (int(round(frac[0] * rec.n_frames)), int(round(frac[1] * rec.n_frames)))
        src = prepare_source(display_name(path, frac), rec.traces, rec.fs, config, frames)
        if src is None:
            print(f"warning: {spec}: skipped (shorter than one {config.window}-frame window "
                  f"or every neuron constant)", file=sys.stderr)
            continue
        sources.append(src)
        print(f"{spec}: {src.traces.shape[0]} neurons x {src.traces.shape[1]} frames at {rec.fs:g} Hz",
              file=sys.stderr)
    if not sources:
        raise CalmError("no usable training data in --data")
    bar = tqdm(total=config.steps, desc="train-nq", unit="step", file=sys.stderr, dynamic_ncols=True)
    last: dict = {}

    def progress(info: dict) -> None:
        if bar.n == 0 and info["step"] > 1:   # resumed from a checkpoint
            bar.update(info["step"] - 1)
        bar.update(1)
        bar.set_postfix(mse=f"{info['mse']:.4f}", ppl=f"{info['perplexity']:.0f}", tau=f"{info['tau']:.2f}")
        last.update(info)

    try:
        train_nq(sources, config, args.out, device=args.device, progress=progress)
    finally:
        bar.close()
    summary = f" (last step: mse {last['mse']:.4f}, perplexity {last['perplexity']:.0f})" if last else ""
    print(f"saved {args.out}: {config.steps} steps{summary}", file=sys.stderr)
    return 0
