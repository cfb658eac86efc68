"""Where cue/choice tuning is lost on the way into CalM's neuron embeddings.

For each task recording, the ridge probe of ``calm embed`` (5-fold CV over neurons, R², no
shuffles) of cue SI and choice SI from label-free per-neuron embeddings, each one step further
along CalM's data flow, first as forecasting reads the recording (causal ΔF/F), then as
``state_loadings`` reads it (centred ΔF/F, the baseline of the SI themselves):

* ``activity_pcs`` — loadings on the PCs of the raw traces (``calm embed``'s reference);
* ``causal_dff_trial_loadings`` — the construction of ``state_loadings`` applied to the causal
  ΔF/F the forecasting model reads (each neuron's trial-aligned responses in 4 time bins, rows
  z-scored, loadings on 16 PCs);
* ``causal_state_loadings`` — the same on the DAT states of that input (``state_loadings`` before
  2026-12-03);
* ``dff_trial_loadings`` — the construction applied to the centred ΔF/F: what it could reach with
  every frame;
* ``token_trial_loadings`` — the same on the NQ reconstruction of the tokens the DAT reads from
  the centred ΔF/F (the information the tokens keep);
* ``state_loadings`` — CalM's primary embedding (``CalmFeatures.neuron_embeddings`` of the given
  model: its states of the centred ΔF/F).

Usage (task simulations, e.g. the evaluation seeds 11-13)::

    calm simulate --preset task --seed 11 --out sim/task11
    OMP_NUM_THREADS=1 python benchmarks/embedding_information.py sim/task11 sim/task12 sim/task13 [--checkpoint DIR]
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from src_models.analysis.calm_features import CalmFeatures, state_loadings
from src_models.analysis.embedding import activity_embedding, probe_regression
from src_models.analysis.selectivity import task_selectivity
from src_models.dat.calm import load_calm
from src_models.dat.states import dat_input
from src_models.preparation import apply_dff
from src_models.preprocessing import delta_f_over_f
from src_models.readers import read_recording

COLUMNS = ("cue", "choice")
EMBEDDINGS = (
    "activity_pcs",
    "causal_dff_trial_loadings",
    "causal_state_loadings",
    "dff_trial_loadings",
    "token_trial_loadings",
    "state_loadings",
)


def trial_loadings(traces: np.ndarray, trials: dict[str, np.ndarray]) -> np.ndarray:
    """``(N, 16)`` :func:`state_loadings` of ``traces`` ``(N, T)`` read as one-dimensional states per frame."""
    return state_loadings(traces[:, :, None], np.arange(traces.shape[1]), trials, k=1)


def embeddings(model: object, path: str) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """The embeddings of one recording and its signed SI per column."""
    rec = read_recording(path)
    dff = delta_f_over_f(rec.traces, rec.fs)
    sel = task_selectivity(dff, rec.trials, COLUMNS, n_perm=200, min_trials=5, seed=0)
    tokens = dat_input(model, rec, baseline="centred").tokens
    with torch.no_grad():
        recon = model.tokenizer.decode(tokens).cpu().numpy()[:, : rec.n_frames]
    features = CalmFeatures(model, name="calm_frozen")
    causal = features.states(rec, None)
    out = {
        "activity_pcs": activity_embedding(rec.traces),
        "causal_dff_trial_loadings": trial_loadings(apply_dff(rec.traces, rec.fs)[0], rec.trials),
        "causal_state_loadings": state_loadings(causal.hidden, np.asarray(causal.frames), rec.trials),
        "dff_trial_loadings": trial_loadings(dff, rec.trials),
        "token_trial_loadings": trial_loadings(recon, rec.trials),
        "state_loadings": features.neuron_embeddings(rec)["state_loadings"],
    }
    return out, {c: sel[c].si for c in COLUMNS}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("paths", nargs="+", help="task recordings with a trial table (cue, choice)")
    parser.add_argument("--checkpoint", default=None, help="CalM checkpoint (default: the shipped model)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    model = load_calm(args.checkpoint)
    scores = {e: {c: [] for c in COLUMNS} for e in EMBEDDINGS}
    for path in args.paths:
        emb, si = embeddings(model, path)
        for e in EMBEDDINGS:
            for c in COLUMNS:
                scores[e][c].append(probe_regression(emb[e], si[c], n_shuffles=0).score)
        print(path, " ".join(f"{e} {scores[e]['cue'][-1]:.3f}/{scores[e]['choice'][-1]:.3f}" for e in EMBEDDINGS),
              flush=True)
    print("\n| embedding | cue SI R² | choice SI R² | per recording (cue / choice) |\n|---|---|---|---|")
    for e in EMBEDDINGS:
        cells = [f"{np.mean(scores[e][c]):.3f} ± {np.std(scores[e][c]):.3f}" for c in COLUMNS]
        each = "; ".join(f"{a:.3f} / {b:.3f}" for a, b in zip(scores[e]["cue"], scores[e]["choice"]))
        print(f"| {e} | {cells[0]} | {cells[1]} | {each} |")


if __name__ == "__main__":
    main()
