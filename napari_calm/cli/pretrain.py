"""``calm pretrain``: self-supervised pretraining of CalM's dual-axis Transformer.

Runs on one CPU or GPU, and under ``torchrun`` on many (DistributedDataParallel,
NCCL on GPUs, gloo on CPUs)::

    calm pretrain --data A B C@0:0.6 --out runs/calm --config resources/configs/dat_default.json
    torchrun --nproc_per_node 2 -m napari_calm.cli.main pretrain --data ... --out runs/calm

``PATH@START:STOP`` uses only that fraction of a recording's frames. Running
the same command again resumes from ``OUT/last``. Prints progress to stderr
and, at the end, the path of the best checkpoint on stdout.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``calm pretrain``."""
    from napari_calm.cli.options import add_settings
    from src_models.settings import PretrainSettings

    parser.add_argument("--data", nargs="+", metavar="PATH", default=[],
                        help="recordings (any readable format); PATH@0:0.6 uses the first 60%% of frames")
    parser.add_argument("--out", required=True, type=Path, metavar="DIR",
                        help="output folder (corpus/, best/, last/, history.jsonl); resumed when it exists")
    parser.add_argument("--config", type=Path, metavar="FILE",
                        help="JSON config with model / tokenizer / train / data sections (resources/configs/dat_*.json)")
    parser.add_argument("--overwrite", action="store_true", help="start afresh in an --out calm wrote")
    parser.add_argument("--nq", type=Path, metavar="DIR", help="tokenizer checkpoint (default: the shipped NQ)")
    parser.add_argument("--device", default="auto", help="cpu, cuda or auto (default)")
    add_settings(parser, PretrainSettings)


def run(args: argparse.Namespace) -> int:
    """Pretrain and print the best checkpoint's folder."""
    from napari_calm.cli.options import settings_from
    from src_models.dat.config import read_config_file
    from src_models.dat.data import parse_source
    from src_models.dat.pretrain import pretrain
    from src_models.errors import CalmError
    from src_models.nq.io import load_nq
    from src_models.outputs import claim_output
    from src_models.readers import read_recording
    from src_models.settings import PretrainSettings

    settings = settings_from(args, PretrainSettings)
    claim_output(args.out, "pretrain", folder=True, overwrite=args.overwrite, resume=True)
    cfg = read_config_file(args.config) if args.config else {}

    def reader(path: str):
        rec = read_recording(path)
        if settings.fs is not None and rec.metadata.get("fs_assumed"):
            rec.fs = settings.fs
        return rec

    specs = list(args.data) + list(cfg.get("data", []))
    if not specs:
        raise CalmError("no training data: pass --data PATH [PATH ...] or a config with a data section")
    sources = [parse_source(s, reader) for s in specs]
    for s in sources:
        if not Path(s.path).exists():
            raise CalmError("no such file or folder", s.path)
    nq = load_nq(args.nq)
    best = pretrain(
        sources, args.out, nq=nq, model_config=cfg.get("model"), train_config=cfg.get("train"),
        tokenizer=cfg.get("tokenizer"), max_steps=settings.max_steps, seed=settings.seed, device=args.device,
    )
    import os

    if int(os.environ.get("RANK", "0")) == 0:
        print(best)
    return 0
