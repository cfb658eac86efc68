"""``calm simulate``: write a synthetic recording with ground truth (suite2p layout)."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``calm simulate``."""
    parser.add_argument(
        "--preset",
        required=True,
        choices=["demo", "poco", "task", "corpus"],
        help="what to simulate: demo (small, with movie), poco (POCO's rate network), "
        "task (cue/choice task with behaviour), corpus (many related animals)",
    )
    parser.add_argument("--out", required=True, type=Path, metavar="DIR", help="output folder (new or empty)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (same seed, same data; default 0)")
    parser.add_argument("--neurons", type=int, metavar="N", help="neurons per session (corpus: the largest)")
    parser.add_argument("--frames", type=int, metavar="T", help="frames per session")
    parser.add_argument("--sessions", type=int, metavar="S", help="number of sessions")
    parser.add_argument("--movie", action="store_true", help="also render the imaging movie (movie.tif)")
    parser.add_argument("--indicator", metavar="NAME", help="GCaMP6s, GCaMP6f or GCaMP8m for every session")
    parser.add_argument("--fs", type=float, metavar="HZ", help="frame rate for every session")
    parser.add_argument("--overwrite", action="store_true", help="replace a non-empty output folder")


def run(args: argparse.Namespace) -> int:
    """Simulate, write, and print one line per session written."""
    from src_models.outputs import claim_output
    from src_models.simulation import simulate, write_sessions

    out = Path(args.out).expanduser()
    claim_output(out, "simulate", folder=True, overwrite=args.overwrite, create=False)
    sessions = simulate(
        args.preset, seed=args.seed, n_neurons=args.neurons, n_frames=args.frames, n_sessions=args.sessions,
        movie=args.movie, fs=args.fs, indicator=args.indicator,
    )
    folders = write_sessions(sessions, out, overwrite=args.overwrite)
    for s, folder in zip(sessions, folders):
        rec = s.recording
        indicator = rec.metadata.get("indicator") or "rates (no indicator)"
        parts = [f"{rec.n_neurons} neurons", f"{rec.n_frames} frames", f"{rec.fs:g} Hz", indicator]
        if rec.n_trials:
            parts.append(f"{rec.n_trials} trials")
        if rec.movie is not None:
            parts.append("movie " + "x".join(str(d) for d in rec.movie.shape))
        print(f"wrote {folder}: " + ", ".join(parts))
    return 0
