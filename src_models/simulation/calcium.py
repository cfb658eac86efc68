"""Spikes → calcium → fluorescence, with indicator kinetics, shot noise and neuropil.

Indicator kernel (one action potential, peak normalised to 1)::

    k(t) ∝ exp(−t/τ_decay) − exp(−t/τ_rise)

implemented exactly on the fine grid as the difference of two AR(1) filters.
The somatic ΔF/F is ``A·c / (1 + c/n_sat)`` where ``c`` is the kernel-filtered
spike train in "action potentials at peak", ``A`` the single-AP ΔF/F and
``n_sat`` a soft (Hill-1) saturation.

Parameters (approximate literature values; see the reference notes §4.2):

============  =======  ========  =====  =====  ===================================================
indicator     τ_rise   τ_decay   A      n_sat  source of τ_decay
============  =======  ========  =====  =====  ===================================================
GCaMP6s       0.10 s   1.30 s    0.25   30     suite2p ``tau`` 1.25–1.5 for GCaMP6s
GCaMP6f       0.05 s   0.40 s    0.20   30     CaImAn ``decay_time`` 0.4 s for GCaMP6f
GCaMP8m       0.01 s   0.17 s    0.30   15     jGCaMP8m half-decay ≈ 118 ms (τ = t½/ln 2)
============  =======  ========  =====  =====  ===================================================

Fluorescence::

    soma  = F0 · b(t) · (1 + ΔF/F)
    Fneu  = N0 · b(t) · (1 + neuropil ΔF/F)
    F     = soma + r·Fneu                       (r = 0.7, the contamination ratio)

with ``b(t)`` a slow bleaching factor; both traces then get photon shot noise
(Poisson counts at ``photons_per_unit`` photons per fluorescence unit per frame,
scaled by 30 Hz / fs so faster imaging collects fewer photons per frame).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.signal import lfilter

from src_models.errors import CalmError

#: neuropil contamination ratio used to build F and recorded as the correction coefficient
NEUROPIL_COEFFICIENT = 0.7


@dataclass(frozen=True)
class Indicator:
    """Kinetics and response size of a calcium indicator.

    Attributes
    ----------
    name : str
        Indicator name, e.g. ``GCaMP6s``.
    tau_rise, tau_decay : float
        Rise and decay time constants in seconds.
    amplitude : float
        Peak ΔF/F of one action potential.
    n_saturation : float
        Number of coincident APs at which the response is half-saturated.
    """

    name: str
    tau_rise: float
    tau_decay: float
    amplitude: float
    n_saturation: float


INDICATORS: dict[str, Indicator] = {
    "GCaMP6s": Indicator("GCaMP6s", 0.10, 1.30, 0.25, 30.0),
    "GCaMP6f": Indicator("GCaMP6f", 0.05, 0.40, 0.20, 30.0),
    "GCaMP8m": Indicator("GCaMP8m", 0.01, 0.17, 0.30, 15.0),
}


def get_indicator(name: str) -> Indicator:
    """The :class:`Indicator` called ``name`` (case-insensitive); CalmError if unknown."""
    for key, ind in INDICATORS.items():
        if key.lower() == str(name).lower():
            return ind
    raise CalmError(f"unknown indicator {name!r} (choose from {', '.join(INDICATORS)})")


def _ar_coefficients(ind: Indicator, dt: float) -> tuple[float, float]:
    return float(np.exp(-dt / ind.tau_decay)), float(np.exp(-dt / ind.tau_rise))


def _kernel_peak(ind: Indicator, dt: float) -> float:
    gd, gr = _ar_coefficients(ind, dt)
    n = int(np.ceil(5 * ind.tau_decay / dt)) + 2
    k = gd ** np.arange(n) - gr ** np.arange(n)
    return float(k.max())


def indicator_kernel(indicator: str | Indicator, dt: float, duration: float | None = None) -> np.ndarray:
    """Response to one action potential sampled every ``dt`` seconds, peak 1.

    Parameters
    ----------
    indicator : str or Indicator
        Indicator (name or object).
    dt : float
        Sampling step in seconds.
    duration : float, optional
        Kernel length in seconds (default ``5·τ_decay``).

    Returns
    -------
    ndarray
        ``(n,)`` kernel, ``k[0] = 0`` (the spike lands in bin 0).
    """
    ind = indicator if isinstance(indicator, Indicator) else get_indicator(indicator)
    n = int(np.ceil((duration or 5 * ind.tau_decay) / dt))
    gd, gr = _ar_coefficients(ind, dt)
    k = gd ** np.arange(n) - gr ** np.arange(n)
    return (k / _kernel_peak(ind, dt)).astype(np.float64)


def spikes_from_rates(rates: np.ndarray, dt: float, rng: np.random.Generator) -> np.ndarray:
    """Poisson spike counts per bin, ``(N, S)`` uint8, from rates in Hz."""
    lam = np.clip(np.asarray(rates, np.float64) * dt, 0.0, None)
    return np.minimum(rng.poisson(lam), 255).astype(np.uint8)


def calcium_dff(spikes: np.ndarray, indicator: Indicator, dt: float) -> np.ndarray:
    """Noise-free somatic ΔF/F ``(N, S)`` float32 of spike trains on the fine grid."""
    gd, gr = _ar_coefficients(indicator, dt)
    s = np.asarray(spikes, np.float32)
    c = lfilter([1.0], [1.0, -gd], s, axis=-1) - lfilter([1.0], [1.0, -gr], s, axis=-1)
    c /= _kernel_peak(indicator, dt)
    return (indicator.amplitude * c / (1.0 + c / indicator.n_saturation)).astype(np.float32)


def bleaching(n_frames: int, fs: float, depth: float, tau_s: float) -> np.ndarray:
    """Slow multiplicative bleaching ``1 − depth·(1 − exp(−t/τ))``, ``(T,)``."""
    t = np.arange(n_frames) / fs
    return (1.0 - depth * (1.0 - np.exp(-t / tau_s))).astype(np.float32)


def shot_noise(expected: np.ndarray, photons_per_unit: float, rng: np.random.Generator) -> np.ndarray:
    """Photon shot noise: Poisson counts of ``expected·photons_per_unit``, back in units."""
    lam = np.clip(np.asarray(expected, np.float64) * photons_per_unit, 0.0, None)
    return (rng.poisson(lam) / photons_per_unit).astype(np.float32)


def fluorescence(
    soma_dff: np.ndarray,
    neuropil_dff: np.ndarray,
    F0: np.ndarray,
    N0: np.ndarray,
    bleach: np.ndarray,
    photons_per_unit: float,
    rng: np.random.Generator,
    neuropil_pixels: int = 200,
) -> tuple[np.ndarray, np.ndarray]:
    """Raw ROI fluorescence ``F`` and neuropil ``Fneu`` at the frame rate.

    Parameters
    ----------
    soma_dff, neuropil_dff : ndarray
        ``(N, T)`` noise-free somatic and neuropil ΔF/F.
    F0, N0 : ndarray
        ``(N,)`` resting somatic and neuropil brightness.
    bleach : ndarray
        ``(T,)`` bleaching factor.
    photons_per_unit : float
        Photons collected per fluorescence unit and frame (sets the shot noise).
    rng : numpy.random.Generator
        Noise source.
    neuropil_pixels : int
        Pixels averaged in the neuropil annulus relative to the soma mask; the
        neuropil estimate is that many times less noisy.

    Returns
    -------
    F, Fneu : ndarray
        ``(N, T)`` float32.
    """
    soma = F0[:, None] * bleach[None, :] * (1.0 + soma_dff)
    neu = N0[:, None] * bleach[None, :] * (1.0 + neuropil_dff)
    F = shot_noise(soma + NEUROPIL_COEFFICIENT * neu, photons_per_unit, rng)
    Fneu = shot_noise(neu, photons_per_unit * neuropil_pixels, rng)
    return F, Fneu
