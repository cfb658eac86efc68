"""Render the imaging movie of a simulated session.

Every frame is ``bleach(t) · [background · (1 + neuropil ΔF/F) + Σ_i footprint_i · soma_i(t)]``
with photon shot noise (the Gaussian limit of Poisson counts, std
``√(brightness / photons_per_unit)``) and a dark offset, stored as ``uint16``. The ROIs of
the session are the true footprints, so they overlay the movie exactly.
"""

from __future__ import annotations

import numpy as np

from src_models.simulation.spatial import FieldOfView

#: camera/PMT dark offset added to every pixel
DARK_OFFSET = 100.0


def render_movie(
    fov: FieldOfView,
    soma: np.ndarray,
    neuropil_modes_dff: np.ndarray,
    bleach: np.ndarray,
    photons_per_unit: float,
    rng: np.random.Generator,
    chunk: int = 256,
) -> np.ndarray:
    """The movie ``(T, Y, X)`` uint16.

    Parameters
    ----------
    fov : FieldOfView
        Footprints, background and neuropil modes.
    soma : ndarray
        ``(N, T)`` noise-free somatic brightness per footprint pixel at peak
        weight, without bleaching (``F0 · (1 + ΔF/F)``).
    neuropil_modes_dff : ndarray
        ``(K, T)`` neuropil ΔF/F time course of each spatial mode.
    bleach : ndarray
        ``(T,)`` bleaching factor.
    photons_per_unit : float
        Photons per brightness unit and frame.
    rng : numpy.random.Generator
        Noise source.
    chunk : int
        Frames rendered at a time (bounds memory).
    """
    Y, X = fov.shape
    n, T = soma.shape
    P = Y * X
    foot = np.zeros((n, P), np.float32)
    for i, (px, w) in enumerate(zip(fov.rois.pixels, fov.rois.weights)):
        foot[i, px[:, 0] * X + px[:, 1]] = w
    bg = fov.background.reshape(P).astype(np.float32)
    modes = fov.modes.reshape(len(fov.modes), P) * bg[None, :]
    out = np.empty((T, Y, X), np.uint16)
    for a in range(0, T, chunk):
        b = min(T, a + chunk)
        frames = bg[None, :] + neuropil_modes_dff[:, a:b].T @ modes + soma[:, a:b].T @ foot
        frames *= bleach[a:b, None]
        frames = np.clip(frames, 0, None)
        shot = np.sqrt(frames / photons_per_unit) * rng.standard_normal(frames.shape, dtype=np.float32)
        noisy = frames + shot + DARK_OFFSET
        out[a:b] = np.clip(np.round(noisy), 0, 65535).astype(np.uint16).reshape(b - a, Y, X)
    return out
