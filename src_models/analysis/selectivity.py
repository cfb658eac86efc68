"""Per-neuron cue and choice selectivity: ROC AUC between two trial conditions, SI, permutation p.

A neuron's response on a trial is its mean activity over the trial (or a window), optionally in
``n_bins`` time bins scored at the most selective bin (the permutation test uses the same
max-over-bins statistic). ``AUC`` is the probability that a trial of the second condition evokes a
larger response than one of the first (Mann–Whitney, ties ½); ``SI = 2 (AUC − 0.5)``; the two-sided
permutation p-value is one matrix product of the rank matrix with permuted labels for all neurons;
``q`` is Benjamini–Hochberg over neurons and ``significant = q < alpha``.

Conditioned on a second column (``condition_on='cue'``), AUCs are computed within each stratum,
averaged with weights ``n₁ n₀`` and labels permuted within strata, so a cue cell is not mistaken
for a choice cell when choice and cue are correlated.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.stats import rankdata

from src_models.analysis.targets import is_label_column, usable_labels
from src_models.errors import CalmError


@dataclass
class Selectivity:
    """Selectivity of every neuron for one trial condition.

    Attributes
    ----------
    column : str
        Trial column compared (e.g. ``cue``).
    classes : tuple
        ``(first, second)``: AUC > 0.5 / SI > 0 means larger responses on ``second`` trials.
    auc, si, p, q, d_prime : ndarray
        ``(N,)`` ROC AUC, selectivity index, permutation p-value, BH-adjusted p-value, d′.
    significant : ndarray
        ``(N,)`` bool, ``q < alpha``.
    n_trials : dict
        Trials per class (per stratum when conditioned) used in the test.
    condition_on : str or None
        Column the test was stratified by.
    n_perm : int
        Number of permutations.
    alpha : float
        FDR level.
    best_bin : ndarray
        ``(N,)`` time bin of the trial where each neuron's AUC was taken (0 with one bin).
    n_bins : int
        Time bins per trial.
    """

    column: str
    classes: tuple
    auc: np.ndarray
    si: np.ndarray
    p: np.ndarray
    q: np.ndarray
    d_prime: np.ndarray
    significant: np.ndarray
    n_trials: dict = field(default_factory=dict)
    condition_on: str | None = None
    n_perm: int = 0
    alpha: float = 0.05
    best_bin: np.ndarray | None = None
    n_bins: int = 1

    def summary(self) -> dict:
        """JSON-friendly counts: classes, trials, number and fraction of significant neurons."""
        return {
            "column": self.column,
            "classes": [str(c) for c in self.classes],
            "condition_on": self.condition_on,
            "n_trials": {str(k): v for k, v in self.n_trials.items()},
            "n_significant": int(self.significant.sum()),
            "fraction_significant": float(self.significant.mean()),
            "n_perm": self.n_perm,
            "alpha": self.alpha,
            "n_bins": self.n_bins,
        }


def trial_responses(
    traces: np.ndarray,
    start_frame: np.ndarray,
    end_frame: np.ndarray,
    window: tuple[int, int] | None = None,
    n_bins: int = 1,
) -> np.ndarray:
    """Mean activity of every neuron in every trial, ``(N, n_trials)`` or ``(N, n_bins, n_trials)``.

    Parameters
    ----------
    traces : ndarray
        ``(N, T)`` activity.
    start_frame, end_frame : ndarray
        ``(n_trials,)`` trial bounds, end exclusive.
    window : (int, int), optional
        Frames ``[start + window[0], start + window[1])`` instead of the whole trial; clipped to the
        recording.
    n_bins : int
        Split each trial (window) into this many equal time bins; ``> 1`` adds the bin axis.
    """
    x = np.asarray(traces, np.float64)
    T = x.shape[1]
    s = np.asarray(start_frame, np.int64)
    e = np.asarray(end_frame, np.int64)
    if window is not None:
        s, e = s + int(window[0]), s + int(window[1])
    s = np.clip(s, 0, T)
    e = np.clip(e, 0, T)
    if np.any(e <= s):
        bad = int(np.flatnonzero(e <= s)[0])
        raise CalmError(f"trial {bad} has no frames inside the recording (frames {s[bad]}..{e[bad]})")
    cs = np.concatenate([np.zeros((x.shape[0], 1)), np.cumsum(x, axis=1)], axis=1)
    if n_bins <= 1:
        return (cs[:, e] - cs[:, s]) / (e - s)
    edges = s[None, :] + np.floor(
        np.linspace(0, 1, n_bins + 1)[:, None] * (e - s)[None, :]
    ).astype(np.int64)
    lo, hi = edges[:-1], np.maximum(edges[1:], edges[:-1] + 1)
    return (cs[:, hi] - cs[:, lo]) / (hi - lo)[None]


def _rank_sum_auc(ranks: np.ndarray, pos: np.ndarray) -> np.ndarray:
    """AUC from within-sample ranks: ``(R·pos − n₁(n₁+1)/2) / (n₁ n₀)``; ``pos`` is ``(n,)`` or ``(n, P)``."""
    n1 = pos.sum(0)
    n0 = pos.shape[0] - n1
    return (ranks @ pos - n1 * (n1 + 1) / 2.0) / (n1 * n0)


def _random_masks(n: int, n1: int, n_perm: int, rng: np.random.Generator) -> np.ndarray:
    """``(n, n_perm)`` float indicators, each column a random subset of size ``n1``."""
    order = rng.random((n_perm, n)).argsort(axis=1).argsort(axis=1)
    return (order < n1).T.astype(np.float64)


def benjamini_hochberg(p: np.ndarray) -> np.ndarray:
    """Benjamini–Hochberg adjusted p-values (q-values), same shape as ``p``."""
    p = np.asarray(p, np.float64)
    n = p.size
    if n == 0:
        return p.copy()
    order = np.argsort(p.ravel())
    ranked = p.ravel()[order] * n / np.arange(1, n + 1)
    q = np.minimum.accumulate(ranked[::-1])[::-1]
    out = np.empty(n)
    out[order] = np.minimum(q, 1.0)
    return out.reshape(p.shape)


def auc_test(
    responses: np.ndarray,
    labels: np.ndarray,
    strata: np.ndarray | None = None,
    n_perm: int = 1000,
    seed: int = 0,
    chunk: int = 500,
) -> tuple[np.ndarray, np.ndarray]:
    """ROC AUC of every neuron and its two-sided permutation p-value.

    With time bins (``responses`` of shape ``(N, B, n)``) the test statistic of a neuron is its
    largest ``|AUC − 0.5|`` over bins and each permutation is scored the same way, so the p-value
    accounts for the choice of bin.

    Parameters
    ----------
    responses : ndarray
        ``(N, n)`` or ``(N, B, n)`` per-trial responses.
    labels : ndarray
        ``(n,)`` bool, True for the second condition.
    strata : ndarray, optional
        ``(n,)`` stratum of each trial; AUCs are computed and labels permuted within strata, and
        the stratum AUCs averaged with weights ``n₁ n₀``. Strata lacking either class are skipped.
    n_perm : int
        Number of permutations (0 → p-values are NaN).
    seed : int
        Seed of the permutations.
    chunk : int
        Permutations evaluated per matrix product (bounds memory to ``N × chunk``).

    Returns
    -------
    auc : ndarray
        ``(N,)``, or ``(N, B)`` with bins.
    p : ndarray
        ``(N,)``.
    """
    r = np.asarray(responses, np.float64)
    shape = r.shape[:-1]
    r = r.reshape(-1, r.shape[-1])
    y = np.asarray(labels, bool)
    groups = [np.ones(len(y), bool)] if strata is None else [strata == s for s in np.unique(strata)]
    parts = []
    for g in groups:
        n1 = int(y[g].sum())
        n0 = int(g.sum()) - n1
        if n1 and n0:
            parts.append((rankdata(r[:, g], axis=1), y[g].astype(np.float64), n1, n1 * n0))
    if not parts:
        raise CalmError("selectivity needs trials of both conditions")
    weights = np.array([w for *_, w in parts], np.float64)
    weights /= weights.sum()
    auc = sum(w * _rank_sum_auc(R, pos) for (R, pos, _, _), w in zip(parts, weights))
    if n_perm <= 0:
        return auc.reshape(shape), np.full(shape[0], np.nan)
    rng = np.random.default_rng(seed)
    obs = np.abs(auc.reshape(shape[0], -1) - 0.5).max(1)[:, None] - 1e-12
    exceed = np.zeros(shape[0])
    done = 0
    while done < n_perm:
        m = min(chunk, n_perm - done)
        perm = sum(
            w * _rank_sum_auc(R, _random_masks(len(pos), n1, m, rng))
            for (R, pos, n1, _), w in zip(parts, weights)
        )
        stat = np.abs(perm.reshape(shape[0], -1, m) - 0.5).max(1)
        exceed += (stat >= obs).sum(1)
        done += m
    return auc.reshape(shape), (exceed + 1) / (n_perm + 1)


def d_prime(responses: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """``(μ₁ − μ₀) / sqrt((σ₁² + σ₀²) / 2)`` per neuron (0 where both variances vanish)."""
    r = np.asarray(responses, np.float64)
    y = np.asarray(labels, bool)
    a, b = r[:, y], r[:, ~y]
    den = np.sqrt((a.var(1, ddof=1) + b.var(1, ddof=1)) / 2) if min(a.shape[1], b.shape[1]) > 1 else 0
    diff = a.mean(1) - b.mean(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(np.asarray(den) > 0, diff / den, 0.0)


def _two_classes(trials: dict, column: str, classes: tuple | None, ok: np.ndarray) -> tuple:
    v, _ = usable_labels(trials[column])
    found = tuple(np.unique(v[ok]).tolist())
    if classes is None:
        if len(found) != 2:
            raise CalmError(
                f"selectivity compares two conditions; trial column {column!r} has {len(found)}: "
                f"{[str(c) for c in found][:8]} (pick two with classes=...)"
            )
        return found
    missing = [c for c in classes if c not in found]
    if missing:
        raise CalmError(f"trial column {column!r} has no trials of {missing}; it has {list(found)}")
    return tuple(classes)


def selectivity(
    traces: np.ndarray,
    trials: dict[str, np.ndarray],
    column: str,
    *,
    condition_on: str | None = None,
    classes: tuple | None = None,
    window: tuple[int, int] | None = None,
    n_bins: int = 1,
    n_perm: int = 1000,
    alpha: float = 0.05,
    min_trials: int = 5,
    seed: int = 0,
) -> Selectivity:
    """Selectivity of every neuron for the two conditions of one trial column.

    Parameters
    ----------
    traces : ndarray
        ``(N, T)`` activity (ΔF/F or z-scored; the AUC only uses ranks within a neuron).
    trials : dict
        Trial table with ``start_frame``, ``end_frame`` and ``column``.
    column : str
        Condition column, e.g. ``cue`` or ``choice``.
    condition_on : str, optional
        Stratify by this column (e.g. choice within cue).
    classes : tuple, optional
        The two label values to compare, ``(first, second)``; default: the two values present.
    window : (int, int), optional
        Response window in frames relative to trial start (default: the whole trial).
    n_bins : int
        Equal time bins of the window; each neuron is scored in its most selective bin (the
        permutation test uses the same max-over-bins statistic).
    n_perm : int
        Permutations for the p-values.
    alpha : float
        FDR level for ``significant``.
    min_trials : int
        Minimum trials per condition (per stratum when conditioned, in at least one stratum).
    seed : int
        Seed of the permutations.

    Returns
    -------
    Selectivity
    """
    have = sorted(k for k in trials if is_label_column(k))
    for name in (column, condition_on):
        if name is not None and name not in trials:
            raise CalmError(f"no trial column {name!r}; trial columns: {have or 'none'}")
    if not {"start_frame", "end_frame"} <= set(trials):
        raise CalmError("the recording has no trial table (start_frame/end_frame)")
    values, ok = usable_labels(trials[column])
    strata = None
    if condition_on is not None:
        strata, ok_s = usable_labels(trials[condition_on])
        ok &= ok_s
    classes = _two_classes(trials, column, classes, ok)
    ok &= np.isin(values, classes)
    y = values == classes[1]
    sel_strata = None if strata is None else strata[ok]
    counts = _counts(y[ok], sel_strata, classes)
    _check_counts(counts, column, condition_on, min_trials)
    resp = trial_responses(
        traces,
        np.asarray(trials["start_frame"])[ok],
        np.asarray(trials["end_frame"])[ok],
        window,
        max(1, n_bins),
    ).reshape(len(traces), max(1, n_bins), -1)
    auc_bins, p = auc_test(resp, y[ok], sel_strata, n_perm=n_perm, seed=seed)
    best = np.abs(auc_bins - 0.5).argmax(1)
    rows = np.arange(len(best))
    auc = auc_bins[rows, best]
    q = benjamini_hochberg(p) if n_perm > 0 else p
    return Selectivity(
        column=column,
        classes=classes,
        auc=auc,
        si=2 * (auc - 0.5),
        p=p,
        q=q,
        d_prime=d_prime(resp[rows, best], y[ok]),
        significant=q < alpha,
        n_trials=counts,
        condition_on=condition_on,
        n_perm=int(n_perm),
        alpha=alpha,
        best_bin=best,
        n_bins=max(1, n_bins),
    )


def _counts(y: np.ndarray, strata: np.ndarray | None, classes: tuple) -> dict:
    if strata is None:
        return {str(classes[0]): int((~y).sum()), str(classes[1]): int(y.sum())}
    return {
        f"{s}/{c}": int(((strata == s) & (y == bool(i))).sum())
        for s in np.unique(strata)
        for i, c in enumerate(classes)
    }


def _check_counts(counts: dict, column: str, condition_on: str | None, min_trials: int) -> None:
    if condition_on is None:
        enough = min(counts.values()) >= min_trials
    else:
        per = {}
        for key, n in counts.items():
            per.setdefault(key.rsplit("/", 1)[0], []).append(n)
        enough = any(min(v) >= min_trials for v in per.values())
    if not enough:
        what = f"{column!r}" + (f" within {condition_on!r}" if condition_on else "")
        raise CalmError(
            f"too few trials per condition of {what} (need at least {min_trials} each): "
            + ", ".join(f"{k}: {v}" for k, v in counts.items())
        )


def tuning_classes(selectivity: dict[str, Selectivity]) -> tuple[np.ndarray, list[str]]:
    """Each neuron's tuning as one category: ``(N,)`` codes and their names.

    Code 0 is ``untuned`` (significant for no column); a neuron significant for one or more trial
    columns (``Selectivity`` per column) gets the column of its largest ``|SI|`` and the class it
    prefers: ``1 + 2 k + (SI > 0)`` for the ``k``-th column, named ``"<column> <class>"``.
    """
    names, codes = ["untuned"], None
    strength = []
    for k, (column, sel) in enumerate(selectivity.items()):
        names += [f"{column} {c}" for c in sel.classes]
        si = np.nan_to_num(np.asarray(sel.si, float))
        strength.append(np.where(np.asarray(sel.significant, bool), np.abs(si), -1.0))
        side = 1 + 2 * k + (si > 0)
        codes = side if codes is None else np.where(strength[-1] > np.max(strength[:-1], axis=0), side, codes)
    if codes is None:
        return np.zeros(0), names
    return np.where(np.max(strength, axis=0) >= 0, codes, 0).astype(float), names


def recovery(significant: np.ndarray, planted: np.ndarray) -> dict[str, float]:
    """Precision, recall and F1 of a significance mask against planted (ground-truth) cells."""
    s = np.asarray(significant, bool)
    t = np.asarray(planted, bool)
    tp = int((s & t).sum())
    precision = tp / s.sum() if s.sum() else float("nan")
    recall = tp / t.sum() if t.sum() else float("nan")
    f1 = 2 * precision * recall / (precision + recall) if tp else 0.0
    return {"precision": float(precision), "recall": float(recall), "f1": float(f1),
            "n_detected": int(s.sum()), "n_planted": int(t.sum()), "true_positives": tp}


def task_selectivity(
    traces: np.ndarray,
    trials: dict[str, np.ndarray],
    columns: tuple[str, ...] = ("cue", "choice"),
    *,
    n_bins: int = 4,
    n_perm: int = 1000,
    alpha: float = 0.05,
    min_trials: int = 5,
    seed: int = 0,
) -> dict[str, Selectivity]:
    """Selectivity for each of ``columns`` present in the trial table (``n_bins`` as in :func:`selectivity`).

    With exactly two columns, each is tested within the conditions of the other; a column whose
    strata lack ``min_trials`` trials of both conditions falls back to the unconditioned test
    (``condition_on`` None).

    Returns
    -------
    dict of str to Selectivity
        One entry per column found (empty when the recording has no trial table).
    """
    present = [c for c in columns if c in trials]
    if not present or not {"start_frame", "end_frame"} <= set(trials):
        return {}
    out = {}
    for c in present:
        others = [o for o in present if o != c]
        kw = dict(n_bins=n_bins, n_perm=n_perm, alpha=alpha, min_trials=min_trials, seed=seed)
        if len(others) == 1:
            try:
                out[c] = selectivity(traces, trials, c, condition_on=others[0], **kw)
                continue
            except CalmError as exc:
                if "too few trials" not in str(exc):
                    raise
        out[c] = selectivity(traces, trials, c, **kw)
    return out
