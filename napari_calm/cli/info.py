"""``calm info PATH``: what a recording holds, as text or (``--json``) one JSON object.

JSON keys: those of :meth:`Recording.summary` plus ``fs_assumed``, ``fs_source``,
``duration_s``, ``movie_dtype``, ``n_rois_total`` (suite2p ROIs before the cell
filter), ``images`` (reference image names) and ``side_files``.
"""

from __future__ import annotations

import argparse
from typing import Any

from napari_calm.cli.recording_options import add_recording_options, read_with_options
from src_models.outputs import dumps


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``calm info``."""
    parser.add_argument("path", help="recording: suite2p folder, traces folder, .npz, .tif, .mat, .nwb, ...")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    add_recording_options(parser, rois=True)


def info_dict(rec: Any) -> dict[str, Any]:
    """The ``--json`` object for a recording."""
    out = rec.summary()
    md = rec.metadata
    out.update(
        fs_assumed=bool(md.get("fs_assumed", False)),
        fs_source=md.get("fs_source"),
        duration_s=round(rec.n_frames / rec.fs, 3),
        movie_dtype=None if rec.movie is None else str(rec.movie.dtype),
        n_rois_total=md.get("n_rois_total", out.get("n_rois")),
        images=sorted(md.get("images") or {}),
        side_files=list(md.get("side_files", [])),
    )
    return out


def _text(d: dict[str, Any], rec: Any) -> str:
    fs = f"{d['fs']:g} Hz" + (" (assumed; pass --fs)" if d["fs_assumed"] else f" (from {d['fs_source']})")
    of_total = f" of {d['n_rois_total']} ROIs" if d["n_rois_total"] not in (None, d["n_neurons"]) else ""
    shape = d["movie_shape"]
    movie = "none" if shape is None else f"{' x '.join(map(str, shape))} {d['movie_dtype']}"
    lines = [
        f"{d['path']}",
        f"  kind        {d['kind']}",
        f"  neurons     {d['n_neurons']}{of_total}",
        f"  frames      {d['n_frames']}  ({d['duration_s']:g} s)",
        f"  frame rate  {fs}",
        f"  movie       {movie}",
    ]
    if rec.Fneu is not None:
        lines.append(f"  neuropil    F - {d['neuropil_coefficient']:g} * Fneu")
    lines.append(f"  behavior    {', '.join(d['behavior']) or 'none'}")
    trials = f"{d['n_trials']}" + (f" ({', '.join(d['trial_columns'])})" if d["n_trials"] else "")
    lines.append(f"  trials      {trials}")
    if d["images"]:
        lines.append(f"  images      {', '.join(d['images'])}")
    skipped = rec.metadata.get("skipped_rois")
    if skipped:
        lines.append(f"  skipped     {len(skipped)} ImageJ ROIs without area: {', '.join(skipped)}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    """Read the recording and print its summary."""
    rec = read_with_options(args.path, args)
    d = info_dict(rec)
    print(dumps(d) if args.json else _text(d, rec))
    return 0
