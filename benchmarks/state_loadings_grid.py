"""Cue/choice SI probes of ``state_loadings`` over its construction settings, against the activity PCs.

For one task recording and the frozen model: every combination of shared state axes ``k``, time bins
per trial and principal components kept, each scored by the ridge probe of ``calm embed`` (5-fold CV
over neurons, R², no shuffles). Use a simulation seed that is not an evaluation seed::

    calm simulate --preset task --seed 21 --out sim/task21
    OMP_NUM_THREADS=1 python benchmarks/state_loadings_grid.py sim/task21 [--checkpoint DIR]
"""

from __future__ import annotations

import argparse
import itertools

import numpy as np
import torch

from src_models.analysis.calm_features import state_loadings
from src_models.analysis.embedding import activity_embedding, probe_regression
from src_models.analysis.selectivity import task_selectivity
from src_models.dat.calm import load_calm
from src_models.dat.states import neuron_states
from src_models.preprocessing import delta_f_over_f
from src_models.readers import read_recording


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("path", help="task recording with a trial table (cue, choice)")
    parser.add_argument("--checkpoint", default=None, help="CalM checkpoint (default: the shipped model)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    rec = read_recording(args.path)
    states = neuron_states(load_calm(args.checkpoint), rec, baseline="centred")  # as ``state_loadings`` reads it
    hidden, frames = states.hidden, np.asarray(states.frames)
    dff = delta_f_over_f(rec.traces, rec.fs)
    sel = task_selectivity(dff, rec.trials, ("cue", "choice"), n_perm=200, min_trials=5, seed=0)

    def score(emb: np.ndarray) -> str:
        return " / ".join(f"{probe_regression(emb, sel[c].si, n_shuffles=0).score:.3f}" for c in ("cue", "choice"))

    print("embedding | cue SI R² / choice SI R²")
    print(f"activity_pcs | {score(activity_embedding(rec.traces))}")
    for k, bins, comps in itertools.product((4, 8, 16), (2, 4, 8), (16, 32)):
        emb = state_loadings(hidden, frames, rec.trials, k=k, n_bins=bins, n_components=comps)
        print(f"state_loadings k={k} bins={bins} components={comps} | {score(emb)}", flush=True)


if __name__ == "__main__":
    main()
