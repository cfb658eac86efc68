"""Per-neuron embeddings: 2-D maps and linear analyses of how they relate to tuning.

* :func:`reduce` — PCA or UMAP (imported only when asked) of an ``(N, D)`` embedding to 2-D.
* :func:`probe_regression` / :func:`probe_classification` — ridge probes of a per-neuron value
  or class, cross-validated over neurons, against the same probe fitted to shuffled values.
* :func:`tuning_gradient` — the direction along which tuning strength |SI| grows.
* :func:`cluster_separation` — silhouette of selective vs untuned neurons, against shuffles.
* :func:`activity_embedding` — a reference embedding from the traces alone (population PCs).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from src_models.analysis.linear import centroids, estimator, nearest
from src_models.analysis.scores import balanced_accuracy, pearson_r, r2_score
from src_models.errors import CalmError

#: ridge penalties of the probes (on standardised embeddings)
PROBE_ALPHAS = tuple(float(a) for a in np.logspace(-2, 4, 13))


def standardise(emb: np.ndarray) -> np.ndarray:
    """Columns to zero mean and unit variance (constant columns to zero)."""
    x = np.asarray(emb, np.float64)
    sd = x.std(0)
    return (x - x.mean(0)) / np.where(sd > 1e-8, sd, 1.0)


def _check(emb: np.ndarray, n: int | None = None, what: str = "embedding") -> np.ndarray:
    x = np.asarray(emb, np.float64)
    if x.ndim != 2 or x.shape[0] < 3:
        raise CalmError(f"{what} must be (neurons, dims) with at least 3 neurons, got shape {x.shape}")
    if n is not None and x.shape[0] != n:
        raise CalmError(f"{what} has {x.shape[0]} rows for {n} neurons")
    if not np.isfinite(x).all():
        raise CalmError(f"{what} contains NaN or Inf")
    return x


def reduce(emb: np.ndarray, method: str = "pca", n_components: int = 2, seed: int = 0) -> np.ndarray:
    """2-D (or ``n_components``-D) coordinates of the neurons.

    Parameters
    ----------
    emb : ndarray
        ``(N, D)`` embedding.
    method : {'pca', 'umap'}
        PCA of the centred (not standardised, which would make uncorrelated loadings equally
        important) embedding, or UMAP of the standardised one (``n_neighbors = min(15, N - 1)``).
    n_components : int
        Output dimensions.
    seed : int
        UMAP random state.

    Returns
    -------
    ndarray
        ``(N, n_components)`` float32.
    """
    x = _check(emb)
    if method == "pca":
        u, s, _ = np.linalg.svd(x - x.mean(0), full_matrices=False)
        out = u[:, :n_components] * s[:n_components]
        if out.shape[1] < n_components:
            out = np.pad(out, ((0, 0), (0, n_components - out.shape[1])))
        return out.astype(np.float32)
    if method == "umap":
        import umap

        k = min(15, len(x) - 1)
        reducer = umap.UMAP(n_components=n_components, n_neighbors=k, random_state=seed, n_jobs=1)
        return np.asarray(reducer.fit_transform(standardise(x)), np.float32)
    raise CalmError(f"unknown embedding map {method!r} (use 'pca' or 'umap')")


def activity_embedding(traces: np.ndarray, n_components: int = 16) -> np.ndarray:
    """``(N, k)`` loadings of each neuron on the top ``k`` principal components of the population."""
    x = np.asarray(traces, np.float64)
    sd = x.std(1, keepdims=True)
    x = (x - x.mean(1, keepdims=True)) / np.where(sd > 0, sd, 1)
    u, s, _ = np.linalg.svd(x, full_matrices=False)
    k = min(n_components, len(s))
    return (u[:, :k] * s[:k] / np.sqrt(x.shape[1])).astype(np.float32)


@dataclass
class ProbeScore:
    """Cross-validated probe score against its shuffle control.

    Attributes
    ----------
    metric : str
        ``r2`` (regression) or ``balanced_accuracy`` (classification).
    score : float
        Cross-validated score on the real values.
    r : float or None
        Pearson r of the cross-validated predictions (regression).
    shuffled_mean, shuffled_p95 : float
        Mean and 95th percentile of the score over shuffles.
    p : float
        ``(1 + #shuffles ≥ score) / (1 + n_shuffles)``.
    n_shuffles, n_folds : int
        Controls used.
    """

    metric: str
    score: float
    r: float | None
    shuffled_mean: float
    shuffled_p95: float
    p: float
    n_shuffles: int
    n_folds: int

    def to_json(self) -> dict:
        return {
            k: (None if v is None else (float(v) if isinstance(v, float | np.floating) else v))
            for k, v in asdict(self).items()
        }

    @classmethod
    def against_shuffles(cls, metric: str, scores: np.ndarray, r: float | None, n_folds: int) -> ProbeScore:
        """The real score (``scores[0]``) against the shuffled ones (``scores[1:]``)."""
        real, null = float(scores[0]), scores[1:]
        nan = float("nan")
        mean, p95 = (float(null.mean()), float(np.percentile(null, 95))) if len(null) else (nan, nan)
        p = float((1 + np.sum(null >= real)) / (1 + len(null)))
        return cls(metric, real, r, mean, p95, p, len(null), n_folds)


def _folds(n: int, n_folds: int, rng: np.random.Generator, labels: np.ndarray | None = None) -> np.ndarray:
    """Fold id of each neuron (random; stratified by ``labels`` when given)."""
    fold = np.empty(n, np.int64)
    if labels is None:
        fold[rng.permutation(n)] = np.arange(n) % n_folds
        return fold
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        fold[rng.permutation(idx)] = np.arange(len(idx)) % n_folds
    return fold


def _ridge(x: np.ndarray, Y: np.ndarray) -> Any:
    """``estimator("ridge")`` of every column of ``Y`` on ``x``, each with its own penalty (efficient
    leave-one-out over :data:`PROBE_ALPHAS`)."""
    return estimator("ridge", alphas=PROBE_ALPHAS, per_target=Y.shape[1] > 1).fit(x, Y)


def _ridge_cv_predict(x: np.ndarray, Y: np.ndarray, fold: np.ndarray) -> np.ndarray:
    """Out-of-fold ridge predictions of every column of ``Y`` (penalties chosen in each fold)."""
    pred = np.zeros_like(Y)
    for f in np.unique(fold):
        ridge = _ridge(x[fold != f], Y[fold != f])
        pred[fold == f] = ridge.predict(x[fold == f]).reshape(-1, Y.shape[1])
    return pred


def probe_regression(
    emb: np.ndarray, values: np.ndarray, n_folds: int = 5, n_shuffles: int = 200, seed: int = 0
) -> ProbeScore:
    """Cross-validated (over neurons) ridge probe of ``values`` from the embedding.

    Parameters
    ----------
    emb : ndarray
        ``(N, D)`` embedding.
    values : ndarray
        ``(N,)`` per-neuron value (SI, |SI|, ...).
    n_folds : int
        Random folds over neurons.
    n_shuffles : int
        Permutations of ``values`` for the control (all solved with the same factorisations).
    seed : int
        Seed of folds and permutations.
    """
    y = np.asarray(values, np.float64)
    x = standardise(_check(emb, len(y)))
    if np.ptp(y) == 0:
        raise CalmError("the probed values are constant across neurons")
    rng = np.random.default_rng(seed)
    fold = _folds(len(y), min(n_folds, len(y)), rng)
    Y = np.column_stack([y] + [rng.permutation(y) for _ in range(n_shuffles)])
    P = _ridge_cv_predict(x, Y, fold)
    r2 = np.array([r2_score(Y[:, j], P[:, j]) for j in range(Y.shape[1])])
    r = float(np.nan_to_num(pearson_r(y, P[:, 0])))
    return ProbeScore.against_shuffles("r2", r2, r, int(fold.max() + 1))


def _nearest_centroid_cv(x: np.ndarray, labels: np.ndarray, fold: np.ndarray, n_classes: int) -> np.ndarray:
    """Out-of-fold class predictions of a ridge classifier for every column of ``labels``.

    Each column of ``labels`` (``(N, k)`` ints) is regressed one-hot (penalty by leave-one-out); a
    neuron goes to the class whose mean training output is nearest to its output (robust to
    unbalanced classes).
    """
    N, k = labels.shape
    Y = np.concatenate([np.eye(n_classes)[labels[:, j]] for j in range(k)], axis=1)
    pred = np.zeros((N, k), np.int64)
    for f in np.unique(fold):
        tr, te = fold != f, fold == f
        ridge = _ridge(x[tr], Y[tr])
        out_tr, out_te = ridge.predict(x[tr]), ridge.predict(x[te])
        for j in range(k):
            cols = slice(j * n_classes, (j + 1) * n_classes)
            # a class absent from this training fold (possible in a shuffled column) is never chosen
            pred[te, j] = nearest(out_te[:, cols], centroids(out_tr[:, cols], labels[tr, j], n_classes))
    return pred


def probe_classification(
    emb: np.ndarray, labels: np.ndarray, n_folds: int = 5, n_shuffles: int = 200, seed: int = 0
) -> ProbeScore:
    """Cross-validated balanced accuracy of a linear (ridge-classifier) probe, against shuffles.

    Folds are stratified by the real labels and shared by the shuffles, so every shuffle is solved
    as extra target columns of the same factorisations.
    """
    lab = np.asarray(labels)
    x = standardise(_check(emb, len(lab)))
    classes, y = np.unique(lab, return_inverse=True)
    counts = np.bincount(y)
    if len(classes) < 2:
        raise CalmError("the probe needs neurons of at least two classes")
    k = int(min(n_folds, counts.min()))
    if k < 2:
        per_class = dict(zip(map(str, classes), counts.tolist()))
        raise CalmError(f"too few neurons per class for a probe: {per_class}")
    rng = np.random.default_rng(seed)
    fold = _folds(len(y), k, rng, y)
    Ys = np.column_stack([y] + [rng.permutation(y) for _ in range(n_shuffles)])
    pred = _nearest_centroid_cv(x, Ys, fold, len(classes))
    ba = np.array([balanced_accuracy(Ys[:, j], pred[:, j]) for j in range(Ys.shape[1])])
    return ProbeScore.against_shuffles("balanced_accuracy", ba, None, k)


@dataclass
class TuningGradient:
    """The direction along which tuning strength grows.

    Attributes
    ----------
    direction : ndarray
        ``(D,)`` unit vector in the standardised embedding space.
    r_cv : float
        Out-of-fold Pearson r between the projection on the direction and the strength.
    direction_2d : ndarray or None
        ``(2,)`` unit vector of the same gradient in the 2-D map (least squares on coordinates).
    r_2d : float or None
        In-sample Pearson r of the 2-D linear fit (how graded the map looks).
    """

    direction: np.ndarray
    r_cv: float
    direction_2d: np.ndarray | None = None
    r_2d: float | None = None

    def to_json(self) -> dict:
        d2 = None if self.direction_2d is None else [float(v) for v in self.direction_2d]
        return {"r_cv": self.r_cv, "direction_2d": d2, "r_2d": self.r_2d}


def tuning_gradient(
    emb: np.ndarray, strength: np.ndarray, coords: np.ndarray | None = None, n_folds: int = 5, seed: int = 0
) -> TuningGradient:
    """Direction of increasing tuning strength in the embedding (and in its 2-D map)."""
    y = np.asarray(strength, np.float64)
    x = standardise(_check(emb, len(y)))
    fold = _folds(len(y), min(n_folds, len(y)), np.random.default_rng(seed))
    r_cv = float(np.nan_to_num(pearson_r(y, _ridge_cv_predict(x, y[:, None], fold)[:, 0])))
    # x is standardised already: the pipeline's scaler is the identity
    coef = np.ravel(_ridge(x, y[:, None])[-1].coef_)
    direction = coef / (np.linalg.norm(coef) or 1.0)
    d2 = r2d = None
    if coords is not None:
        c = np.asarray(coords, np.float64)[:, :2]
        beta = np.linalg.lstsq(np.c_[c - c.mean(0), np.ones(len(y))], y, rcond=None)[0][:2]
        d2 = beta / (np.linalg.norm(beta) or 1.0)
        fit = (c - c.mean(0)) @ beta
        r2d = float(np.nan_to_num(pearson_r(y, fit)))
    return TuningGradient(direction=direction, r_cv=r_cv, direction_2d=d2, r_2d=r2d)


@dataclass
class Separation:
    """How well selective and untuned neurons separate in an embedding.

    Attributes
    ----------
    silhouette : float
        Mean silhouette of the two groups (standardised embedding, Euclidean).
    silhouette_shuffled_mean, silhouette_shuffled_p95 : float
        The same with the group labels permuted across neurons.
    p : float
        Fraction of shuffles reaching the real silhouette (with the +1 correction).
    probe : ProbeScore
        Linear probe balanced accuracy for selective vs untuned.
    n_selective, n_untuned : int
        Group sizes.
    """

    silhouette: float
    silhouette_shuffled_mean: float
    silhouette_shuffled_p95: float
    p: float
    probe: ProbeScore
    n_selective: int
    n_untuned: int

    def to_json(self) -> dict:
        out = {k: v for k, v in asdict(self).items() if k != "probe"}
        out["probe"] = self.probe.to_json()
        return out


def cluster_separation(
    emb: np.ndarray, selective: np.ndarray, n_shuffles: int = 100, seed: int = 0
) -> Separation:
    """Silhouette and probe accuracy of selective vs untuned neurons, against shuffled labels."""
    from sklearn.metrics import pairwise_distances, silhouette_score

    sel = np.asarray(selective, bool)
    x = standardise(_check(emb, len(sel)))
    n_sel, n_un = int(sel.sum()), int((~sel).sum())
    if min(n_sel, n_un) < 2:
        raise CalmError(f"cluster separation needs >= 2 selective and >= 2 untuned neurons ({n_sel}/{n_un})")
    rng = np.random.default_rng(seed)
    dist = pairwise_distances(x)
    real = float(silhouette_score(dist, sel, metric="precomputed"))
    shuffled = (rng.permutation(sel) for _ in range(n_shuffles))
    null = np.array([silhouette_score(dist, s, metric="precomputed") for s in shuffled])
    return Separation(
        silhouette=real,
        silhouette_shuffled_mean=float(null.mean()) if n_shuffles else float("nan"),
        silhouette_shuffled_p95=float(np.percentile(null, 95)) if n_shuffles else float("nan"),
        p=float((1 + np.sum(null >= real)) / (1 + n_shuffles)),
        probe=probe_classification(x, sel, n_shuffles=n_shuffles, seed=seed),
        n_selective=n_sel,
        n_untuned=n_un,
    )
