"""One engine: adaptation cache and the docks' forecast / embed / decode times on the demo recording.

Runs what the docks run (the ``napari_calm.workers`` jobs, with the docks' default settings) on the
demo recording (110 neurons x 1,000 frames at 10 Hz), in this order: the first adaptation
(150 steps, the shared default), the first forecast, the same forecast again (memoised), the
adaptation again from the disk cache (memory cache cleared), then the embedding and the decoding
docks' computations on the adapted model. Prints one JSON object of wall-clock seconds.

Usage::

    python benchmarks/engine_timings.py --threads 2 [--cache DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    parser.add_argument("--cache", help="adaptation cache folder (default: a new temporary one)")
    args = parser.parse_args()
    os.environ["NAPARI_CALM_CACHE"] = args.cache or tempfile.mkdtemp(prefix="calm-engine-bench-")

    from napari_calm.demo import demo_path
    from napari_calm.workers import adapted_job, decode_job, embed_job, forecast_job
    from src_models import read_recording
    from src_models import engine
    from src_models.dat.calm import default_calm_path
    from src_models.jobs import Job

    rec = read_recording(demo_path())
    ckpt = str(default_calm_path())
    times: dict[str, float] = {}

    def timed(name: str, job) -> object:
        t0 = time.perf_counter()
        out = Job(job, threads=args.threads).run()
        times[name] = round(time.perf_counter() - t0, 2)
        return out

    timed("adapt_first", lambda c: adapted_job(rec, ckpt, "cpu"))
    timed("forecast_first", lambda c: forecast_job(rec, ckpt, "cpu", 48, 16))
    timed("forecast_second", lambda c: forecast_job(rec, ckpt, "cpu", 48, 16))
    engine._MEMORY.clear()
    timed("adapt_from_disk_cache", lambda c: adapted_job(rec, ckpt, "cpu"))
    timed("forecast_after_disk_adapt", lambda c: forecast_job(rec, ckpt, "cpu", 48, 16))
    timed("embed_dock", lambda c: embed_job(rec, ckpt, "cpu"))
    timed("decode_dock_choice", lambda c: decode_job(rec, "choice", checkpoint=ckpt, device="cpu"))
    times["second_over_first_forecast"] = round(times["forecast_second"] / times["forecast_first"], 4)
    print(json.dumps({"recording": str(demo_path()), "threads": args.threads, "seconds": times}))


if __name__ == "__main__":
    main()
