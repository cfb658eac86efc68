"""Small numeric helpers that prepare data for the dock plots (Qt-free)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from src_models.recording import Recording

#: Points above which a trace is drawn as a min/max envelope.
MAX_POINTS = 4000


def zscored_neuron(recording: Recording, i: int) -> tuple[np.ndarray, float, float]:
    """Neuropil-corrected trace of neuron ``i`` (one row of ``recording.traces``) z-scored.

    Returns
    -------
    z : ndarray
        ``(T,)`` the trace less its mean, over its std.
    mean, std : float
        The statistics used (std 1 for a flat trace).
    """
    f = np.asarray(recording.F[i], np.float32)
    if recording.Fneu is not None and recording.neuropil_coefficient != 0:
        coefficient = np.float32(recording.neuropil_coefficient)
        f = f - coefficient * np.asarray(recording.Fneu[i], np.float32)
    mean, std = float(f.mean()), float(f.std()) or 1.0
    return (f - mean) / std, mean, std


def envelope(
    t: np.ndarray, y: np.ndarray, max_points: int = MAX_POINTS
) -> tuple[np.ndarray, np.ndarray]:
    """Min/max envelope of ``t, y`` in at most ``max_points`` points (a line plot keeps peaks)."""
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


def feature_colors(values: np.ndarray, name: str, categories: list[str] | None = None) -> tuple[np.ndarray, Any]:
    """RGBA colours ``(N, 4)`` of per-neuron ``values`` and the ScalarMappable for a colour bar.

    Features named ``*_si`` or with signed values use a symmetric diverging map, others a sequential
    one; NaN values are grey. With ``categories`` the values are codes ``0..len - 1`` coloured grey
    (code 0), then by pairs of dark and light blues, oranges, greens…; the mappable carries them as
    ``categories`` for the colour bar's tick labels.
    """
    import matplotlib as mpl

    v = np.asarray(values, float)
    finite = v[np.isfinite(v)]
    signed = name.endswith("_si") or (finite.size and finite.min() < 0 < finite.max())
    if categories is not None:
        paired = mpl.colormaps["tab20"].colors
        cmap = mpl.colors.ListedColormap([(0.45, 0.45, 0.45)] + list(paired[: len(categories) - 1]))
        norm = mpl.colors.BoundaryNorm(np.arange(len(categories) + 1) - 0.5, len(categories))
    elif signed:
        lim = float(np.nanmax(np.abs(finite))) if finite.size else 1.0
        norm = mpl.colors.Normalize(-lim or -1.0, lim or 1.0)
        cmap = mpl.colormaps["coolwarm"]
    else:
        lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
        norm = mpl.colors.Normalize(lo, hi if hi > lo else lo + 1.0)
        cmap = mpl.colormaps["viridis"]
    colors = cmap(norm(np.nan_to_num(v)))
    colors[~np.isfinite(v)] = (0.55, 0.55, 0.55, 1.0)
    mappable = mpl.cm.ScalarMappable(norm=norm, cmap=cmap)
    mappable.categories = categories
    return colors, mappable


def code_usage(tokens: np.ndarray, n_codes: int) -> tuple[np.ndarray, np.ndarray]:
    """Codes used by ``tokens`` (non-empty), and those used often (top quartile, twice or more)."""
    counts = np.bincount(tokens, minlength=n_codes)
    used = np.flatnonzero(counts)
    return used, used[counts[used] >= max(2, np.percentile(counts[used], 75))]


def panel_columns(values: np.ndarray, neurons: list[int]) -> np.ndarray:
    """``(T, N)`` values as ``(T, len(neurons) + 1)``: the chosen neurons, then the mean of all."""
    return np.column_stack([values[:, neurons], values.mean(axis=1)])
