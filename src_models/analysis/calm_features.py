"""The seam between decoding/embedding analyses and a representation model.

Analyses never call the DAT directly; they ask a :class:`FeatureExtractor` for

* ``frame_features(recording)`` — ``(T, D)`` features per frame, causal in time (frame ``t`` only
  depends on frames ``≤ t``), obtained without labels. Decoding heads (linear / small MLP) are then
  trained on them exactly like the supervised baselines are trained on traces;
* ``neuron_embeddings(recording)`` — named ``(N, D)`` per-neuron embeddings.

:class:`CalmFeatures` implements it with CalM: the DAT hidden states of every neuron at every token,
pooled across neurons (mean, or mean and standard deviation) for frame features, and the learned
neuron embeddings plus time-averaged hidden states for neuron embeddings. Its ``adapt_steps``
option first adapts the model to the recording without labels (DAT's ``finetune``), giving the
"fine-tuned backbone" variant; ``adapt_steps=0`` keeps the pretrained backbone frozen.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, runtime_checkable

import numpy as np

from src_models.recording import Recording

#: ``progress(fraction, message)`` callback used by long analyses
ProgressFn = Callable[[float, str], None]


@runtime_checkable
class FeatureExtractor(Protocol):
    """Anything that turns a recording into per-frame features and per-neuron embeddings."""

    #: short name used in result keys (``calm_frozen``, ``calm_adapted``, ...)
    name: str

    def frame_features(self, recording: Recording, progress: ProgressFn | None = None) -> np.ndarray:
        """``(T, D)`` causal features per frame."""
        ...

    def neuron_embeddings(
        self, recording: Recording, progress: ProgressFn | None = None
    ) -> dict[str, np.ndarray]:
        """Named ``(N, D)`` per-neuron embeddings."""
        ...


def no_progress(fraction: float, message: str) -> None:
    """A progress callback that does nothing."""


def sub_progress(progress: ProgressFn | None, lo: float, hi: float) -> ProgressFn:
    """Map a callback's ``[0, 1]`` onto ``[lo, hi]`` of an outer callback."""
    outer = progress or no_progress
    return lambda f, msg: outer(lo + (hi - lo) * min(max(f, 0.0), 1.0), msg)
