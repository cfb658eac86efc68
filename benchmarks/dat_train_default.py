"""Train the shipped default CalM (``resources/weights/calm``), reproducibly.

The exact commands it runs (printed before running)::

    calm simulate --preset corpus --sessions 24 --seed 0 --out CORPUS
    calm pretrain --data CORPUS/session_000 ... CORPUS/session_023 \\
        REAL/triplett-zebrafish-tectum/zf_20151104-f1.mat@0:0.6 \\
        --out RUN --config resources/configs/dat_default.json --seed 0 \\
        --nq resources/weights/nq

then copies ``RUN/best`` (weights only, lowest validation loss) to ``--out``.

Training data: 24 simulated sessions (``corpus`` preset, seed 0: task networks of
12 related animals read out through GCaMP6s/6f/8m at frame rates mixed
between 2 and 100 Hz; sessions 0-15 are the ones the default NQ was trained
on) plus the first 60 % of the frames of the real Triplett zebrafish-tectum
recording. Never used: the last 40 % of Triplett, the hippocampy suite2p
recording, and simulations with other seeds (the benchmarks use seed 1000).
The last 10 % of every training range is the validation split.

Usage::

    python benchmarks/dat_train_default.py [--corpus DIR] [--run DIR] [--out DIR] [--threads N]

Re-running resumes from ``RUN/last``.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SESSIONS = 24


def main(argv: list[str] | None = None) -> int:
    """Simulate the corpus if needed, pretrain, copy the best checkpoint; returns the exit status."""
    from napari_calm.cli.main import main as calm
    from napari_calm.resources import cache_dir
    from src_models.bench.datasets import TRIPLETT, real_data_file

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=cache_dir() / "dat-corpus-seed0")
    parser.add_argument("--run", type=Path, default=cache_dir() / "dat-default-run")
    parser.add_argument("--out", type=Path, default=REPO / "resources" / "weights" / "calm")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--max-steps", type=int, help="override the config's max_steps")
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    sessions = [args.corpus / f"session_{k:03d}" for k in range(SESSIONS)]
    if not all(s.is_dir() for s in sessions):
        cmd = ["simulate", "--preset", "corpus", "--sessions", str(SESSIONS), "--seed", "0",
               "--out", str(args.corpus), "--overwrite"]
        print("calm " + " ".join(cmd), flush=True)
        if calm(cmd):
            return 1
    cmd = ["pretrain", "--data", *map(str, sessions), f"{real_data_file(TRIPLETT)}@0:0.6",
           "--out", str(args.run), "--config", str(REPO / "resources" / "configs" / "dat_default.json"),
           "--seed", "0", "--nq", str(REPO / "resources" / "weights" / "nq"), "--device", "cpu"]
    if args.max_steps:
        cmd += ["--max-steps", str(args.max_steps)]
    print("calm " + " ".join(cmd), flush=True)
    t0, c0 = time.perf_counter(), resource.getrusage(resource.RUSAGE_SELF)
    status = calm(cmd)
    c1 = resource.getrusage(resource.RUSAGE_SELF)
    print(f"wall time {time.perf_counter() - t0:.0f} s, CPU time {c1.ru_utime + c1.ru_stime - c0.ru_utime - c0.ru_stime:.0f} s",
          flush=True)
    if status:
        return status
    tmp = args.out.with_name(f".{args.out.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(args.run / "best", tmp)
    if args.out.exists():
        shutil.rmtree(args.out)
    os.replace(tmp, args.out)
    print(f"copied {args.run / 'best'} -> {args.out}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
