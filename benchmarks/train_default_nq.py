"""Train the shipped default NQ tokenizer (``resources/weights/nq``), reproducibly.

The exact commands it runs (printed before running)::

    calm simulate --preset corpus --sessions 16 --seed 0 --out CORPUS
    calm train-nq --data CORPUS/session_000 ... CORPUS/session_015 \\
        REAL/triplett-zebrafish-tectum/zf_20151104-f1.mat@0:0.6 \\
        --out resources/weights/nq --config resources/configs/nq_default.json --seed 0 --threads 1

Training data: 16 simulated sessions (task network read out through GCaMP6s/6f/8m
at frame rates mixed between 2 and 100 Hz, seed 0) plus the first 60 % of the
frames of the real Triplett zebrafish-tectum recording (2.2 Hz ΔF/F). Held out
for evaluation (``benchmarks/nq_fidelity.py``): the last 40 % of Triplett, the
whole hippocampy suite2p recording, and simulated sessions from other seeds.

Usage::

    python benchmarks/train_default_nq.py [--corpus DIR] [--out DIR] [--threads N] [--hold-out-triplett]

``--hold-out-triplett`` leaves Triplett out (the tokenizer of the leave-one-recording-out model
that the transfer suite's Triplett column is measured with).

Re-running resumes from the last checkpoint in ``--out``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CORPUS_SESSIONS = 16


def main(argv: list[str] | None = None) -> int:
    """Simulate the corpus if needed, then train; returns the exit status."""
    from napari_calm.cli.main import main as calm
    from napari_calm.resources import cache_dir
    from src_models.bench.datasets import TRIPLETT, real_data_file

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=cache_dir() / "nq-corpus-seed0",
                        help="folder for the simulated corpus (created when absent)")
    parser.add_argument("--out", type=Path, default=REPO / "resources" / "weights" / "nq")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--hold-out-triplett", action="store_true",
                        help="train on the simulated sessions only (Triplett held out, for the transfer suite)")
    args = parser.parse_args(argv)
    sessions = [args.corpus / f"session_{k:03d}" for k in range(CORPUS_SESSIONS)]
    if not all(s.is_dir() for s in sessions):
        cmd = ["simulate", "--preset", "corpus", "--sessions", str(CORPUS_SESSIONS), "--seed", "0",
               "--out", str(args.corpus), "--overwrite"]
        print("calm " + " ".join(cmd), flush=True)
        if calm(cmd):
            return 1
    real = [] if args.hold_out_triplett else [f"{real_data_file(TRIPLETT)}@0:0.6"]
    cmd = ["train-nq", "--data", *map(str, sessions), *real,
           "--out", str(args.out), "--config", str(REPO / "resources" / "configs" / "nq_default.json"),
           "--seed", "0", "--threads", str(args.threads)]
    print("calm " + " ".join(cmd), flush=True)
    t0 = time.perf_counter()
    status = calm(cmd)
    print(f"wall time {time.perf_counter() - t0:.0f} s", flush=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
