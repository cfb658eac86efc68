"""Synthetic calcium-imaging recordings with ground truth.

``simulate(preset, ...)`` returns :class:`SimulatedSession` objects (a
:class:`~src_models.recording.Recording` plus a ground-truth dict);
``write_session`` / ``write_sessions`` store them in the suite2p layout that the
readers open. Presets: ``poco``, ``task``, ``corpus``, ``demo``
(see :mod:`src_models.simulation.presets`).
"""

from __future__ import annotations

from src_models.simulation.calcium import INDICATORS, Indicator, get_indicator, indicator_kernel
from src_models.simulation.generate import simulate
from src_models.simulation.presets import PRESETS, Preset
from src_models.simulation.session import SimulatedSession
from src_models.simulation.writer import write_session, write_sessions

__all__ = [
    "INDICATORS",
    "PRESETS",
    "Indicator",
    "Preset",
    "SimulatedSession",
    "get_indicator",
    "indicator_kernel",
    "simulate",
    "write_session",
    "write_sessions",
]
