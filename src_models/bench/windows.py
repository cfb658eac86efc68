"""One recording → the train / validation / test windows every model sees.

Protocol (the same for every model): the ``(N, T)`` traces are split in time
60 / 20 / 20, each neuron is z-scored with **training** statistics only, and
windows of ``context + horizon`` frames are cut *inside* each split (stride 1).
A :class:`WindowSet` stores its split's series and the window starts; windows
are gathered on demand.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from src_models.dat.linear_skip import evenly
from src_models.errors import CalmError
from src_models.metrics import window_starts
from src_models.preprocessing import ZScore, split_bounds

#: names of the three splits, in time order
SPLITS = ("train", "val", "test")


@dataclass
class WindowSet:
    """Windows of one split.

    Parameters
    ----------
    series : ndarray
        ``(T_split, N)`` z-scored frames of this split only, so a model given
        the training windows cannot see a validation or test frame.
    starts : ndarray
        Start frame of every window, relative to ``series``.
    context, horizon : int
        Window layout: frames ``s .. s+context-1`` are the context, the next
        ``horizon`` frames the target.
    """

    series: np.ndarray
    starts: np.ndarray
    context: int
    horizon: int
    first_frame: int = 0

    def __len__(self) -> int:
        return len(self.starts)

    @property
    def n_neurons(self) -> int:
        return int(self.series.shape[1])

    def _gather(self, offset: int, length: int, idx: np.ndarray | None) -> np.ndarray:
        starts = self.starts if idx is None else self.starts[np.asarray(idx)]
        rows = starts[:, None] + offset + np.arange(length)[None, :]
        return self.series[rows]

    def contexts(self, idx: np.ndarray | None = None) -> np.ndarray:
        """``(W, context, N)`` float32 contexts of the windows ``idx`` (all by default)."""
        return self._gather(0, self.context, idx)

    def targets(self, idx: np.ndarray | None = None) -> np.ndarray:
        """``(W, horizon, N)`` float32 targets of the windows ``idx`` (all by default)."""
        return self._gather(self.context, self.horizon, idx)

    def last(self, idx: np.ndarray | None = None) -> np.ndarray:
        """``(W, N)`` last context frame (the copy-last forecast)."""
        return self._gather(self.context - 1, 1, idx)[:, 0]

    def subsample(self, max_windows: int) -> WindowSet:
        """At most ``max_windows`` windows, evenly spaced in time (deterministic)."""
        return WindowSet(self.series, evenly(self.starts, max_windows), self.context, self.horizon, self.first_frame)


@dataclass
class BenchData:
    """A recording prepared for the benchmark.

    Attributes
    ----------
    name : str
        Dataset name shown in the tables (``sim-poco``, ``triplett``, a file stem).
    train, val, test : WindowSet
        Windows of each split, each over its own slice of the z-scored traces.
    zscore : ZScore
        The training-split statistics used for normalisation.
    bounds : list of (int, int)
        ``[start, stop)`` frames of train, val and test.
    fs : float
        Frame rate in Hz.
    info : dict
        Provenance (source path, preset, seed, sizes) for ``results.json``.
    """

    name: str
    train: WindowSet
    val: WindowSet
    test: WindowSet
    zscore: ZScore
    bounds: list[tuple[int, int]]
    fs: float
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def n_neurons(self) -> int:
        return self.train.n_neurons

    @property
    def n_frames(self) -> int:
        return int(self.bounds[-1][1])

    @property
    def context(self) -> int:
        return self.train.context

    @property
    def horizon(self) -> int:
        return self.train.horizon

    def describe(self) -> dict[str, Any]:
        """JSON-ready summary: sizes, splits, window counts and provenance."""
        return {
            "name": self.name,
            "n_neurons": self.n_neurons,
            "n_frames": self.n_frames,
            "fs": float(self.fs),
            "context": self.context,
            "horizon": self.horizon,
            "splits": {k: list(b) for k, b in zip(SPLITS, self.bounds)},
            "windows": {k: len(getattr(self, k)) for k in SPLITS},
            **self.info,
        }


def make_windows(
    traces: np.ndarray,
    *,
    name: str,
    fs: float,
    context: int = 48,
    horizon: int = 16,
    fractions: tuple[float, float, float] = (0.6, 0.2, 0.2),
    stride: int = 1,
    source: str | None = None,
    info: dict[str, Any] | None = None,
) -> BenchData:
    """Split, z-score (training statistics) and window ``(N, T)`` traces.

    Parameters
    ----------
    traces : ndarray
        ``(N, T)`` activity (neuropil-corrected fluorescence or ΔF/F).
    name : str
        Dataset name for the tables.
    fs : float
        Frame rate in Hz.
    context, horizon : int
        Frames of context and of forecast per window.
    fractions : tuple of float
        Train / validation / test fractions of the recording, in time order.
    stride : int
        Step between window starts (1 = every frame).
    source : str, optional
        File the traces came from; named in error messages.
    info : dict, optional
        Extra provenance stored in :attr:`BenchData.info`.

    Returns
    -------
    BenchData

    Raises
    ------
    CalmError
        Non-finite traces, bad window sizes, or a recording too short to give
        at least one window in every split.
    """
    x = np.asarray(traces, np.float32)
    if x.ndim != 2 or x.shape[0] == 0:
        raise CalmError(f"traces must be (neurons x frames) with at least one neuron, got {x.shape}", source)
    if not np.isfinite(x).all():
        raise CalmError("traces contain NaN or Inf values", source)
    if context < 1 or horizon < 1:
        raise CalmError(f"context and horizon must be positive, got {context} and {horizon}", source)
    T = x.shape[1]
    bounds = split_bounds(T, fractions)
    per_window = context + horizon
    for split, (a, b) in zip(SPLITS, bounds):
        if b - a < per_window:
            need = int(np.ceil(per_window / min(fractions)))
            raise CalmError(
                f"recording too short for the benchmark: {T} frames give the {split} split "
                f"{b - a} frames, fewer than context + horizon = {per_window} "
                f"(need at least {need} frames)",
                source,
            )
    zs = ZScore.fit(x[:, bounds[0][0] : bounds[0][1]])
    series = np.ascontiguousarray(zs.transform(x).T)
    sets = [
        WindowSet(series[a:b].copy(), window_starts(context, horizon, 0, b - a, stride), context, horizon, a)
        for a, b in bounds
    ]
    meta = {"source": source} if source else {}
    meta.update(info or {})
    return BenchData(name, *sets, zscore=zs, bounds=bounds, fs=float(fs), info=meta)
