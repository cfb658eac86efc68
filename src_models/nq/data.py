"""Training windows for NQ: per-neuron z-scoring, frame-rate policy, bad-trace handling.

Traces reach the model as z-scored windows of ``window`` frames at the
model's rate (:mod:`src_models.nq.rate`). What happens to awkward inputs:

* **NaN / Inf frames** are linearly interpolated within the neuron (all-bad
  neurons become zeros) and masked.
* **Constant neurons** are left out of training and masked at tokenization.
* **Recordings shorter than one window** are left out of training (reported).

Windows are drawn with a generator seeded by ``(seed, step)``, so a resumed
run sees exactly the batches an uninterrupted one would have.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from src_models.errors import CalmError
from src_models.nq.config import NQConfig
from src_models.nq.rate import to_model_rate


def fill_gaps(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Linearly interpolate non-finite frames of every row of ``x`` ``(N, T)``.

    Returns
    -------
    filled : ndarray
        float32 ``(N, T)`` with every frame finite (all-bad rows become 0).
    bad : ndarray
        bool ``(N, T)``, True where the input was not finite.
    """
    x = np.array(x, dtype=np.float32, copy=True)
    bad = ~np.isfinite(x)
    if not bad.any():
        return x, bad
    t = np.arange(x.shape[1])
    for i in np.flatnonzero(bad.any(axis=1)):
        good = ~bad[i]
        x[i] = np.interp(t, t[good], x[i, good]) if good.any() else 0.0
    return x, bad


def row_stats(traces: np.ndarray, rows: slice, chunk: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-row mean, std and constant flag over the finite frames, streamed over time.

    Parameters
    ----------
    traces : array-like
        ``(N, T)`` traces (an array or a memory-map; read ``chunk`` frames at a time).
    rows : slice
        The rows to summarise.
    chunk : int
        Frames read at once.

    Returns
    -------
    mean, std : ndarray
        float64 ``(n,)``; ``std`` is 1 for constant rows so z-scoring maps them to 0.
    constant : ndarray
        bool ``(n,)``: standard deviation below ``1e-8 × (1 + |mean|)``, or fewer
        than two finite frames.

    Sums are taken about each row's first-chunk mean (exact for large offsets).
    """
    n = rows.stop - rows.start
    cnt, s1, s2 = np.zeros(n), np.zeros(n), np.zeros(n)
    shift = None
    for f0 in range(0, traces.shape[1], chunk):
        x = np.asarray(traces[rows, f0:f0 + chunk], np.float64)
        ok = np.isfinite(x)
        x = np.where(ok, x, 0.0)
        if shift is None:
            shift = np.divide(x.sum(1), ok.sum(1), out=np.zeros(n), where=ok.any(1))
        x = np.where(ok, x - shift[:, None], 0.0)
        cnt += ok.sum(1)
        s1 += x.sum(1)
        s2 += (x * x).sum(1)
    m = np.divide(s1, cnt, out=np.zeros(n), where=cnt > 0)
    std = np.sqrt(np.maximum(np.divide(s2, cnt, out=np.zeros(n), where=cnt > 0) - m * m, 0.0))
    mean = m + shift
    constant = ~(std > 1e-8 * (1 + np.abs(mean))) | (cnt < 2)
    return mean, np.where(constant, 1.0, std), constant


@dataclass
class TrainingSource:
    """One recording's z-scored model-rate traces ready for window sampling.

    Attributes
    ----------
    name : str
        Where it came from (for reports).
    traces : ndarray
        float32 ``(N, T)`` z-scored traces of the kept neurons.
    fs : float
        The recording's frame rate.
    report : dict
        Neurons dropped as constant, frames filled, frames kept.
    """

    name: str
    traces: np.ndarray
    fs: float
    report: dict = field(default_factory=dict)


def prepare_source(
    name: str, traces: np.ndarray, fs: float, config: NQConfig, frames: tuple[int, int] | None = None
) -> TrainingSource | None:
    """Z-score one recording's ``(N, T)`` traces for training.

    Parameters
    ----------
    name : str
        Label used in reports.
    traces : ndarray
        ``(N, T)`` traces at ``fs`` (ΔF/F or neuropil-corrected fluorescence).
    fs : float
        Frame rate in Hz.
    config : NQConfig
        Supplies the window and the frame-rate policy.
    frames : (int, int), optional
        Only use recorded frames ``[start, stop)`` (a training split).

    Returns
    -------
    TrainingSource or None
        None when nothing usable remains (shorter than one window, or every
        neuron constant).
    """
    traces = np.asarray(traces)
    if traces.ndim != 2:
        raise CalmError(f"{name}: traces must be (neurons, frames), got shape {traces.shape}")
    if frames is not None:
        traces = traces[:, frames[0]:frames[1]]
    filled, bad = fill_gaps(traces)
    mean, std, constant = row_stats(traces, slice(0, traces.shape[0]), max(1, traces.shape[1]))
    z = (filled - mean.astype(np.float32)[:, None]) / std.astype(np.float32)[:, None]
    z = to_model_rate(z[~constant], fs, config)
    report = {
        "neurons": int(traces.shape[0]),
        "constant_dropped": int(constant.sum()),
        "nan_frames_filled": int(bad.sum()),
        "model_frames": int(z.shape[1]),
    }
    if z.shape[0] == 0 or z.shape[1] < config.window:
        return None
    return TrainingSource(name, np.ascontiguousarray(z, np.float32), float(fs), report)


class WindowSampler:
    """Draws batches of training windows, reproducibly per step.

    Parameters
    ----------
    sources : list of TrainingSource
        Prepared recordings.
    config : NQConfig
        Window length, batch size, seed, recording weighting.
    """

    def __init__(self, sources: list[TrainingSource], config: NQConfig) -> None:
        if not sources:
            raise CalmError("no usable training traces (every recording is shorter than one window or constant)")
        self.sources = sources
        self.config = config
        sizes = np.array([s.traces.shape[0] * (s.traces.shape[1] - config.window + 1) for s in sources], float)
        weights = sizes if config.recording_weighting == "frames" else np.ones(len(sources))
        self.weights = weights / weights.sum()

    def batch(self, step: int) -> np.ndarray:
        """The ``(batch_size, window)`` float32 batch of training step ``step``."""
        return self.sample(np.random.default_rng([self.config.seed, step]), self.config.batch_size)

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """``(n, window)`` float32 windows drawn with ``rng``."""
        c = self.config
        which = rng.choice(len(self.sources), size=n, p=self.weights)
        out = np.empty((n, c.window), np.float32)
        for k in range(len(self.sources)):
            rows = np.flatnonzero(which == k)
            if rows.size == 0:
                continue
            tr = self.sources[k].traces
            neuron = rng.integers(0, tr.shape[0], rows.size)
            start = rng.integers(0, tr.shape[1] - c.window + 1, rows.size)
            out[rows] = tr[neuron[:, None], start[:, None] + np.arange(c.window)]
        return out
