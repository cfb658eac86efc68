"""Spontaneous assemblies: a population dynamics family the task-network corpus never had.

Neurons belong to a few overlapping assemblies that switch on together in
Poisson-timed bouts, without any task (as in the zebrafish tectum, Triplett et
al. 2020); every neuron also fires at a low background rate. Spikes pass through
the indicator kernel, are averaged to frames, optionally bleach, and get Gaussian
noise: ΔF/F.
"""

from __future__ import annotations

import numpy as np

from src_models.recording import Recording
from src_models.simulation import calcium
from src_models.simulation.timebase import Timebase


def simulate_assemblies(
    n_neurons: int = 120,
    n_frames: int = 4096,
    *,
    fs: float = 5.0,
    n_assemblies: int = 8,
    members: float = 0.15,
    bout_rate_hz: float = 0.05,
    bout_s: float = 1.0,
    indicator: str = "GCaMP6s",
    noise: float = 0.05,
    bleach: float = 0.0,
    seed: int = 0,
) -> Recording:
    """One simulated recording of spontaneous assembly activity.

    Parameters
    ----------
    n_neurons, n_frames : int
        Size of the recording.
    fs : float
        Frame rate in Hz.
    n_assemblies : int
        Number of assemblies.
    members : float
        Probability that a neuron belongs to an assembly (memberships overlap).
    bout_rate_hz, bout_s : float
        Bouts per second of each assembly and their mean length in seconds.
    indicator : str
        Calcium indicator (:func:`~src_models.simulation.calcium.get_indicator`).
    noise : float
        Standard deviation of the Gaussian noise added to ΔF/F.
    bleach : float
        Fraction of brightness lost to bleaching by the end (time constant a third of
        the recording); ΔF/F stays relative to the unbleached baseline, so it drifts down.
    seed : int
        Same seed, same recording.

    Returns
    -------
    Recording
        ``F`` is ΔF/F ``(n_neurons, n_frames)``; ``metadata['assemblies']`` is the
        ``(n_assemblies, n_neurons)`` membership matrix.
    """
    rng = np.random.default_rng(seed)
    tb = Timebase.for_frames(fs, n_frames)
    member = rng.random((n_assemblies, n_neurons)) < members
    on = np.zeros((n_assemblies, tb.n_bins), bool)
    for a in range(n_assemblies):
        n_bouts = rng.poisson(bout_rate_hz * tb.duration)
        starts = rng.integers(0, tb.n_bins, n_bouts)
        lengths = np.ceil(rng.exponential(bout_s, n_bouts) / tb.dt).astype(int)
        for s, n in zip(starts, lengths):
            on[a, s : s + n] = True
    drive = member.T.astype(np.float32) @ on.astype(np.float32)
    rates = 0.2 + 8.0 * np.minimum(drive, 2.0)
    spikes = calcium.spikes_from_rates(rates, tb.dt, rng)
    dff = tb.to_frames(calcium.calcium_dff(spikes, calcium.get_indicator(indicator), tb.dt))
    if bleach:
        depth = bleach / (1.0 - np.exp(-3.0))
        dff = (1.0 + dff) * calcium.bleaching(n_frames, fs, depth, tb.duration / 3.0) - 1.0
    dff = dff + rng.normal(0.0, noise, dff.shape)
    return Recording(
        F=dff.astype(np.float32),
        fs=float(fs),
        source=f"simulated-assemblies-seed{seed}",
        kind="simulated",
        iscell=np.ones(n_neurons, bool),
        metadata={"assemblies": member.astype(np.uint8).tolist(), "indicator": indicator},
    )
