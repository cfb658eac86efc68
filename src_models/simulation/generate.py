"""``simulate()``: presets → sessions of synthetic calcium imaging with ground truth.

Random streams are derived from ``(seed, preset, session, purpose)`` so a seed
always gives the same data, and switching the movie on does not change traces.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from src_models.errors import CalmError
from src_models.recording import Recording
from src_models.simulation import calcium, rate_network, spatial, task_network
from src_models.simulation.movie import render_movie
from src_models.simulation.presets import CORPUS_DURATION_S, CORPUS_FRAME_RATES, PRESETS, Preset
from src_models.simulation.session import SimulatedSession
from src_models.simulation.timebase import POCO_DT, Timebase
from src_models.validation import MAX_FS, check_memory, number

_PRESET_CODE = {"poco": 1, "task": 2, "corpus": 3, "demo": 4}
_STREAMS = {
    name: i
    for i, name in enumerate(
        ("network", "tuning", "trials", "spikes", "noise", "space", "movie", "behavior"), 1
    )
}
_TEMPLATE, _ANIMAL, _PLAN = 1_000_000, 1_000_001, 2_000_000

#: labels of the integer trial columns
TRIAL_LABELS = {"cue": ["left", "right"], "choice": ["left", "right"], "outcome": ["error", "rewarded"]}
#: units of the behaviour variables
BEHAVIOR_UNITS = {"angular_velocity": "deg/s", "running_speed": "cm/s"}


@dataclass(frozen=True)
class _Plan:
    index: int
    animal: int
    n_neurons: int
    n_frames: int
    fs: float
    indicator: calcium.Indicator | None
    photons_per_unit: float


def _rng(seed: int, preset: str, *key: int) -> np.random.Generator:
    return np.random.default_rng([int(seed), _PRESET_CODE[preset], *key])


@dataclass(frozen=True)
class _Streams:
    """Independent random generators of one session, one per purpose."""

    seed: int
    preset: str
    session: int

    def __call__(self, purpose: str) -> np.random.Generator:
        return _rng(self.seed, self.preset, self.session, _STREAMS[purpose])


def _positive(value: float | None, name: str) -> None:
    if value is not None and not (value > 0 and float(value).is_integer()):
        raise CalmError(f"{name} must be a positive integer, got {value}")


def _plans(
    p: Preset,
    seed: int,
    n_neurons: int | None,
    n_frames: int | None,
    n_sessions: int | None,
    fs: float | None,
    indicator: str | None,
) -> list[_Plan]:
    rng = _rng(seed, p.name, _PLAN)
    count = int(n_sessions or p.n_sessions)
    top = int(n_neurons or p.n_neurons)
    name = indicator or p.indicator
    fixed_ind = calcium.get_indicator(name) if name else None
    plans = []
    for k in range(count):
        mixed = p.name == "corpus"
        rate = float(fs or (rng.choice(CORPUS_FRAME_RATES) if mixed else p.fs))
        frames = (
            n_frames or p.n_frames or int(np.clip(round(rate * CORPUS_DURATION_S), 1024, 8192))
        )
        neurons = int(rng.integers(max(1, top // 2), top + 1)) if mixed else top
        ind = fixed_ind
        if p.dynamics == "task" and ind is None:
            ind = calcium.INDICATORS[str(rng.choice(list(calcium.INDICATORS)))]
        photons = (
            p.photons_per_unit if p.photons_per_unit is not None else float(rng.uniform(0.2, 1.0))
        )
        plans.append(
            _Plan(k, k // p.sessions_per_animal, neurons, int(frames), rate, ind, photons)
        )
    return plans


def simulate(
    preset: str,
    *,
    seed: int = 0,
    n_neurons: int | None = None,
    n_frames: int | None = None,
    n_sessions: int | None = None,
    movie: bool = False,
    fs: float | None = None,
    indicator: str | None = None,
) -> list[SimulatedSession]:
    """Simulate one or more recordings with ground truth.

    Parameters
    ----------
    preset : {'poco', 'task', 'corpus', 'demo'}
        See :mod:`src_models.simulation.presets`.
    seed : int
        Same seed, same data.
    n_neurons, n_frames, n_sessions : int, optional
        Override the preset's sizes (for ``corpus``, ``n_neurons`` is the largest
        session; counts vary between half of it and it).
    movie : bool
        Also render the imaging movie (always on for ``demo``; not available for
        ``poco``, which has no calcium).
    fs : float, optional
        Frame rate in Hz for every session (overrides the preset or the corpus mix).
    indicator : str, optional
        ``GCaMP6s``, ``GCaMP6f`` or ``GCaMP8m`` for every session.

    Returns
    -------
    list of SimulatedSession
        ``recording`` has ``kind='simulated'``; ``F`` is raw fluorescence with
        ``Fneu`` and coefficient 0.7 (``poco``: z-scored network rates, no
        neuropil). ``rois`` are the true footprints; ``behavior`` holds
        ``angular_velocity`` (deg/s) and ``running_speed`` (cm/s); ``trials``
        holds ``start_frame``, ``end_frame`` (exclusive), ``delay_start_frame``,
        ``choice_start_frame``, ``cue``, ``choice`` (0 left, 1 right) and
        ``outcome`` (1 rewarded).

        ``ground_truth`` keys, all sessions: ``rates`` (N, T) (Hz; ``poco``: network
        rates before z-scoring), ``J`` (network connectivity), ``centers``,
        ``radii``, ``angles`` (footprints), ``background`` (Y, X), ``mean_image``.
        ``poco`` adds ``zscore_mean``, ``zscore_std``. Task presets add ``latent``
        (M, T), ``readout`` (N, M), ``spikes`` (N, T counts per frame),
        ``calcium`` (N, T noise-free somatic ΔF/F), ``neuropil_dff`` (N, T),
        ``F0``, ``Fneu0``, ``neuron_type`` (0 untuned, 1 cue, 2 choice),
        ``neuron_type_names``, ``tuning_strength`` (0–1), ``preferred_side``
        (0 left, 1 right, −1 none), ``gain``, ``offset``, ``max_rate``,
        ``cue_signal``, ``choice_signal``, ``engaged`` (T,),
        ``behavior_readout_angular``, ``behavior_readout_speed`` (M,),
        ``kernel_tau_rise``, ``kernel_tau_decay``, ``animal``.

    Raises
    ------
    CalmError
        Unknown preset or indicator, non-positive sizes, a movie for ``poco``.
    """
    if preset not in PRESETS:
        raise CalmError(f"unknown simulation preset {preset!r} (choose from {', '.join(PRESETS)})")
    p = PRESETS[preset]
    for name, value in dict(n_neurons=n_neurons, n_frames=n_frames, n_sessions=n_sessions).items():
        _positive(value, name)
    if fs is not None:
        number(fs, "fs", positive=True, maximum=MAX_FS)
    if p.dynamics == "rate" and (indicator is not None or movie):
        what = "takes no indicator" if indicator is not None else "has no movie"
        raise CalmError(f"preset 'poco' simulates network rates without calcium; it {what}")
    if n_frames is not None and n_frames < 2:
        raise CalmError(f"n_frames must be at least 2, got {n_frames}")
    plans = _plans(p, seed, n_neurons, n_frames, n_sessions, fs, indicator)
    check_memory(sum(_session_bytes(pl, p.latent_units) for pl in plans), "this simulation")
    latent_n = {pl.n_neurons for pl in plans} if p.dynamics == "rate" else {p.latent_units}
    templates = {
        n: rate_network.template_connectivity(n, _rng(seed, preset, _TEMPLATE, n))
        for n in latent_n
    }
    out = []
    for plan in plans:
        n_latent = plan.n_neurons if p.dynamics == "rate" else p.latent_units
        J = rate_network.related_connectivity(
            templates[n_latent],
            p.connectivity_noise if len(plans) > 1 else 0.0,
            _rng(seed, preset, _ANIMAL, plan.animal),
        )
        stream = _Streams(seed, preset, plan.index)
        if p.dynamics == "rate":
            out.append(_rate_session(p, seed, plan, J, stream))
        else:
            out.append(_task_session(p, seed, plan, J, stream, movie or p.movie))
    return out


def _session_bytes(plan: _Plan, latent: int) -> float:
    """Rough peak memory of simulating one session: float64 per-frame arrays and the
    indicator kernel, which spans five decay times at the integration step (``1/fs`` at high rates)."""
    dt = min(POCO_DT, 1.0 / plan.fs)
    kernel = 0.0 if plan.indicator is None else 5 * plan.indicator.tau_decay / dt
    bins = plan.n_frames / (plan.fs * dt)
    return 8.0 * (10 * plan.n_frames * (plan.n_neurons + latent) + 2 * bins * latent + 2 * kernel)


def _metadata(p: Preset, seed: int, plan: _Plan) -> dict[str, Any]:
    return {
        "preset": p.name,
        "seed": int(seed),
        "session": plan.index,
        "animal": plan.animal,
        "fs": plan.fs,
        "indicator": None if plan.indicator is None else plan.indicator.name,
        "simulated": True,
    }


def _source(p: Preset, seed: int, plan: _Plan) -> Path:
    return Path(f"simulated/{p.name}/seed{seed}/session_{plan.index:03d}")


def _spatial_truth(fov: spatial.FieldOfView, F0: np.ndarray) -> dict[str, np.ndarray]:
    return {
        "centers": fov.centers.astype(np.float32),
        "radii": fov.radii.astype(np.float32),
        "angles": fov.angles.astype(np.float32),
        "background": fov.background,
        "mean_image": spatial.mean_image(fov, F0),
    }


def _rate_session(
    p: Preset, seed: int, plan: _Plan, J: np.ndarray, stream: _Streams
) -> SimulatedSession:
    tb = Timebase.for_frames(plan.fs, plan.n_frames)
    rates = tb.to_frames(rate_network.run_rate_network(J, tb.n_bins, stream("network"), dt=tb.dt))
    rates = (rates / max(np.abs(rates).max(), 1e-12)).astype(np.float32)
    mean = rates.mean(axis=1, keepdims=True)
    std = rates.std(axis=1, keepdims=True)
    F = ((rates - mean) / (std + 1e-6)).astype(np.float32)
    fov = spatial.make_field_of_view(plan.n_neurons, stream("space"))
    meta = _metadata(p, seed, plan) | {"zscored": True}
    rec = Recording(
        F=F,
        fs=plan.fs,
        source=_source(p, seed, plan),
        kind="simulated",
        iscell=np.ones(plan.n_neurons, bool),
        rois=fov.rois,
        metadata=meta,
    )
    truth = {"rates": rates, "J": J.astype(np.float32), "zscore_mean": mean[:, 0], "zscore_std": std[:, 0]}
    truth |= _spatial_truth(fov, np.full(plan.n_neurons, 100.0, np.float32))
    return SimulatedSession(rec, truth)


def _task_session(
    p: Preset, seed: int, plan: _Plan, J: np.ndarray, stream: _Streams, with_movie: bool
) -> SimulatedSession:
    tb = Timebase.for_frames(plan.fs, plan.n_frames)
    n = plan.n_neurons
    ind = plan.indicator
    latent = rate_network.run_rate_network(J, tb.n_bins, stream("network"), dt=tb.dt)
    trials_s = task_network.schedule_trials(tb.duration, p.timing, stream("trials"))
    signals = task_network.task_signals(trials_s, tb, p.timing)
    tune_rng = stream("tuning")
    tuning = task_network.plant_tuning(n, tune_rng)
    readout = task_network.sparse_readout(n, latent.shape[0], tune_rng)
    rates, neuron_params = task_network.neuron_rates(latent, readout, tuning, signals, tune_rng)
    spikes = calcium.spikes_from_rates(rates, tb.dt, stream("spikes"))
    soma_dff = tb.to_frames(calcium.calcium_dff(spikes, ind, tb.dt)).astype(np.float32)
    spikes_f = tb.to_frames(spikes.astype(np.uint16), reduce="sum").astype(np.uint16)
    rates_f = tb.to_frames(rates).astype(np.float32)
    del spikes, rates
    behavior_fine, behavior_readouts = task_network.behaviour(
        latent, signals, tb.dt, stream("behavior")
    )

    space_rng = stream("space")
    fov = spatial.make_field_of_view(n, space_rng, n_modes=4)
    F0 = np.exp(space_rng.normal(np.log(200.0), 0.35, n)).astype(np.float32)
    Fneu0 = fov.resting_neuropil().astype(np.float32)
    modes_dff = spatial.neuropil_time_courses(soma_dff, len(fov.modes), plan.fs, space_rng)
    neuropil_dff = (fov.neuropil_weights() @ modes_dff).astype(np.float32)
    bleach = calcium.bleaching(plan.n_frames, plan.fs, depth=0.1, tau_s=600.0)
    photons = plan.photons_per_unit * 30.0 / plan.fs
    F, Fneu = calcium.fluorescence(
        soma_dff, neuropil_dff, F0, Fneu0, bleach, photons, stream("noise")
    )

    movie = None
    if with_movie:
        # a trace averages its footprint's pixels, so one pixel collects that many times fewer photons
        pixel_photons = photons / float(np.mean([w.sum() for w in fov.rois.weights]))
        movie = render_movie(
            fov, F0[:, None] * (1.0 + soma_dff), modes_dff, bleach, pixel_photons, stream("movie")
        )

    trials = {
        "start_frame": tb.frame_of_time(trials_s["start"]),
        "end_frame": np.minimum(tb.frame_of_time(trials_s["end"]) + 1, plan.n_frames),
        "delay_start_frame": tb.frame_of_time(trials_s["delay"]),
        "choice_start_frame": tb.frame_of_time(trials_s["choice_start"]),
        "cue": trials_s["cue"],
        "choice": trials_s["choice"],
        "outcome": trials_s["outcome"],
    }
    behavior = {k: tb.to_frames(v).astype(np.float32) for k, v in behavior_fine.items()}
    meta = _metadata(p, seed, plan) | {
        "trial_labels": TRIAL_LABELS,
        "behavior_units": BEHAVIOR_UNITS,
        "end_frame_exclusive": True,
    }
    rec = Recording(
        F=F,
        fs=plan.fs,
        source=_source(p, seed, plan),
        kind="simulated",
        Fneu=Fneu,
        neuropil_coefficient=calcium.NEUROPIL_COEFFICIENT,
        iscell=np.ones(n, bool),
        movie=movie,
        rois=fov.rois,
        behavior=behavior,
        trials=trials,
        metadata=meta,
    )
    truth: dict[str, np.ndarray] = {
        "rates": rates_f,
        "spikes": spikes_f,
        "calcium": soma_dff,
        "neuropil_dff": neuropil_dff,
        "latent": tb.to_frames(latent).astype(np.float32),
        "J": J.astype(np.float32),
        "readout": readout,
        "F0": F0,
        "Fneu0": Fneu0,
        "neuron_type_names": np.array(task_network.NEURON_TYPES),
        "cue_signal": tb.to_frames(signals["cue"]).astype(np.float32),
        "choice_signal": tb.to_frames(signals["choice"]).astype(np.float32),
        "engaged": tb.to_frames(signals["engaged"]).astype(np.float32),
        "kernel_tau_rise": np.float32(ind.tau_rise),
        "kernel_tau_decay": np.float32(ind.tau_decay),
        "animal": np.int64(plan.animal),
    }
    truth |= tuning | neuron_params | behavior_readouts | _spatial_truth(fov, F0)
    truth = {k: np.asarray(v) for k, v in truth.items()}
    return SimulatedSession(rec, truth)
