"""CalM's Neural Quantizer (NQ): single-neuron traces <-> tokens of one shared vocabulary.

The public names below (name: module) are imported lazily, so ``import src_models.nq``
stays cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "NQConfig": "config",
    "NeuralQuantizer": "model",
    "load_nq": "io",
    "save_nq": "io",
    "default_nq_path": "io",
    "train_nq": "train",
    "prepare_source": "data",
    "TrainingSource": "data",
    "tokenize_traces": "tokenize",
    "TokenizeResult": "tokenize",
    "to_model_rate": "rate",
    "from_model_rate": "rate",
    "frames_to_tokens": "rate",
    "tokens_to_frames": "rate",
    "model_rate": "rate",
    "KMeansVQ": "kmeans_vq",
    "apply_rotary": "rope",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        module = importlib.import_module(f"{__name__}.{_EXPORTS[name]}")
        return getattr(module, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
