"""Saving and loading Neural Quantizers (safetensors + JSON config, never pickle).

A tokenizer folder holds ``config.json`` and ``model.safetensors``
(:mod:`src_models.checkpoint`). :func:`load_nq` rebuilds the model from the
config and refuses anything else with a one-line
:class:`~src_models.errors.CalmError`; ``train.*`` tensors (optimizer state
of an unfinished run) are ignored.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from src_models.checkpoint import load_checkpoint, load_state_strict, save_checkpoint
from src_models.device import resolve_device
from src_models.errors import CalmError
from src_models.nq.config import NQConfig
from src_models.nq.model import NeuralQuantizer

#: ``meta["model"]`` of NQ checkpoints
KIND = "nq"


def nq_meta(config: NQConfig, state: dict[str, Any] | None = None) -> dict[str, Any]:
    """The ``config.json`` content of an NQ checkpoint."""
    return {"model": KIND, "config": config.to_dict(), "state": dict(state or {})}


def save_nq(model: NeuralQuantizer, path: str | Path, state: dict[str, Any] | None = None) -> Path:
    """Write ``model`` to the folder ``path`` atomically (weights only)."""
    return save_checkpoint(path, dict(model.state_dict()), nq_meta(model.config, state))


def default_nq_path() -> Path:
    """Folder of the shipped default tokenizer, ``resources/weights/nq`` (found as
    :func:`napari_calm.resources.resource` finds it, without importing ``napari_calm``)."""
    root = Path(__file__).resolve().parents[2]
    for base in (root / "napari_calm" / "resources", root / "resources"):
        if base.is_dir():
            return base / "weights" / "nq"
    return root / "resources" / "weights" / "nq"


def load_nq(path: str | Path | None = None, device: str | torch.device | None = "cpu") -> NeuralQuantizer:
    """Load a Neural Quantizer from a checkpoint folder.

    Parameters
    ----------
    path : str or Path, optional
        Folder with ``config.json`` and ``model.safetensors``; the shipped
        default tokenizer when omitted.
    device : str or torch.device, optional
        Where to put the model (``'auto'`` picks CUDA when available).

    Returns
    -------
    NeuralQuantizer
        The model in eval mode; ``model.checkpoint_state`` holds the saved
        training state (step, data, history).
    """
    path = Path(default_nq_path() if path is None else path)
    if not path.exists():
        raise CalmError("tokenizer checkpoint not found", path)
    if not path.is_dir():
        raise CalmError("a tokenizer checkpoint is a folder with config.json and model.safetensors", path)
    tensors, meta = load_checkpoint(path, expected_kind=KIND)
    config = NQConfig.from_dict(meta.get("config"), path / "config.json")
    model = NeuralQuantizer(config)
    weights = {k: v for k, v in tensors.items() if not k.startswith("train.")}
    load_state_strict(model, weights, path)
    model.checkpoint_state = dict(meta.get("state") or {})
    return model.to(resolve_device(device)).eval()
