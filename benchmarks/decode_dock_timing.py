"""Time the Decoding dock's worker job (``workers.decode_job`` with the dock's defaults) on the demo.

Runs the job as the dock does (a ``Job`` with the dock's torch threads, shipped model, adapted
CalM from the cache) without Qt, and prints the wall time and scores::

    OMP_NUM_THREADS=1 PYTHONPATH=. python benchmarks/decode_dock_timing.py angular_velocity
"""
from __future__ import annotations
import sys
import time

from napari_calm import workers
from napari_calm.demo import demo_path
from src_models.dat.calm import default_calm_path
from src_models.jobs import Job
from src_models.readers import read_recording
from src_models.settings import DecodeSettings, split_names

target = sys.argv[1] if len(sys.argv) > 1 else "angular_velocity"
rec = read_recording(demo_path())
ds = DecodeSettings()
t0 = time.time()
job = Job(lambda cancel: workers.decode_job(rec, target, checkpoint=str(default_calm_path()), device="cpu",
          baselines=split_names(ds.baselines), n_folds=ds.folds, context=ds.context, n_shifts=ds.shifts),
          threads=workers.JOB_THREADS, name="decode_job")
res = None
gen = iter(job)
try:
    while True:
        next(gen)
except StopIteration as e:
    res = e.value
print(f"{target}: decode_job {time.time()-t0:.1f} s", {m: round(res.headline(m), 3) for m in res.scores},
      res.settings["hyperparameters"].get("calm_adapted_neurons_hybrid"))
