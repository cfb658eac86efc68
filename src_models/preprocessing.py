"""Trace preprocessing: ΔF/F with a documented baseline, time splits, z-scoring.

ΔF/F
    ``(F - F0) / F0`` where ``F0`` is a slow baseline of the (neuropil-corrected)
    fluorescence:

    * ``maximin`` (suite2p's): Gaussian smoothing with σ = ``sigma_frames``,
      then a running minimum and a running maximum over ``window_s`` seconds;
    * ``prctile``: running ``percentile`` over ``window_s`` seconds.

    ``F0`` is clipped below at ``f0_floor`` × the median of |F| so a baseline near
    zero (high-SNR sensors, over-corrected neuropil) cannot blow the ratio up.

Z-scoring
    Statistics come from the training split only (:class:`ZScore`), so
    validation and test frames never leak into normalisation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import (
    gaussian_filter1d,
    maximum_filter1d,
    minimum_filter1d,
    percentile_filter,
    uniform_filter1d,
)

from src_models.errors import CalmError


def delta_f_over_f(
    F: np.ndarray,
    fs: float,
    method: str = "maximin",
    window_s: float = 60.0,
    sigma_frames: float = 10.0,
    percentile: float = 8.0,
    f0_floor: float = 0.1,
    causal: bool = False,
    fit_frames: int | None = None,
) -> np.ndarray:
    """ΔF/F of ``(N, T)`` traces.

    Parameters
    ----------
    F : ndarray
        Fluorescence, ``(N, T)``.
    fs : float
        Frame rate in Hz (converts ``window_s`` to frames).
    method : {'maximin', 'prctile'}
        Baseline estimator.
    window_s : float
        Baseline window in seconds (clipped to the recording length).
    sigma_frames : float
        Gaussian smoothing before the maximin filters, in frames.
    percentile : float
        Percentile for the ``prctile`` baseline.
    f0_floor : float
        Lower bound of F0 as a fraction of each trace's median absolute value.
    causal : bool
        Trailing windows only (the smoothing becomes a trailing mean over ``2σ + 1`` frames), so
        ΔF/F at frame ``t`` never depends on later frames (what the models read).
    fit_frames : int, optional
        The median setting the floor comes from the first ``fit_frames`` frames only (the
        training split) instead of the whole trace.

    Returns
    -------
    ndarray
        ΔF/F, float32 ``(N, T)``.
    """
    F = np.asarray(F, np.float64)
    win = int(max(3, min(F.shape[1], round(window_s * fs))))
    back = (win - 1) // 2 if causal else 0  # shifts a window to end at the current frame
    if method == "maximin":
        if causal:
            size = 2 * int(round(sigma_frames)) + 1
            f0 = uniform_filter1d(F, size, axis=1, mode="nearest", origin=(size - 1) // 2)
        else:
            f0 = gaussian_filter1d(F, sigma_frames, axis=1, mode="nearest")
        f0 = minimum_filter1d(f0, win, axis=1, mode="nearest", origin=back)
        f0 = maximum_filter1d(f0, win, axis=1, mode="nearest", origin=back)
    elif method == "prctile":
        f0 = percentile_filter(F, percentile, size=(1, win), mode="nearest", origin=(0, back))
    else:
        raise CalmError(f"unknown ΔF/F baseline {method!r} (use 'maximin' or 'prctile')")
    floor = f0_floor * np.median(np.abs(F[:, :fit_frames]), axis=1, keepdims=True)
    floor = np.where(floor > 0, floor, 1.0)
    f0 = np.where(np.abs(f0) < floor, np.sign(f0 + 1e-12) * floor, f0)
    return ((F - f0) / np.abs(f0)).astype(np.float32)


def split_bounds(n_frames: int, fractions: tuple[float, ...] = (0.6, 0.2, 0.2)) -> list[tuple[int, int]]:
    """Contiguous ``[start, stop)`` frame ranges that split a recording in time.

    >>> split_bounds(10)
    [(0, 6), (6, 8), (8, 10)]
    """
    if abs(sum(fractions) - 1) > 1e-6:
        raise CalmError(f"split fractions must add up to 1, got {fractions}")
    edges = np.round(np.cumsum((0.0,) + tuple(fractions)) * n_frames).astype(int)
    edges[-1] = n_frames
    return [(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:])]


@dataclass
class ZScore:
    """Per-neuron z-scoring with statistics fitted on one split.

    Attributes
    ----------
    mean, std : ndarray
        ``(N, 1)`` statistics; ``std`` of a constant trace is set to 1 so it
        maps to zeros instead of NaN.
    """

    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def fit(cls, x: np.ndarray) -> ZScore:
        """Fit on ``(N, T)`` training frames."""
        x = np.asarray(x, np.float64)
        mean = x.mean(axis=1, keepdims=True)
        std = x.std(axis=1, keepdims=True)
        std = np.where(std > 1e-8 * (1 + np.abs(mean)), std, 1.0)
        return cls(mean.astype(np.float32), std.astype(np.float32))

    def transform(self, x: np.ndarray) -> np.ndarray:
        return ((np.asarray(x, np.float32) - self.mean) / self.std).astype(np.float32)

    def inverse(self, z: np.ndarray) -> np.ndarray:
        return (np.asarray(z, np.float32) * self.std + self.mean).astype(np.float32)
