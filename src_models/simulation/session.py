"""The result type of the simulator."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from src_models.recording import Recording


@dataclass
class SimulatedSession:
    """One simulated recording and everything that generated it.

    Attributes
    ----------
    recording : Recording
        What a reader would return (``kind='simulated'`` until written to disk).
    ground_truth : dict of str to ndarray
        Generating quantities; see :func:`src_models.simulation.simulate` for the keys.
    """

    recording: Recording
    ground_truth: dict[str, np.ndarray] = field(default_factory=dict)
