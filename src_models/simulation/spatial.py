"""The field of view: neuron footprints, a structured background and neuropil.

Footprints are soft ellipses (semi-axes 2.8–4.5 px, random orientation) placed
with a minimum spacing so they rarely overlap. The background is a smooth
random brightness field crossed by a few dark blood vessels. Neuropil ΔF/F is
a mixture of ``K`` spatial modes (smooth, non-negative, summing to 1 at every
pixel) whose time courses are slow averages of the population's calcium, so
neighbouring neurons share neuropil and distant ones less so.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import gaussian_filter, gaussian_filter1d

from src_models.recording import RoiSet

#: field-of-view area per neuron in pixels (sets the side of the square field)
AREA_PER_NEURON = 150.0


@dataclass
class FieldOfView:
    """Spatial ground truth of one simulated session.

    Attributes
    ----------
    rois : RoiSet
        True footprints (``weights`` peak at 1).
    centers : ndarray
        ``(N, 2)`` footprint centres (y, x).
    radii : ndarray
        ``(N, 2)`` semi-axes in pixels.
    angles : ndarray
        ``(N,)`` orientation in radians.
    background : ndarray
        ``(Y, X)`` resting neuropil/background brightness.
    modes : ndarray
        ``(K, Y, X)`` neuropil mixing weights (sum to 1 over ``K``).
    """

    rois: RoiSet
    centers: np.ndarray
    radii: np.ndarray
    angles: np.ndarray
    background: np.ndarray
    modes: np.ndarray

    @property
    def shape(self) -> tuple[int, int]:
        return tuple(self.background.shape)  # type: ignore[return-value]

    def neuropil_weights(self) -> np.ndarray:
        """``(N, K)`` neuropil mode weights at every neuron's centre."""
        yx = np.round(self.centers).astype(int)
        return self.modes[:, yx[:, 0], yx[:, 1]].T

    def resting_neuropil(self) -> np.ndarray:
        """``(N,)`` background brightness at every neuron's centre."""
        yx = np.round(self.centers).astype(int)
        return self.background[yx[:, 0], yx[:, 1]]


def fov_shape(n_neurons: int) -> tuple[int, int]:
    """Square field of view with about :data:`AREA_PER_NEURON` pixels per neuron."""
    side = int(max(64, round(np.sqrt(n_neurons * AREA_PER_NEURON))))
    return side, side


def _place(
    n: int, shape: tuple[int, int], rng: np.random.Generator, margin: float = 7.0
) -> np.ndarray:
    """Centres spread by dart throwing: at least ``min_dist`` apart where possible.

    ``min_dist`` keeps the disc coverage near 45 %, below the ~55 % at which random
    sequential packing jams, so the fallback (accepting a close centre) is rare.
    """
    min_dist = 0.75 * np.sqrt((shape[0] - 2 * margin) * (shape[1] - 2 * margin) / max(n, 1))
    centers = np.empty((n, 2))
    for i in range(n):
        for attempt in range(60):
            c = rng.uniform([margin, margin], [shape[0] - margin, shape[1] - margin])
            if i == 0 or np.min(np.hypot(*(centers[:i] - c).T)) >= min_dist or attempt == 59:
                break
        centers[i] = c
    return centers


def _soft_ellipse(center: np.ndarray, radii: np.ndarray, angle: float, shape: tuple[int, int]):
    r = int(np.ceil(radii.max() * 1.6)) + 1
    cy, cx = np.round(center).astype(int)
    ys, xs = np.mgrid[
        max(cy - r, 0) : min(cy + r + 1, shape[0]), max(cx - r, 0) : min(cx + r + 1, shape[1])
    ]
    dy, dx = ys - center[0], xs - center[1]
    c, s = np.cos(angle), np.sin(angle)
    u, v = (c * dy + s * dx) / radii[0], (-s * dy + c * dx) / radii[1]
    w = 1.0 / (1.0 + np.exp((np.hypot(u, v) - 1.0) / 0.1))
    keep = w > 0.1
    pix = np.stack([ys[keep], xs[keep]], axis=1).astype(np.int32)
    return pix, (w[keep] / w[keep].max()).astype(np.float32)


def _background(shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    field = gaussian_filter(rng.standard_normal(shape), 10.0)
    field = 1.0 + 0.35 * field / (field.std() + 1e-12)
    yy, xx = np.mgrid[: shape[0], : shape[1]].astype(float)
    for _ in range(int(rng.integers(2, 5))):
        y0, slope = rng.uniform(0, shape[0]), rng.uniform(-1.0, 1.0)
        amp, period = rng.uniform(3, 10), rng.uniform(40, 120)
        path = y0 + slope * xx + amp * np.sin(2 * np.pi * xx / period + rng.uniform(0, 6.3))
        field *= 1.0 - 0.6 * np.exp(-0.5 * ((yy - path) / rng.uniform(1.5, 3.0)) ** 2)
    return (100.0 * np.clip(field, 0.2, None)).astype(np.float32)


def _modes(shape: tuple[int, int], k: int, rng: np.random.Generator) -> np.ndarray:
    logits = np.stack([gaussian_filter(rng.standard_normal(shape), 20.0) for _ in range(k)])
    logits = 3.0 * logits / (logits.std() + 1e-12)
    w = np.exp(logits - logits.max(0, keepdims=True))
    return (w / w.sum(0, keepdims=True)).astype(np.float32)


def make_field_of_view(n_neurons: int, rng: np.random.Generator, n_modes: int = 4) -> FieldOfView:
    """Footprints, background and neuropil modes for ``n_neurons`` neurons."""
    shape = fov_shape(n_neurons)
    centers = _place(n_neurons, shape, rng)
    radii = rng.uniform(2.8, 4.5, (n_neurons, 2))
    angles = rng.uniform(0, np.pi, n_neurons)
    pixels, weights = [], []
    for c, r, a in zip(centers, radii, angles):
        p, w = _soft_ellipse(c, r, a, shape)
        pixels.append(p)
        weights.append(w)
    rois = RoiSet(shape, pixels, weights)
    return FieldOfView(
        rois, centers, radii, angles, _background(shape, rng), _modes(shape, n_modes, rng)
    )


def neuropil_time_courses(
    soma_dff: np.ndarray, n_modes: int, fs: float, rng: np.random.Generator
) -> np.ndarray:
    """``(K, T)`` neuropil ΔF/F: slow averages of random halves of the population."""
    n = soma_dff.shape[0]
    out = np.empty((n_modes, soma_dff.shape[1]), np.float32)
    for k in range(n_modes):
        members = rng.random(n) < 0.5
        members[rng.integers(n)] = True
        out[k] = 0.6 * gaussian_filter1d(
            soma_dff[members].mean(0), max(fs * 0.5, 0.5), mode="nearest"
        )
    return out


def mean_image(fov: FieldOfView, F0: np.ndarray) -> np.ndarray:
    """Resting image: background plus every footprint at its resting brightness, ``(Y, X)``."""
    img = fov.background.astype(np.float64).copy()
    for px, w, f0 in zip(fov.rois.pixels, fov.rois.weights, F0):
        img[px[:, 0], px[:, 1]] += w * f0
    return img.astype(np.float32)
