"""ROI traces from a (lazy) movie, computed in bounded-memory chunks of frames."""

from __future__ import annotations

from typing import Any

import numpy as np

from src_models.recording import RoiSet

#: Bytes of movie read per chunk when extracting ROI traces.
CHUNK_BYTES = 64 * 2**20


def roi_weight_matrix(rois: RoiSet, fov_shape: tuple[int, ...]) -> Any:
    """Sparse ``(N, prod(fov_shape))`` matrix whose rows average each ROI's pixels.

    Rows use the ROI weights normalised to sum to one (uniform weights give the
    plain mean over the ROI's pixels).
    """
    from scipy.sparse import csr_matrix

    rows, cols, vals = [], [], []
    for i, (px, w) in enumerate(zip(rois.pixels, rois.weights)):
        w = np.asarray(w, np.float64)
        w = w / w.sum() if w.sum() > 0 else np.full(len(px), 1.0 / max(len(px), 1))
        rows.append(np.full(len(px), i))
        cols.append(np.ravel_multi_index(tuple(np.asarray(px).T), fov_shape))
        vals.append(w)
    n_pix = int(np.prod(fov_shape))
    if not rows:
        return csr_matrix((0, n_pix), dtype=np.float64)
    return csr_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
        shape=(len(rois), n_pix),
    )


def roi_traces(movie: Any, rois: RoiSet, chunk_bytes: int = CHUNK_BYTES) -> np.ndarray:
    """Weighted mean of every ROI in every frame.

    Parameters
    ----------
    movie : array-like
        ``(T, *fov_shape)`` movie; only ``chunk_bytes`` of it are in memory at a time.
    rois : RoiSet
        ROIs on ``movie.shape[1:]``.
    chunk_bytes : int
        Size of one chunk of frames.

    Returns
    -------
    ndarray
        ``(N, T)`` float32 traces.
    """
    fov = tuple(int(s) for s in movie.shape[1:])
    n_frames = int(movie.shape[0])
    W = roi_weight_matrix(rois, fov)
    frame_bytes = int(np.prod(fov)) * max(np.dtype(movie.dtype).itemsize, 4)
    step = max(1, chunk_bytes // max(frame_bytes, 1))
    out = np.empty((len(rois), n_frames), np.float32)
    for t0 in range(0, n_frames, step):
        block = np.asarray(movie[t0 : t0 + step], np.float32).reshape(-1, W.shape[1])
        out[:, t0 : t0 + len(block)] = W @ block.T
    return out
