"""Train the shipped default CalM (``resources/weights/calm``), reproducibly.

The exact commands it runs (printed before running)::

    calm simulate --preset corpus --sessions 24 --seed 0 --out CORPUS
    calm pretrain --data CORPUS/session_000 ... CORPUS/session_023 \\
        REAL/triplett-zebrafish-tectum/zf_20151104-f1.mat@0:0.6 \\
        --out RUN --config resources/configs/dat_default.json --seed 0 \\
        --nq resources/weights/nq

then copies ``RUN/best`` (weights only, lowest validation loss) to ``--out``.

``--recipe v2 --max-steps 6000`` (the shipped model v5; v3 added ``--mask-neurons 0.25``;
model card) pretrains on the same data plus
:func:`v2_sessions`: spontaneous assemblies and task networks at 1.5-30 Hz
(mostly 1.5-10 Hz, like the real recordings), with varied indicators, noise
and bleaching, each partially observed (35-100 % of its neurons kept). They are
simulated on the fly from their names (``simulated/v2/...``, deterministic), so
a resumed run re-creates nothing it already tokenized. Never in it: worm,
hippocampy, chaotic rate networks read out unit by unit (``sim-chaos``) and the
transfer suite's seeds (1000; the assemblies here use seeds 5000-5015 and other
parameters, but the family is no longer held out).

Recipe ``default`` (the first shipped model, v1) — training data: 24 simulated sessions (``corpus`` preset, seed 0: task networks of
12 related animals read out through GCaMP6s/6f/8m at frame rates mixed
between 2 and 100 Hz; sessions 0-15 are the ones the default NQ was trained
on) plus the first 60 % of the frames of the real Triplett zebrafish-tectum
recording. Never used: the last 40 % of Triplett, the hippocampy suite2p
recording, and simulations with other seeds (the benchmarks use seed 1000).
The last 10 % of every training range is the validation split.

Usage::

    python benchmarks/dat_train_default.py [--corpus DIR] [--run DIR] [--out DIR] [--threads N]
    python benchmarks/dat_train_default.py --recipe v2 --run DIR [--max-steps N] [--threads N] [--mask-neurons F]
    python benchmarks/dat_train_default.py --manifest BUNDLE   # the model card's corpus table
    python benchmarks/dat_train_default.py --recipe v2 --max-steps 6000 --hold-out-triplett \
        --nq NQ_WITHOUT_TRIPLETT --run DIR --out BUNDLE   # the transfer suite's Triplett column

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

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SESSIONS = 24
#: frame rates (Hz) of the v2 sessions and their weights (real recordings are mostly 1.5-10 Hz)
V2_RATES = (1.5, 2.0, 3.0, 5.0, 7.5, 10.0, 15.0, 30.0)
V2_RATE_WEIGHTS = (3, 3, 3, 3, 2, 2, 1, 1)
#: v2 sessions per family (seeds: assemblies 5000 + k, task networks 300 + k)
V2_PER_FAMILY = 16


def v2_sessions() -> list[str]:
    """Names of the v2 simulated sessions; :func:`v2_recording` turns a name into its recording."""
    rng = np.random.default_rng(20261202)
    p = np.array(V2_RATE_WEIGHTS, float) / sum(V2_RATE_WEIGHTS)
    names = []
    for family in ("assembly", "task"):
        for k in range(V2_PER_FAMILY):
            fs, keep = float(rng.choice(V2_RATES, p=p)), float(rng.uniform(0.35, 1.0))
            names.append(f"simulated/v2/{family}-{k:02d}-fs{fs:g}-keep{keep:.2f}")
    return names


def v2_recording(name: str):
    """The recording a :func:`v2_sessions` name stands for (same name, same data)."""
    from src_models.recording import Recording
    from src_models.simulation import simulate
    from src_models.simulation.assemblies import simulate_assemblies
    from src_models.simulation.calcium import INDICATORS

    family, k, fs, keep = Path(name).name.split("-")
    k, fs, keep = int(k), float(fs[2:]), float(keep[4:])
    if family == "assembly":
        rng = np.random.default_rng([5000 + k, 1])
        rec = simulate_assemblies(
            int(rng.integers(80, 241)), int(np.clip(round(fs * 600), 1024, 4096)), fs=fs,
            n_assemblies=int(rng.integers(3, 13)), members=float(rng.uniform(0.05, 0.25)),
            bout_rate_hz=float(rng.uniform(0.02, 0.15)), bout_s=float(rng.uniform(0.5, 3.0)),
            indicator=str(rng.choice(list(INDICATORS))), noise=float(rng.uniform(0.02, 0.2)),
            bleach=float(rng.uniform(0.0, 0.3)), seed=5000 + k,
        )
    else:  # one task-network animal per seed; indicator, size and shot noise drawn by the preset
        rng = np.random.default_rng([300 + k, 1])
        rec = simulate("corpus", seed=300 + k, n_sessions=1, fs=fs)[0].recording
    traces = rec.traces
    idx = np.sort(rng.choice(len(traces), max(16, round(keep * len(traces))), replace=False))
    return Recording(F=traces[idx], fs=fs, source=Path(name), kind="simulated")


def main(argv: list[str] | None = None) -> int:
    """Simulate the corpus if needed, pretrain, copy the best checkpoint; returns the exit status."""
    from napari_calm.cli.main import main as calm
    from napari_calm.resources import cache_dir
    from src_models.bench.datasets import TRIPLETT, real_data_file

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=cache_dir() / "dat-corpus-seed0")
    parser.add_argument("--run", type=Path, default=cache_dir() / "dat-default-run")
    parser.add_argument("--out", type=Path, help="bundle to copy RUN/best to "
                        "(default: resources/weights/calm for the default recipe, none for v2)")
    parser.add_argument("--recipe", choices=("default", "v2"), default="default")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--max-steps", type=int, help="override the config's max_steps")
    parser.add_argument("--mask-neurons", type=float, default=0.0,
                        help="v2: train.mask_neurons, masked-neuron prediction (default 0: off)")
    parser.add_argument("--reg-frame-hidden", type=int, default=0,
                        help="v2: model.reg_frame_hidden, width of the regression head's frame path (default 0: none)")
    parser.add_argument("--hold-out-triplett", action="store_true",
                        help="leave the real Triplett recording out (pass the tokenizer trained without it "
                        "with --nq): the leave-one-recording-out model of the transfer suite's Triplett column")
    parser.add_argument("--nq", type=Path, default=REPO / "resources" / "weights" / "nq",
                        help="NQ tokenizer (default: the shipped one)")
    parser.add_argument("--manifest", type=Path, metavar="BUNDLE", help="only print BUNDLE's corpus manifest")
    args = parser.parse_args(argv)
    if args.manifest:
        print(manifest(args.manifest))
        return 0
    import torch

    torch.set_num_threads(args.threads)
    sessions = [args.corpus / f"session_{k:03d}" for k in range(SESSIONS)]
    if not all(s.is_dir() for s in sessions):
        cmd = ["simulate", "--preset", "corpus", "--sessions", str(SESSIONS), "--seed", "0",
               "--out", str(args.corpus), "--overwrite"]
        print("calm " + " ".join(cmd), flush=True)
        if calm(cmd):
            return 1
    real = [] if args.hold_out_triplett else [f"{real_data_file(TRIPLETT)}@0:0.6"]
    cmd = ["pretrain", "--data", *map(str, sessions), *real,
           "--out", str(args.run), "--config", str(REPO / "resources" / "configs" / "dat_default.json"),
           "--seed", "0", "--nq", str(args.nq), "--device", "cpu"]
    if args.max_steps:
        cmd += ["--max-steps", str(args.max_steps)]
    print("calm " + " ".join(cmd), flush=True)
    t0, c0 = time.perf_counter(), resource.getrusage(resource.RUSAGE_SELF)
    status = calm(cmd) if args.recipe == "default" else pretrain_v2(cmd[2:cmd.index("--out")], args)
    c1 = resource.getrusage(resource.RUSAGE_SELF)
    print(f"wall time {time.perf_counter() - t0:.0f} s, CPU time {c1.ru_utime + c1.ru_stime - c0.ru_utime - c0.ru_stime:.0f} s",
          flush=True)
    if status:
        return status
    if args.out is None and args.recipe == "v2":
        return 0
    args.out = args.out or REPO / "resources" / "weights" / "calm"
    tmp = args.out.with_name(f".{args.out.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(args.run / "best", tmp)
    if args.out.exists():
        shutil.rmtree(args.out)
    os.replace(tmp, args.out)
    print(f"copied {args.run / 'best'} -> {args.out}", flush=True)
    return 0


def manifest(bundle: Path) -> str:
    """Markdown table of the sessions a CalM bundle (or run, via ``best/``) was pretrained on."""
    import json

    from src_models.dat.calm import resolve_checkpoint

    sessions = json.loads((resolve_checkpoint(bundle) / "config.json").read_text())["sessions"]
    rows = ["| row | source | frames | fs (Hz) | neurons | fingerprint |", "|---|---|---|---|---|---|"]
    rows += [f"| {s['session_row']} | `{s['source']}` | {s['frames'][0]}–{s['frames'][1]} | {s['fs']:g} | "
             f"{s['n_neurons']} | `{s['fingerprint']}` |" for s in sessions]
    frames = sum(s["frames"][1] - s["frames"][0] for s in sessions)
    neurons = sum(s["n_neurons"] for s in sessions)
    return "\n".join(rows) + f"\n\n{len(sessions)} sessions, {neurons:,} neurons, {frames:,} frames."


def pretrain_v2(specs: list[str], args: argparse.Namespace) -> int:
    """``calm pretrain`` on ``specs`` plus the :func:`v2_sessions`, from Python (they are not files)."""
    from src_models.dat.config import read_config_file
    from src_models.dat.data import DataSource, parse_source
    from src_models.dat.pretrain import pretrain
    from src_models.nq.io import load_nq
    from src_models.outputs import claim_output
    from src_models.readers import read_recording

    names = v2_sessions()
    print("  plus " + " ".join(names), flush=True)
    claim_output(args.run, "pretrain", folder=True, resume=True)
    cfg = read_config_file(REPO / "resources" / "configs" / "dat_default.json")
    sources = [parse_source(s, read_recording) for s in specs]
    sources += [DataSource(name, reader=v2_recording) for name in names]
    pretrain(sources, args.run, nq=load_nq(args.nq),
             model_config={**cfg["model"], "reg_frame_hidden": args.reg_frame_hidden},
             train_config={**cfg["train"], "mask_neurons": args.mask_neurons}, tokenizer=cfg["tokenizer"], max_steps=args.max_steps, seed=0,
             device="cpu")
    return 0


if __name__ == "__main__":
    sys.exit(main())
