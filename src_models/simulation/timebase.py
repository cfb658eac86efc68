"""The simulation clock: fine integration bins and their pooling into imaging frames.

Every simulation runs on a fine grid of ``dt`` seconds (10 ms as in POCO, or
``1/fs`` above 100 Hz); a frame is the mean of the bins whose centres fall inside
it, so any frame rate works.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: integration step of POCO's simulation (seconds)
POCO_DT = 0.01


@dataclass(frozen=True)
class Timebase:
    """Fine bins of ``dt`` seconds covering ``n_frames`` frames at ``fs`` Hz.

    Attributes
    ----------
    fs : float
        Frame rate in Hz.
    n_frames : int
        Number of imaging frames.
    dt : float
        Integration step in seconds.
    """

    fs: float
    n_frames: int
    dt: float

    @classmethod
    def for_frames(cls, fs: float, n_frames: int, dt: float = POCO_DT) -> Timebase:
        """A timebase with ``dt`` shortened to ``1/fs`` for frame rates above ``1/dt``."""
        return cls(float(fs), int(n_frames), float(min(dt, 1.0 / fs)))

    @property
    def duration(self) -> float:
        """Recording length in seconds."""
        return self.n_frames / self.fs

    @property
    def n_bins(self) -> int:
        """Number of fine bins (the last frame is always covered)."""
        return int(np.ceil(self.duration / self.dt - 1e-9))

    @property
    def bin_frame(self) -> np.ndarray:
        """Frame index of every bin, ``(n_bins,)`` non-decreasing."""
        centres = (np.arange(self.n_bins) + 0.5) * self.dt
        return np.minimum((centres * self.fs).astype(np.int64), self.n_frames - 1)

    def frame_of_time(self, t: np.ndarray | float) -> np.ndarray:
        """Frame index containing time ``t`` (seconds)."""
        return np.clip(np.floor(np.asarray(t) * self.fs).astype(np.int64), 0, self.n_frames - 1)

    def to_frames(self, x: np.ndarray, reduce: str = "mean") -> np.ndarray:
        """Pool the last axis of ``x`` (``n_bins`` long) into frames.

        Parameters
        ----------
        x : ndarray
            ``(..., n_bins)`` values on the fine grid.
        reduce : {'mean', 'sum'}
            Mean (rates, fluorescence) or sum (spike counts) over each frame's bins.

        Returns
        -------
        ndarray
            ``(..., n_frames)``.
        """
        frame = self.bin_frame
        starts = np.flatnonzero(np.r_[True, frame[1:] != frame[:-1]])
        out = np.add.reduceat(x, starts, axis=-1)
        return out / np.diff(np.r_[starts, len(frame)]) if reduce == "mean" else out
