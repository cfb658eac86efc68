"""Small numeric helpers that prepare data for the dock plots (Qt-free)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from src_models.recording import Recording

#: Points above which a trace is drawn as a min/max envelope.
MAX_POINTS = 4000


def neuron_trace(recording: Recording, i: int) -> np.ndarray:
    """Neuropil-corrected trace of neuron ``i`` (one row of ``recording.traces``, alone)."""
    f = np.asarray(recording.F[i], np.float32)
    if recording.Fneu is None or recording.neuropil_coefficient == 0:
        return f
    return f - np.float32(recording.neuropil_coefficient) * np.asarray(
        recording.Fneu[i], np.float32
    )


def envelope(
    t: np.ndarray, y: np.ndarray, max_points: int = MAX_POINTS
) -> tuple[np.ndarray, np.ndarray]:
    """Min/max envelope of a long series so a line plot keeps its peaks with few points.

    Parameters
    ----------
    t, y : ndarray
        Equal-length 1-D time and value arrays.
    max_points : int
        Series at most this long are returned unchanged.

    Returns
    -------
    tuple of ndarray
        Time and value arrays of at most ``max_points`` points (min then max of each bin).
    """
    n = len(y)
    if n <= max_points:
        return t, y
    bins = max_points // 2
    edges = np.linspace(0, n, bins + 1).astype(int)
    lo = np.minimum.reduceat(y, edges[:-1])
    hi = np.maximum.reduceat(y, edges[:-1])
    tt = np.repeat(t[edges[:-1]], 2)
    yy = np.empty(2 * bins, y.dtype)
    yy[0::2], yy[1::2] = lo, hi
    return tt, yy
