"""``calm extract MOVIE --out DIR``: movie → ROIs and traces with suite2p.

Runs suite2p on a TIFF stack in a separate process and writes a normal suite2p
folder (``DIR/plane0/...`` plus ``DIR/meta.json``) that every reader opens.
Progress goes to stderr (``--quiet`` silences it); the result is one line on
stdout, or with ``--json`` one object with ``out``, ``n_rois``, ``n_cells``,
``n_frames``, ``n_planes``, ``seconds`` and ``summary`` (every setting chosen).
Bad input is one ``error:`` line and exit status 2, with nothing written.
"""

from __future__ import annotations

import argparse
import sys

from src_models.outputs import dumps


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``calm extract``."""
    from napari_calm.cli.options import add_settings
    from napari_calm.extraction.settings import ExtractionSettings

    parser.add_argument("movie", help="TIFF movie (T×Y×X, or with plane/channel axes)")
    parser.add_argument("--out", required=True, metavar="DIR", help="results folder to create")
    parser.add_argument("--overwrite", action="store_true", help="replace DIR if it holds results")
    add_settings(parser, ExtractionSettings, skip=("nonrigid",))
    parser.add_argument("--rigid", action="store_true", help="rigid registration only")
    parser.add_argument("--json", action="store_true", help="print the result as one JSON object")
    parser.add_argument("--quiet", action="store_true", help="no progress on stderr")


def run(args: argparse.Namespace) -> int:
    """Run ``calm extract``; returns the exit status."""
    from napari_calm.cli.options import settings_from
    from napari_calm.extraction import ExtractionJob, ExtractionSettings
    from src_models.outputs import claim_output

    claim_output(args.out, "extract", folder=True, overwrite=args.overwrite, create=False, check=False)

    settings = settings_from(args, ExtractionSettings, nonrigid=False if args.rigid else None)
    job = ExtractionJob(args.movie, args.out, settings, overwrite=args.overwrite).start()
    if job.info is not None and job.info.fs_source == "default":
        fs = job.info.fs
        print(f"extract: warning: no frame rate in the movie's metadata; assuming {fs:g} Hz (pass --fs)",
              file=sys.stderr)
    shown = (None, -1.0)
    try:
        while job.running:
            for p in job.progress(timeout=0.5):
                if not args.quiet and (p.stage != shown[0] or p.fraction - shown[1] >= 0.05):
                    print(f"extract: {p.fraction:4.0%} {p.message}", file=sys.stderr, flush=True)
                    shown = (p.stage, p.fraction)
        result = job.wait()
    except KeyboardInterrupt:
        job.cancel()
        raise
    if args.json:
        print(dumps(result.to_dict()))
    else:
        s = result.summary
        print(f"{result.out}: {result.n_rois} ROIs ({result.n_cells} cells) × {result.n_frames} frames"
              f" at {s['fs']:g} Hz ({s['fs_source']}), {result.seconds:.1f} s on {s['device']}")
    return 0
