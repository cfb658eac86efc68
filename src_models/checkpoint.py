"""Checkpoints as safetensors weights plus a JSON config, written atomically.

A checkpoint is a folder::

    DIR/config.json        # {"model": <kind>, "config": {...}, "state": {...}}
    DIR/model.safetensors  # tensors only

Nothing is ever unpickled. Loading checks that every tensor the config
implies is present with the right shape and refuses anything else with a
:class:`~src_models.errors.CalmError`.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from src_models.errors import CalmError

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"


def save_checkpoint(
    directory: str | Path,
    tensors: dict[str, torch.Tensor],
    meta: dict[str, Any],
) -> Path:
    """Write ``tensors`` and ``meta`` to ``directory`` atomically.

    The new checkpoint is written to a sibling temporary folder and renamed
    over the old one, so an interrupted save never leaves a corrupt
    checkpoint behind: readers see either the previous one or the new one.

    Parameters
    ----------
    directory : str or Path
        Destination folder (created or replaced).
    tensors : dict of str to Tensor
        Weights and any other tensor state (optimizer moments, RNG state).
    meta : dict
        JSON-serialisable description: model kind, config, step, metrics.

    Returns
    -------
    Path
        The checkpoint folder.
    """
    directory = Path(directory)
    directory.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{directory.name}.", dir=directory.parent))
    try:
        flat = {k: v.detach().to("cpu").contiguous() for k, v in tensors.items()}
        save_file(flat, str(tmp / WEIGHTS_NAME))
        (tmp / CONFIG_NAME).write_text(json.dumps(meta, indent=2, sort_keys=True))
        _set_default_permissions(tmp)
        old = None
        if directory.exists():
            old = directory.with_name(f".{directory.name}.old-{os.getpid()}")
            os.replace(directory, old)
        os.replace(tmp, directory)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return directory


def _set_default_permissions(folder: Path) -> None:
    """Give a ``mkdtemp`` folder (0700) and its files the usual umask-based modes."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(folder, 0o777 & ~umask)
    for f in folder.iterdir():
        os.chmod(f, 0o666 & ~umask)


def read_meta(directory: str | Path) -> dict[str, Any]:
    """Read and return ``config.json`` of a checkpoint folder."""
    path = Path(directory) / CONFIG_NAME
    if not path.is_file():
        raise CalmError("not a checkpoint folder (no config.json)", directory)
    try:
        meta = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CalmError(f"unreadable checkpoint config ({exc.__class__.__name__})", path) from None
    if not isinstance(meta, dict):
        raise CalmError("checkpoint config is not a JSON object", path)
    return meta


def load_checkpoint(
    directory: str | Path, expected_kind: str | None = None
) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Load ``(tensors, meta)`` from a checkpoint folder.

    Parameters
    ----------
    directory : str or Path
        Checkpoint folder written by :func:`save_checkpoint`.
    expected_kind : str, optional
        Refuse checkpoints whose ``meta["model"]`` differs.
    """
    meta = read_meta(directory)
    if expected_kind is not None and meta.get("model") != expected_kind:
        raise CalmError(
            f"checkpoint holds a {meta.get('model')!r} model, expected {expected_kind!r}", directory
        )
    weights = Path(directory) / WEIGHTS_NAME
    if not weights.is_file():
        raise CalmError(f"checkpoint has no {WEIGHTS_NAME}", directory)
    try:
        tensors = load_file(str(weights))
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise CalmError(f"corrupt weights file ({str(exc).splitlines()[0][:120]})", weights) from None
    return tensors, meta


def load_state_strict(module: torch.nn.Module, tensors: dict[str, torch.Tensor], source: str | Path) -> None:
    """Load ``tensors`` into ``module``, refusing missing, extra or mis-shaped tensors."""
    own = module.state_dict()
    missing = sorted(set(own) - set(tensors))
    extra = sorted(set(tensors) - set(own))
    wrong = sorted(k for k in set(own) & set(tensors) if own[k].shape != tensors[k].shape)
    if missing or extra or wrong:
        parts = []
        if missing:
            parts.append(f"missing {missing[:3]}")
        if extra:
            parts.append(f"unexpected {extra[:3]}")
        if wrong:
            k = wrong[0]
            parts.append(f"{k} has shape {tuple(tensors[k].shape)}, config implies {tuple(own[k].shape)}")
        raise CalmError("weights do not match the config: " + "; ".join(parts), source)
    module.load_state_dict(tensors, strict=True)
