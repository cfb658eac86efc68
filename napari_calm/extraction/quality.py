"""How well extracted ROIs and traces match known ones (simulated movies).

ROIs are matched one-to-one by mask IoU (Hungarian algorithm; a pair counts from
IoU 0.3, CaImAn's ``thresh_cost = 0.7``). Recall is matched / true neurons,
precision matched / extracted ROIs; matched traces are correlated with the truth.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from src_models.recording import RoiSet

#: Default IoU a pair needs to count as a match.
IOU_THRESHOLD = 0.3


def _mask_matrix(rois: RoiSet) -> Any:
    """Sparse ``(n_rois, n_pixels)`` boolean matrix of the ROI masks."""
    from scipy import sparse

    size = int(np.prod(rois.shape))
    rows, cols = [], []
    for i, px in enumerate(rois.pixels):
        if len(px):
            flat = np.unique(np.ravel_multi_index(tuple(np.asarray(px, int).T), rois.shape))
            rows.append(np.full(len(flat), i))
            cols.append(flat)
    r = np.concatenate(rows) if rows else np.zeros(0, int)
    c = np.concatenate(cols) if cols else np.zeros(0, int)
    return sparse.csr_matrix((np.ones(len(r), np.float32), (r, c)), shape=(len(rois), size))


def mask_iou(a: RoiSet, b: RoiSet) -> np.ndarray:
    """``(len(a), len(b))`` IoU of every pair of binary ROI masks (same field of view)."""
    if tuple(a.shape) != tuple(b.shape):
        raise ValueError(f"ROI sets cover different fields of view: {a.shape} vs {b.shape}")
    A, B = _mask_matrix(a), _mask_matrix(b)
    inter = np.asarray((A @ B.T).todense())
    na, nb = np.asarray(A.sum(1)).ravel(), np.asarray(B.sum(1)).ravel()
    union = na[:, None] + nb[None, :] - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union > 0, inter / union, 0.0)


def match_rois(found: RoiSet, true: RoiSet, threshold: float = IOU_THRESHOLD) -> tuple[np.ndarray, ...]:
    """One-to-one matches maximising total IoU.

    Returns
    -------
    found_idx, true_idx : ndarray of int
        Matched pairs (IoU ≥ ``threshold``).
    iou : ndarray
        Their IoU.
    """
    from scipy.optimize import linear_sum_assignment

    iou = mask_iou(found, true)
    if iou.size == 0:
        empty = np.zeros(0, int)
        return empty, empty, np.zeros(0)
    r, c = linear_sum_assignment(-iou)
    keep = iou[r, c] >= threshold
    return r[keep], c[keep], iou[r, c][keep]


def _row_corr(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a - a.mean(axis=1, keepdims=True)
    b = b - b.mean(axis=1, keepdims=True)
    den = np.sqrt((a * a).sum(1) * (b * b).sum(1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, (a * b).sum(1) / den, np.nan)


def extraction_quality(
    found: RoiSet,
    found_traces: np.ndarray,
    true: RoiSet,
    true_traces: np.ndarray,
    threshold: float = IOU_THRESHOLD,
) -> dict[str, Any]:
    """Recall, precision and trace correlation of extracted against true neurons.

    Parameters
    ----------
    found, true : RoiSet
        Extracted and true footprints (same field of view).
    found_traces, true_traces : ndarray
        ``(len(found), T)`` and ``(len(true), T)`` traces.
    threshold : float
        IoU a pair needs.

    Returns
    -------
    dict
        ``n_true``, ``n_found``, ``n_matched``, ``recall``, ``precision``, ``f1``,
        ``median_iou``, ``median_trace_corr`` (NaN without matches) and
        ``trace_corr`` (per matched pair).
    """
    fi, ti, iou = match_rois(found, true, threshold)
    corr = _row_corr(np.asarray(found_traces, float)[fi], np.asarray(true_traces, float)[ti])
    n_true, n_found, n = len(true), len(found), len(fi)
    recall = n / n_true if n_true else float("nan")
    precision = n / n_found if n_found else float("nan")
    f1 = 2 * recall * precision / (recall + precision) if n else 0.0
    return {
        "n_true": n_true,
        "n_found": n_found,
        "n_matched": n,
        "recall": float(recall),
        "precision": float(precision),
        "f1": float(f1),
        "median_iou": float(np.median(iou)) if n else float("nan"),
        "median_trace_corr": float(np.nanmedian(corr)) if n else float("nan"),
        "trace_corr": corr,
    }
