"""CalM's dual-axis Transformer (DAT): model, pretraining, fine-tuning, forecasting, states.

The public entry points are imported lazily so ``import src_models.dat`` stays cheap:

* :func:`load_calm` / :func:`save_calm` and :class:`CalM` (``calm.py``),
* the training loops live in their submodules, imported as modules
  (``from src_models.dat.pretrain import pretrain``, ``from src_models.dat.finetune
  import finetune``): re-exporting them here would clash with the submodule names,
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
