"""The reader options shared by the commands that open one recording (``--var``, ``--fs``, ...)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from src_models.recording import Recording


def add_recording_options(parser: argparse.ArgumentParser, *, rois: bool = False) -> None:
    """Add ``--var``, ``--fs`` and ``--all-rois`` (and ``--rois`` when ``rois``) to ``parser``."""
    parser.add_argument("--var", metavar="NAME", help="traces variable (.mat) or series name (.nwb)")
    parser.add_argument("--fs", type=float, metavar="HZ", help="frame rate in Hz (overrides the files)")
    parser.add_argument("--all-rois", action="store_true", help="suite2p: keep ROIs not classified as cells")
    if rois:
        parser.add_argument("--rois", metavar="FILE", help="TIFF: ImageJ ROI set (.zip/.roi) to use")


def read_with_options(path: str | Path, args: argparse.Namespace) -> Recording:
    """:func:`~src_models.readers.read_recording` of ``path`` with the options above."""
    from src_models.readers import read_recording

    rois = getattr(args, "rois", None)
    return read_recording(path, var=args.var, fs=args.fs, only_cells=not args.all_rois, rois=rois)
