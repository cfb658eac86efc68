"""Chaotic rate networks, as in POCO's simulation (CURBD ``threeRegionSim``, one region).

Dynamics ``τ dh/dt = −h + J·tanh(h)`` integrated with Euler steps of ``dt``,
process noise ``h += σ·√(2·dt/τ)·ξ`` and rates ``r = tanh(h)``.
Connectivity ``J = g/√N · J0`` with ``J0`` standard normal; related animals share a
template: ``J0 = √(1−s²)·T + s·Z`` with connectivity noise ``s``.
Defaults follow POCO: ``g = 2``, ``τ = 0.1 s``, ``dt = 0.01 s``, ``σ = 0.1``.
"""

from __future__ import annotations

import numpy as np

GAIN = 2.0
TAU = 0.1
NOISE_STD = 0.1


def template_connectivity(n: int, rng: np.random.Generator) -> np.ndarray:
    """A standard-normal ``(n, n)`` template ``T`` shared by related networks."""
    return rng.standard_normal((n, n))


def related_connectivity(
    template: np.ndarray, noise: float, rng: np.random.Generator, gain: float = GAIN
) -> np.ndarray:
    """Connectivity of one animal: ``g/√N · (√(1−s²)·T + s·Z)``.

    Parameters
    ----------
    template : ndarray
        ``(n, n)`` standard-normal template.
    noise : float
        Connectivity noise ``s`` in [0, 1]; 0 gives the template itself, 1 an
        unrelated network.
    rng : numpy.random.Generator
        Source of the animal-specific part ``Z``.
    gain : float
        Coupling gain ``g``; ``g > 1`` gives chaotic dynamics.

    Returns
    -------
    ndarray
        ``(n, n)`` connectivity ``J``.
    """
    n = template.shape[0]
    j0 = np.sqrt(1.0 - noise**2) * template + noise * rng.standard_normal(template.shape)
    return gain / np.sqrt(n) * j0


def run_rate_network(
    J: np.ndarray,
    n_steps: int,
    rng: np.random.Generator,
    *,
    dt: float,
    tau: float = TAU,
    noise_std: float = NOISE_STD,
    burn_in: int = 100,
) -> np.ndarray:
    """Integrate the network and return its rates.

    Parameters
    ----------
    J : ndarray
        ``(n, n)`` connectivity.
    n_steps : int
        Number of Euler steps kept.
    rng : numpy.random.Generator
        Initial state and process noise.
    dt, tau, noise_std : float
        Step, time constant (seconds) and process-noise level.
    burn_in : int
        Steps run and discarded first so the trajectory starts on the attractor.

    Returns
    -------
    ndarray
        ``(n, n_steps)`` float32 rates ``tanh(h)`` in [−1, 1].
    """
    n = J.shape[0]
    J = np.asarray(J, np.float64)
    h = rng.standard_normal(n)
    alpha = dt / tau
    kick = noise_std * np.sqrt(2.0 * dt / tau)
    total = n_steps + burn_in
    out = np.empty((n_steps, n), np.float32)
    chunk = 4096
    for start in range(0, total, chunk):
        noise = kick * rng.standard_normal((min(chunk, total - start), n))
        for k in range(noise.shape[0]):
            r = np.tanh(h)
            step = start + k
            if step >= burn_in:
                out[step - burn_in] = r
            h += alpha * (J @ r - h) + noise[k]
    return out.T.copy()
