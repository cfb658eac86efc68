"""CalM's dual-axis Transformer (DAT): model, pretraining, fine-tuning, forecasting, states.

The public entry points are imported lazily so ``import src_models.dat`` stays cheap:

* :func:`load_calm` / :func:`save_calm` and :class:`CalM` (``calm.py``),
* :func:`pretrain` (``pretrain.py``), :func:`finetune` (``finetune.py``),
* :func:`forecast_recording` / :class:`ForecastResult` (``forecast.py``),
* :func:`neuron_states` (``states.py``).
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "CalM": "calm",
    "load_calm": "calm",
    "save_calm": "calm",
    "default_calm_path": "calm",
    "DATConfig": "config",
    "TrainConfig": "config",
    "DualAxisTransformer": "model",
    "pretrain": "pretrain",
    "finetune": "finetune",
    "FinetuneConfig": "config",
    "forecast_recording": "forecast",
    "ForecastResult": "forecast",
    "neuron_states": "states",
    "NeuronStates": "states",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        module = importlib.import_module(f"{__name__}.{_EXPORTS[name]}")
        return getattr(module, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
