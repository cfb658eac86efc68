"""The out-of-range guard of ``calm forecast``: forecasters only see values they were fitted on.

Every forecaster of a recording (the DAT through its tokenizer, the regression head, the linear skip
path's VAR and AR) is fitted on the training split. A held-out recording can later show transients
far beyond anything in it — on the mouse two-photon recording of the transfer benchmark, test
transients of 28–50 training standard deviations where training peaked at 12–15 — and there every
fitted map extrapolates: the tokenizer saturates, the VAR feeds the excursion into every other
neuron, and all of them do worse than repeating the last frame.

The guard clips each neuron's context to the range its training split spanned and carries the part
beyond it as a constant over the horizon (copy-last of the excess)::

    forecast = f(clip(context)) + (last − clip(last))

On data inside the training range it is the identity. It is fitted once per recording
(:meth:`RangeGuard.of`) and applied to contexts in the protocol's z-space.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from src_models.preparation import PreparedRecording


@dataclass(frozen=True)
class RangeGuard:
    """Per-neuron ``[lo, hi]`` of the training split, in the protocol's z-space.

    Attributes
    ----------
    lo, hi : ndarray
        ``(N,)`` float32 lowest and highest training value of every neuron.
    """

    lo: np.ndarray
    hi: np.ndarray

    @classmethod
    def of(cls, prep: PreparedRecording) -> RangeGuard:
        """The range of ``prep.z`` over its training split."""
        start, stop = prep.bounds[0]
        z = prep.z[:, start:stop]
        if z.shape[1] == 0:
            raise ValueError("the range guard needs a non-empty training split")
        return cls(z.min(axis=1).astype(np.float32), z.max(axis=1).astype(np.float32))

    def clip(self, z: np.ndarray) -> np.ndarray:
        """``(N, T)`` traces clipped to the range (a copy; ``z`` is left unchanged)."""
        return np.clip(z, self.lo[:, None], self.hi[:, None])

    def clip_windows(self, ctx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(W, C, N)`` contexts → clipped contexts and the ``(W, N)`` excess of their last frames."""
        clipped = np.clip(ctx, self.lo, self.hi)
        return clipped, (ctx[:, -1, :] - clipped[:, -1, :]).astype(np.float32)

    def report(self, z: np.ndarray, start: int, stop: int) -> dict[str, float]:
        """How much of frames ``[start, stop)`` of ``(N, T)`` ``z`` lies outside the range.

        ``{"fraction_outside", "max_excess"}``: the fraction of neuron-frames outside and the
        largest distance beyond the range, in training standard deviations.
        """
        part = z[:, start:stop]
        excess = np.abs(part - self.clip(part))
        return {"fraction_outside": round(float(np.mean(excess > 0)), 6) if excess.size else 0.0,
                "max_excess": round(float(excess.max()), 3) if excess.size else 0.0}
