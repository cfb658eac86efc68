"""``calm finetune``: adapt CalM to a new recording (the same function the fine-tune dock runs).

Phase 1 fits the recording's new neuron and session embeddings with the
backbone frozen; phase 2 (unless ``--freeze-backbone``) fine-tunes the whole
DAT. ``--steps N`` is the total, split half and half (all of it
in phase 1 with ``--freeze-backbone``); the default is 150 + 200 steps. Training uses the first 60 %
of the frames, selection the next 20 %; the last 20 % is never touched, so
``calm forecast PATH --checkpoint OUT`` evaluates cleanly on it.

Ctrl-C stops between steps and writes a consistent checkpoint (``OUT/last``
to resume, ``OUT/best`` to use); a second Ctrl-C aborts at once. Running the
same command again resumes.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``calm finetune``."""
    from napari_calm.cli.options import add_model_options, add_settings
    from napari_calm.cli.recording_options import add_recording_options
    from src_models.settings import FinetuneSettings

    parser.add_argument("path", help="recording (any readable format)")
    add_recording_options(parser)
    add_model_options(parser)
    parser.add_argument("--out", required=True, type=Path, metavar="DIR", help="output folder (best/, last/)")
    parser.add_argument("--overwrite", action="store_true", help="start afresh in an --out calm wrote")
    parser.add_argument("--config", type=Path, metavar="FILE", help="JSON config with a finetune section")
    add_settings(parser, FinetuneSettings)


def run(args: argparse.Namespace) -> int:
    """Fine-tune, printing progress to stderr and the checkpoint folder on stdout."""
    import signal
    import sys

    from napari_calm.cli.options import settings_from
    from napari_calm.cli.recording_options import read_with_options
    from src_models.dat.config import read_config_file
    from src_models.engine import CalM
    from src_models.outputs import claim_output
    from src_models.settings import FinetuneSettings

    settings = settings_from(args, FinetuneSettings)
    config = settings.config(read_config_file(args.config).get("finetune", {}) if args.config else {})
    claim_output(args.out, "finetune", folder=True, overwrite=args.overwrite, resume=True)
    recording = read_with_options(args.path, args)
    job = CalM.load(args.checkpoint, device=args.device).finetune(recording, args.out, config, seed=settings.seed)
    stop = job.cancel_event

    def on_sigint(signum, frame):
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()
        print("stopping after this step (Ctrl-C again to abort)...", file=sys.stderr, flush=True)

    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        for p in job:
            info = p.metrics
            if info["phase"] in ("done", "stopped") or info["step"] % 10 == 0:
                val = "-" if info.get("val_loss") is None else f"{info['val_loss']:.4f}"
                loss = "-" if info.get("loss") is None else f"{info['loss']:.4f}"
                print(f"[{info['phase']}] step {info['step']}/{info['total']} loss {loss} val_loss {val}",
                      file=sys.stderr, flush=True)
    finally:
        signal.signal(signal.SIGINT, previous)
    print(job.result.get("checkpoint") or args.out)
    return 130 if job.result.get("phase") == "stopped" else 0
