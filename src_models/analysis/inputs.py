"""Decoder inputs cut from a per-frame feature series, causally per frame or per whole trial.

The same series can be raw traces (``(T, N)``, z-scored) for the supervised baselines or CalM's
pooled DAT states (``(T, D)``) for the CalM heads; the layout of the inputs is identical, so every
decoder sees exactly the same frames.

* :class:`FrameInputs` — a sample is one frame ``t``; it sees frames ``t − context + 1 .. t`` only
  (causal). ``flat`` gives lag-binned means over that window (``lag_edges``), ``seq`` the raw window
  for recurrent decoders.
* :class:`TrialInputs` — a sample is one trial ``[start, end)``; ``flat`` gives the mean in
  ``n_bins`` equal time bins of the trial, ``seq`` the trial resampled into ``seq_len`` bins.
"""

from __future__ import annotations

import numpy as np

from src_models.errors import CalmError

#: default lag bins (frames before t, half-open ``[a, b)``); roughly log-spaced over 48 frames
DEFAULT_LAG_EDGES = (0, 1, 3, 7, 15, 31, 48)


def _cumsum(series: np.ndarray) -> np.ndarray:
    x = np.asarray(series, np.float64)
    return np.concatenate([np.zeros((1, x.shape[1])), np.cumsum(x, axis=0)], axis=0)


class FrameInputs:
    """Causal inputs for frame-level decoding.

    Parameters
    ----------
    series : ndarray
        ``(T, d)`` features per frame.
    frames : ndarray
        Frames to decode; each needs ``frames >= context - 1``.
    context : int
        Frames in the causal window.
    lag_edges : sequence of int
        Edges of the lag bins of :meth:`flat`, starting at 0; edges at or beyond ``context`` are
        replaced by one final edge at ``context``.
    seq_step : int
        :meth:`seq` keeps every ``seq_step``-th frame of the window (the newest always included).
    """

    def __init__(
        self,
        series: np.ndarray,
        frames: np.ndarray,
        context: int,
        lag_edges: tuple[int, ...] = DEFAULT_LAG_EDGES,
        seq_step: int = 2,
    ) -> None:
        self.series = np.asarray(series, np.float32)
        self.frames = np.asarray(frames, np.int64)
        self.context = int(context)
        self.seq_step = max(1, int(seq_step))
        self.lag_edges = tuple(int(e) for e in lag_edges if e < self.context) + (self.context,)
        if len(self.frames) and self.frames.min() < self.context - 1:
            raise CalmError(f"frame {self.frames.min()} has less than {context} frames of context")
        self._flat = self._lag_bins()

    @property
    def dim(self) -> int:
        """Features per frame ``d``."""
        return int(self.series.shape[1])

    def _lag_bins(self) -> np.ndarray:
        cs = _cumsum(self.series)
        t = self.frames
        out = []
        for a, b in zip(self.lag_edges[:-1], self.lag_edges[1:]):
            out.append((cs[t - a + 1] - cs[t - b + 1]) / (b - a))
        return np.concatenate(out, axis=1).astype(np.float32)

    def flat(self, idx: np.ndarray) -> np.ndarray:
        """``(len(idx), n_bins * d)`` lag-binned window means."""
        return self._flat[idx]

    def seq(self, idx: np.ndarray) -> np.ndarray:
        """``(len(idx), ceil(context / seq_step), d)`` causal windows, oldest frame first."""
        t = self.frames[np.asarray(idx)]
        offsets = -np.arange(0, self.context, self.seq_step)[::-1]
        return self.series[t[:, None] + offsets[None, :]]


class TrialInputs:
    """Whole-trial inputs for trial-level decoding.

    Parameters
    ----------
    series : ndarray
        ``(T, d)`` features per frame.
    start, end : ndarray
        ``(n_trials,)`` trial bounds, end exclusive.
    n_bins : int
        Time bins per trial for :meth:`flat`.
    seq_len : int
        Time bins per trial for :meth:`seq`.
    """

    def __init__(
        self,
        series: np.ndarray,
        start: np.ndarray,
        end: np.ndarray,
        n_bins: int = 4,
        seq_len: int = 16,
    ) -> None:
        self.series = np.asarray(series, np.float32)
        self.start = np.asarray(start, np.int64)
        self.end = np.asarray(end, np.int64)
        if np.any(self.end <= self.start):
            raise CalmError("every trial needs end_frame > start_frame")
        cs = _cumsum(self.series)
        self._flat = self._binned(cs, n_bins).reshape(len(self.start), -1)
        self._seq = self._binned(cs, seq_len)

    @property
    def dim(self) -> int:
        """Features per frame ``d``."""
        return int(self.series.shape[1])

    def _binned(self, cs: np.ndarray, n_bins: int) -> np.ndarray:
        length = self.end - self.start
        edges = self.start[:, None] + np.floor(
            np.linspace(0, 1, n_bins + 1)[None, :] * length[:, None]
        ).astype(np.int64)
        lo, hi = edges[:, :-1], np.maximum(edges[:, 1:], edges[:, :-1] + 1)
        hi = np.minimum(hi, self.end[:, None])
        lo = np.minimum(lo, hi - 1)
        return ((cs[hi] - cs[lo]) / (hi - lo)[..., None]).astype(np.float32)

    def flat(self, idx: np.ndarray) -> np.ndarray:
        """``(len(idx), n_bins * d)`` binned trial means."""
        return self._flat[idx]

    def seq(self, idx: np.ndarray) -> np.ndarray:
        """``(len(idx), seq_len, d)`` trial resampled into bins, first bin first."""
        return self._seq[idx]
