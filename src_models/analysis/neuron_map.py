"""One call for the embedding dock and ``calm embed``: embeddings, a 2-D map, tuning and probes.

:func:`analyse_neurons` asks a :class:`~src_models.analysis.calm_features.FeatureExtractor` for
per-neuron embeddings, adds the activity reference embedding, maps the primary embedding to 2-D,
computes cue/choice selectivity from ΔF/F and runs, for every embedding, the analyses of
:mod:`~src_models.analysis.embedding`:

* ``si_<column>`` — ridge probe of the signed SI, CV over neurons, vs shuffled SI;
* ``strength`` — the same for tuning strength ``max_c |SI_c|``;
* ``gradient`` — direction of increasing strength (embedding and 2-D map);
* ``separation`` — selective (significant for any column) vs untuned neurons.

Recordings without a trial table still get embeddings and coordinates (no tuning, no probes).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from src_models.analysis.calm_features import (
    FeatureExtractor,
    ProgressFn,
    no_progress,
    sub_progress,
)
from src_models.analysis.embedding import (
    activity_embedding,
    cluster_separation,
    probe_regression,
    reduce,
    tuning_gradient,
)
from src_models.analysis.selectivity import Selectivity, task_selectivity
from src_models.errors import CalmError
from src_models.preprocessing import delta_f_over_f
from src_models.recording import Recording

#: name of the activity reference embedding
ACTIVITY = "activity_pcs"
#: embeddings mapped to 2-D, in order of preference (else the extractor's first)
PRIMARY = ("state_loadings", "neuron_embedding", "mean_state")


@dataclass
class NeuronMap:
    """Embeddings, 2-D coordinates, selectivity and probe scores of every neuron.

    Attributes
    ----------
    method : str
        ``pca`` or ``umap``.
    primary : str
        The embedding the coordinates were computed from.
    coords : ndarray
        ``(N, 2)`` map coordinates.
    embeddings : dict of str to ndarray
        ``(N, D)`` per embedding (``state_loadings``, ``neuron_embedding``, ``mean_state``,
        ``activity_pcs``).
    selectivity : dict of str to Selectivity
        Per trial column (``cue``, ``choice``).
    probes : dict
        ``embedding -> analysis -> scores`` (JSON-ready).
    """

    method: str
    primary: str
    coords: np.ndarray
    embeddings: dict[str, np.ndarray]
    selectivity: dict[str, Selectivity] = field(default_factory=dict)
    probes: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def n_neurons(self) -> int:
        return int(self.coords.shape[0])

    @property
    def strength(self) -> np.ndarray | None:
        """``(N,)`` tuning strength ``max_c |SI_c|`` (None without trials)."""
        if not self.selectivity:
            return None
        return np.max(np.abs(np.stack([s.si for s in self.selectivity.values()])), axis=0)

    @property
    def selective(self) -> np.ndarray | None:
        """``(N,)`` bool: significant for any column after FDR (None without trials)."""
        if not self.selectivity:
            return None
        return np.any(np.stack([s.significant for s in self.selectivity.values()]), axis=0)

    def arrays(self) -> dict[str, np.ndarray]:
        """Everything per neuron as named arrays (what ``calm embed --out`` writes)."""
        out: dict[str, np.ndarray] = {"coords": self.coords}
        for name, emb in self.embeddings.items():
            out[f"emb_{name}"] = emb
        for col, s in self.selectivity.items():
            for key in ("auc", "si", "p", "q", "significant"):
                out[f"{key}_{col}"] = getattr(s, key)
        if self.selectivity:
            out["strength"] = self.strength
            out["selective"] = self.selective
        return out

    def to_json(self) -> dict[str, Any]:
        """The object ``calm embed --json`` prints."""
        return {
            "n_neurons": self.n_neurons,
            "method": self.method,
            "primary": self.primary,
            "embeddings": {k: list(v.shape) for k, v in self.embeddings.items()},
            "selectivity": {k: s.summary() for k, s in self.selectivity.items()},
            "probes": self.probes,
        }


def _analyses(
    emb: np.ndarray, sel: dict[str, Selectivity], strength: np.ndarray, selective: np.ndarray,
    coords: np.ndarray | None, n_shuffles: int, seed: int,
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for col, s in sel.items():
        out[f"si_{col}"] = probe_regression(emb, s.si, n_shuffles=n_shuffles, seed=seed).to_json()
    out["strength"] = probe_regression(emb, strength, n_shuffles=n_shuffles, seed=seed).to_json()
    out["gradient"] = tuning_gradient(emb, strength, coords, seed=seed).to_json()
    try:
        out["separation"] = cluster_separation(emb, selective, n_shuffles=n_shuffles, seed=seed).to_json()
    except CalmError as exc:
        out["separation"] = {"skipped": str(exc)}
    return out


def analyse_neurons(
    recording: Recording,
    extractor: FeatureExtractor,
    *,
    method: str = "pca",
    columns: tuple[str, ...] = ("cue", "choice"),
    n_perm: int = 1000,
    n_shuffles: int = 200,
    min_trials: int = 5,
    seed: int = 0,
    progress: ProgressFn | None = None,
) -> NeuronMap:
    """Embeddings, map, cue/choice selectivity and probes for one recording.

    Parameters
    ----------
    recording : Recording
        Traces (and a trial table for tuning).
    extractor : FeatureExtractor
        Source of the model embeddings (e.g. :class:`~src_models.analysis.calm_features.CalmFeatures`).
    method : {'pca', 'umap'}
        2-D map of the primary embedding (the first of :data:`PRIMARY` the extractor gives).
    columns : tuple of str
        Trial columns to test for selectivity (those present are used).
    n_perm : int
        Permutations of the selectivity test.
    n_shuffles : int
        Shuffles of every probe's control.
    min_trials : int
        Minimum trials per condition of the selectivity test.
    seed : int
        Seed of permutations, folds and UMAP.
    progress : callable, optional
        ``progress(fraction, message)``.

    Returns
    -------
    NeuronMap
    """
    report = progress or no_progress
    if method not in ("pca", "umap"):
        raise CalmError(f"unknown embedding map {method!r} (use 'pca' or 'umap')")
    embeddings = dict(extractor.neuron_embeddings(recording, progress=sub_progress(report, 0.0, 0.6)))
    primary = next(n for n in (*PRIMARY, *embeddings) if n in embeddings)
    embeddings[ACTIVITY] = activity_embedding(recording.traces)
    report(0.6, "cue/choice selectivity")
    dff = delta_f_over_f(recording.traces, recording.fs)
    sel = task_selectivity(dff, recording.trials, columns, n_perm=n_perm, min_trials=min_trials, seed=seed)
    report(0.7, f"{method.upper()} map")
    coords = reduce(embeddings[primary], method, seed=seed)
    result = NeuronMap(method=method, primary=primary, coords=coords, embeddings=embeddings, selectivity=sel)
    if sel:
        strength, selective = result.strength, result.selective
        for i, (name, emb) in enumerate(embeddings.items()):
            report(0.85 + 0.15 * i / len(embeddings), f"linear probes on {name}")
            map_coords = coords if name == primary else None
            result.probes[name] = _analyses(emb, sel, strength, selective, map_coords, n_shuffles, seed)
    report(1.0, "done")
    return result
