"""CalM engine: recordings, preprocessing, simulation, tokenizer (NQ), dual-axis
Transformer (DAT), heads, training and analysis.

Imports torch and numpy, never Qt or napari.
"""

from __future__ import annotations

from src_models.engine import Adapted, CalM
from src_models.readers import read_recording
from src_models.settings import AdaptSettings, ForecastSettings

__all__ = ["Adapted", "AdaptSettings", "CalM", "ForecastSettings", "read_recording"]
