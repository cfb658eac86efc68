"""Named simulation presets and the per-session plan they expand into.

============  ===========================================================================
preset        what it simulates
============  ===========================================================================
``poco``      POCO's simulation: chaotic rate network (g = 2, τ = 0.1 s, dt = 10 ms,
              noise 0.1), one unit per neuron, mean-pooled ×5 to 20 Hz, z-scored;
              300 units × 4096 frames (enough for 60/20/20 splits with context 48 +
              horizon 16). No calcium.
``task``      Delayed-choice task: 100-unit chaotic latent network, 200 neurons with
              planted cue/choice selectivity, behaviour, GCaMP6s at 15 Hz, 9000 frames
              (10 min, ~110 trials), raw F and Fneu with shot noise.
``corpus``    Many sessions of the task from related animals (shared connectivity
              template + per-animal perturbation, 2 sessions per animal), neuron
              counts between n/2 and n (n = 256), indicators and frame rates
              (2–100 Hz) mixed across sessions, 8 sessions.
``demo``      One small task recording with a 128×128 movie: 110 neurons, 1000 frames
              at 10 Hz, short trials (~30), GCaMP6s.
============  ===========================================================================
"""

from __future__ import annotations

from dataclasses import dataclass, field

from src_models.simulation.task_network import TrialTiming


@dataclass(frozen=True)
class Preset:
    """Defaults of one preset.

    Attributes
    ----------
    name : str
        Preset name.
    dynamics : {'rate', 'task'}
        ``rate``: neurons are the units of the chaotic network (POCO);
        ``task``: neurons read out a latent network and carry task tuning.
    n_neurons, n_sessions : int
        Default sizes (for ``corpus`` ``n_neurons`` is the largest session).
    n_frames : int or None
        Frames per session; ``None`` derives it from the frame rate.
    fs : float or None
        Frame rate in Hz; ``None`` mixes rates across sessions.
    indicator : str or None
        Calcium indicator; ``None`` means none (``rate``) or mixed (``corpus``).
    movie : bool
        Whether a movie is rendered by default.
    latent_units : int
        Size of the latent network for ``task`` dynamics.
    connectivity_noise : float
        Per-animal perturbation ``s`` of the shared connectivity template.
    sessions_per_animal : int
        Consecutive sessions that share one animal's connectivity.
    photons_per_unit : float or None
        Shot-noise level at 30 Hz; ``None`` draws it per session.
    timing : TrialTiming
        Trial epochs (``task`` dynamics only).
    """

    name: str
    dynamics: str
    n_neurons: int
    n_frames: int | None
    n_sessions: int
    fs: float | None
    indicator: str | None
    movie: bool = False
    latent_units: int = 100
    connectivity_noise: float = 0.5
    sessions_per_animal: int = 1
    photons_per_unit: float | None = 0.5
    timing: TrialTiming = field(default_factory=TrialTiming)


PRESETS: dict[str, Preset] = {
    "poco": Preset("poco", "rate", 300, 4096, 1, 20.0, None),
    "task": Preset("task", "task", 200, 9000, 1, 15.0, "GCaMP6s"),
    "corpus": Preset("corpus", "task", 256, None, 8, None, None, sessions_per_animal=2, photons_per_unit=None),
    "demo": Preset(
        "demo", "task", 110, 1000, 1, 10.0, "GCaMP6s", movie=True,
        timing=TrialTiming(cue=0.5, delay=1.0, choice=0.5, outcome=0.5, iti_min=0.5, iti_max=1.0),
    ),
}

#: frame rates (Hz) mixed across ``corpus`` sessions
CORPUS_FRAME_RATES = (2.0, 5.0, 7.5, 10.0, 15.0, 30.0, 60.0, 100.0)
#: ``corpus`` session length in seconds when frames are not given (clipped to 1024–8192 frames)
CORPUS_DURATION_S = 300.0
