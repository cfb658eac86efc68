"""How fast large TIFF movies open through ``read_recording``, and with how much memory.

Writes two TIFFs of ``--size-gb`` each (uint16, 512×512 frames) into ``--dir``:

* ``imagej.tif`` — an ImageJ hyperstack with contiguous pixel data (memory-mapped);
* ``pages.tif`` — one IFD per frame, not contiguous (read page by page on demand);

then, for each, in a fresh interpreter, times ``read_recording`` (open), the first
frame and a middle frame, and reports the peak resident memory (``VmHWM``) of that
interpreter. Pages of the files are dropped from the page cache first where the
kernel allows it, so the first read comes from disk.

Usage::

    python benchmarks/io_tiff_open.py --size-gb 2 --dir /tmp/calm-bench
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

FRAME = (512, 512)

PROBE = r"""
import json, sys, time
t0 = time.perf_counter()
from src_models.readers import read_recording
t_import = time.perf_counter() - t0
t0 = time.perf_counter()
rec = read_recording(sys.argv[1], fs=30.0)
t_open = time.perf_counter() - t0
t0 = time.perf_counter()
first = rec.movie[0].copy()
t_first = time.perf_counter() - t0
t0 = time.perf_counter()
mid = rec.movie[rec.n_frames // 2].copy()
t_mid = time.perf_counter() - t0
print(json.dumps({
    "shape": list(rec.movie_shape), "access": rec.metadata["movie_access"],
    "import_s": t_import, "open_s": t_open, "first_frame_s": t_first, "middle_frame_s": t_mid,
    "peak_rss_mb": next(int(line.split()[1]) for line in open("/proc/self/status")
                        if line.startswith("VmHWM")) / 1024,
}))
"""


def write_files(folder: Path, size_gb: float) -> dict[str, Path]:
    """Write the two benchmark TIFFs frame by frame (bounded memory)."""
    import tifffile

    n_frames = int(size_gb * 2**30 // (FRAME[0] * FRAME[1] * 2))
    rng = np.random.default_rng(0)
    block = rng.integers(0, 4096, (64, *FRAME), dtype=np.uint16)
    imagej = folder / "imagej.tif"
    mm = tifffile.memmap(imagej, shape=(n_frames, *FRAME), dtype=np.uint16, imagej=True)
    for t0 in range(0, n_frames, len(block)):
        mm[t0 : t0 + len(block)] = block[: n_frames - t0]
    mm.flush()
    del mm
    pages = folder / "pages.tif"
    with tifffile.TiffWriter(pages, bigtiff=True) as tif:
        for t in range(n_frames):
            tif.write(block[t % len(block)], contiguous=False, metadata=None)
    return {"imagej": imagej, "pages": pages}


def main() -> None:
    """Write the files, probe each in a fresh interpreter, print a JSON line per file."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-gb", type=float, default=2.0)
    parser.add_argument("--dir", type=Path, default=None)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="calm-tiff-bench-", dir=args.dir))
    try:
        t0 = time.perf_counter()
        files = write_files(folder, args.size_gb)
        print(f"wrote {args.size_gb} GB x {len(files)} in {time.perf_counter() - t0:.0f} s")
        for name, path in files.items():
            # drop this file from the page cache so the probe reads from disk
            subprocess.run(
                [
                    "dd",
                    f"of={path}",
                    "oflag=nocache",
                    "conv=notrunc,fdatasync",
                    "count=0",
                    "status=none",
                ],
                check=False,
            )
            out = subprocess.run(
                [sys.executable, "-c", PROBE, str(path)],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            result = json.loads(out)
            result["file"] = name
            result["size_gb"] = round(path.stat().st_size / 2**30, 2)
            print(json.dumps(result))
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
