"""A two-alternative delayed-choice task on top of a chaotic latent network.

Trials: inter-trial interval, cue (left or right), delay, choice, outcome.
The animal chooses the cued side with probability ``p_correct``; the outcome
is 1 (rewarded) when choice equals cue.

Latent state: a chaotic rate network (see :mod:`rate_network`) plus three task
signals on the fine grid — ``cue`` (+1 left / −1 right during the cue epoch,
low-pass filtered so it lingers into the delay), ``choice`` (ramps from the
delay onset to the choice epoch toward +1 left / −1 right) and ``engaged``
(1 from cue onset to the end of the choice epoch).

Neurons read the latent network out through a sparse random matrix ``W``
(``N × M``). A planted fraction of neurons is cue-selective or choice-selective
with graded tuning strength ``s ∈ [0.2, 1]`` and a preferred side; untuned
neurons have no task input at all, so their selectivity is zero by construction::

    rate_i = r_max,i · sigmoid(a_i·(W x)_i + β·s_i·p_i·task_i(t) + b_i)

Behaviour is driven by the latent state: angular velocity (deg/s) turns toward
the chosen side and follows one readout of the network; running speed (cm/s) is
high while engaged and follows another readout.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.signal import lfilter

from src_models.simulation.timebase import Timebase

#: neuron type codes in ``ground_truth['neuron_type']``
NEURON_TYPES = ("untuned", "cue", "choice")
#: logit gain of a tuning strength of 1
TUNING_GAIN = 3.0


@dataclass(frozen=True)
class TrialTiming:
    """Epoch lengths of one trial, in seconds."""

    cue: float = 1.0
    delay: float = 1.5
    choice: float = 1.0
    outcome: float = 0.5
    iti_min: float = 1.0
    iti_max: float = 2.0
    p_correct: float = 0.8


def schedule_trials(duration: float, timing: TrialTiming, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Trials that fit in ``duration`` seconds.

    Returns
    -------
    dict
        Arrays of equal length: ``start``, ``delay``, ``choice_start``, ``end``
        (seconds; ``start`` is cue onset, ``end`` the end of the outcome epoch)
        and ``cue``, ``choice``, ``outcome`` (0 = left, 1 = right; outcome 1 = rewarded).
    """
    length = timing.cue + timing.delay + timing.choice + timing.outcome
    starts: list[float] = []
    t = rng.uniform(timing.iti_min, timing.iti_max)
    while t + length < duration:
        starts.append(t)
        t += length + rng.uniform(timing.iti_min, timing.iti_max)
    start = np.asarray(starts)
    n = len(start)
    cue = rng.integers(0, 2, n)
    correct = rng.random(n) < timing.p_correct
    choice = np.where(correct, cue, 1 - cue)
    return {
        "start": start,
        "delay": start + timing.cue,
        "choice_start": start + timing.cue + timing.delay,
        "end": start + length,
        "cue": cue.astype(np.int64),
        "choice": choice.astype(np.int64),
        "outcome": correct.astype(np.int64),
    }


def _lowpass(x: np.ndarray, tau: float, dt: float) -> np.ndarray:
    g = np.exp(-dt / tau)
    return lfilter([1.0 - g], [1.0, -g], x, axis=-1).astype(np.float32)


def task_signals(trials: dict[str, np.ndarray], tb: Timebase, timing: TrialTiming) -> dict[str, np.ndarray]:
    """``cue``, ``choice`` and ``engaged`` signals on the fine grid, each ``(n_bins,)``."""
    t = (np.arange(tb.n_bins) + 0.5) * tb.dt
    cue = np.zeros(tb.n_bins, np.float32)
    choice = np.zeros(tb.n_bins, np.float32)
    engaged = np.zeros(tb.n_bins, np.float32)
    for k in range(len(trials["start"])):
        side_cue = 1.0 if trials["cue"][k] == 0 else -1.0
        side_choice = 1.0 if trials["choice"][k] == 0 else -1.0
        in_cue = (t >= trials["start"][k]) & (t < trials["delay"][k])
        cue[in_cue] = side_cue
        in_delay = (t >= trials["delay"][k]) & (t < trials["choice_start"][k])
        choice[in_delay] = side_choice * (t[in_delay] - trials["delay"][k]) / timing.delay
        in_choice = (t >= trials["choice_start"][k]) & (t < trials["end"][k])
        choice[in_choice] = side_choice
        engaged[(t >= trials["start"][k]) & (t < trials["end"][k] - timing.outcome)] = 1.0
    tau = {"cue": 0.3, "choice": 0.15, "engaged": 0.3}
    return {k: _lowpass(v, tau[k], tb.dt) for k, v in (("cue", cue), ("choice", choice), ("engaged", engaged))}


def plant_tuning(
    n: int, rng: np.random.Generator, fraction_cue: float = 0.2, fraction_choice: float = 0.2
) -> dict[str, np.ndarray]:
    """Neuron types with graded tuning strength and preferred side.

    Returns
    -------
    dict
        ``neuron_type`` (N,) int (index into :data:`NEURON_TYPES`),
        ``tuning_strength`` (N,) float in [0.2, 1] for tuned neurons and 0 otherwise,
        ``preferred_side`` (N,) int (0 = left, 1 = right, −1 = untuned).
    """
    n_cue = round(fraction_cue * n)
    n_choice = round(fraction_choice * n)
    kinds = np.zeros(n, np.int64)
    kinds[:n_cue] = 1
    kinds[n_cue : n_cue + n_choice] = 2
    kinds = rng.permutation(kinds)
    strength = np.where(kinds > 0, rng.uniform(0.2, 1.0, n), 0.0)
    side = np.where(kinds > 0, rng.integers(0, 2, n), -1)
    strength, side = strength.astype(np.float32), side.astype(np.int64)
    return {"neuron_type": kinds, "tuning_strength": strength, "preferred_side": side}


def sparse_readout(n: int, m: int, rng: np.random.Generator, k: int = 10) -> np.ndarray:
    """``(n, m)`` readout with ``k`` Gaussian weights per neuron, scaled to unit drive."""
    W = np.zeros((n, m), np.float32)
    k = min(k, m)
    for i in range(n):
        cols = rng.choice(m, k, replace=False)
        W[i, cols] = rng.standard_normal(k) / np.sqrt(0.5 * k)
    return W


def neuron_rates(
    latent: np.ndarray,
    readout: np.ndarray,
    tuning: dict[str, np.ndarray],
    signals: dict[str, np.ndarray],
    rng: np.random.Generator,
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Firing rates in Hz on the fine grid.

    Parameters
    ----------
    latent : ndarray
        ``(M, S)`` latent network rates.
    readout : ndarray
        ``(N, M)`` readout ``W``.
    tuning : dict
        Output of :func:`plant_tuning`.
    signals : dict
        Output of :func:`task_signals`.
    rng : numpy.random.Generator
        Per-neuron gains, offsets and maximal rates.

    Returns
    -------
    rates : ndarray
        ``(N, S)`` float32 rates in Hz.
    params : dict
        Per-neuron ``gain``, ``offset``, ``max_rate`` (ground truth).
    """
    n = readout.shape[0]
    gain = rng.uniform(0.8, 1.6, n).astype(np.float32)
    max_rate = rng.uniform(10.0, 25.0, n).astype(np.float32)
    base_rate = np.exp(rng.normal(np.log(1.0), 0.6, n)).clip(0.1, 5.0)
    offset = np.log(base_rate / (max_rate - base_rate)).astype(np.float32)
    drive = gain[:, None] * (readout @ latent) + offset[:, None]
    sign = np.where(tuning["preferred_side"] == 0, 1.0, -1.0).astype(np.float32)
    weight = (TUNING_GAIN * tuning["tuning_strength"] * sign).astype(np.float32)
    for code, name in ((1, "cue"), (2, "choice")):
        rows = np.flatnonzero(tuning["neuron_type"] == code)
        drive[rows] += weight[rows, None] * signals[name][None, :]
    rates = max_rate[:, None] / (1.0 + np.exp(-drive))
    return rates.astype(np.float32), {"gain": gain, "offset": offset, "max_rate": max_rate}


def behaviour(
    latent: np.ndarray, signals: dict[str, np.ndarray], dt: float, rng: np.random.Generator
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Angular velocity (deg/s) and running speed (cm/s) on the fine grid.

    Returns
    -------
    behaviour : dict
        ``angular_velocity`` and ``running_speed``, each ``(S,)`` float32.
    readouts : dict
        The latent readout vectors ``behavior_readout_angular`` and
        ``behavior_readout_speed`` (ground truth), each ``(M,)``.
    """
    m = latent.shape[0]
    u_av = rng.standard_normal(m) / np.sqrt(m)
    u_rs = rng.standard_normal(m) / np.sqrt(m)
    jitter = _lowpass(rng.standard_normal((2, latent.shape[1])), 0.5, dt) * np.sqrt(2 * 0.5 / dt)
    av = 40.0 * (u_av @ latent) + 60.0 * signals["choice"] + 10.0 * jitter[0]
    rs_drive = 1.5 * signals["engaged"] + 0.8 * (u_rs @ latent) - 0.5 + 0.2 * jitter[1]
    rs = 15.0 * np.log1p(np.exp(rs_drive))
    out = {"angular_velocity": _lowpass(av, 0.1, dt), "running_speed": _lowpass(rs, 0.2, dt)}
    return out, {
        "behavior_readout_angular": u_av.astype(np.float32),
        "behavior_readout_speed": u_rs.astype(np.float32),
    }
