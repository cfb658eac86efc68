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
from src_models.outputs import MARKER, dumps

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"


def save_checkpoint(directory: str | Path, tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> Path:
    """Write ``tensors`` and ``meta`` to ``directory`` atomically (a sibling temporary folder renamed
    over the old one: readers see either the previous checkpoint or the new one).

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
    check_replaceable(directory)
    directory.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{directory.name}.tmp-{os.getpid()}-", dir=directory.parent))
    old = directory.with_name(f".{directory.name}.old-{os.getpid()}")
    try:
        flat = {k: v.detach().to("cpu").contiguous() for k, v in tensors.items()}
        save_file(flat, str(tmp / WEIGHTS_NAME))
        (tmp / CONFIG_NAME).write_text(dumps(meta, indent=2))
        if (directory / MARKER).is_file():
            shutil.copyfile(directory / MARKER, tmp / MARKER)
        _set_default_permissions(tmp)
        if directory.exists():
            os.replace(directory, old)
        os.replace(tmp, directory)
    except BaseException:
        recover_checkpoint(directory)
        raise
    shutil.rmtree(old, ignore_errors=True)
    return directory


def check_replaceable(directory: str | Path) -> None:
    """Refuse (with :class:`CalmError`) a ``directory`` that :func:`save_checkpoint` did not write.

    Only an absent folder, or one holding nothing but a checkpoint's files, may be replaced.
    """
    directory = Path(directory)
    recover_checkpoint(directory)
    if directory.exists() and not (
        directory.is_dir() and set(os.listdir(directory)) <= {CONFIG_NAME, WEIGHTS_NAME, MARKER}
    ):
        raise CalmError("exists and is not a checkpoint folder; refusing to replace it", directory)


def recover_checkpoint(directory: str | Path) -> bool:
    """Repair what an interrupted :func:`save_checkpoint` left; returns whether a checkpoint exists.

    A save writes a complete copy under ``.NAME.tmp-PID-*``, moves the previous checkpoint to
    ``.NAME.old-PID`` and the copy into place. Interrupted between those two moves, ``NAME``
    is missing: the previous checkpoint is moved back. Leftover copies are removed.
    """
    directory = Path(directory)
    parent = directory.parent
    if not parent.is_dir():
        return False
    olds = sorted(parent.glob(f".{directory.name}.old-*"), key=lambda p: p.stat().st_mtime)
    if not directory.exists() and olds and (olds[-1] / CONFIG_NAME).is_file():
        os.replace(olds.pop(), directory)
    for leftover in [*olds, *parent.glob(f".{directory.name}.tmp-*")]:
        shutil.rmtree(leftover, ignore_errors=True)
    return (directory / CONFIG_NAME).is_file()


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
    if not path.is_file() and not recover_checkpoint(directory):
        raise CalmError("not a checkpoint folder (no config.json)", directory)
    try:
        meta = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CalmError(f"unreadable checkpoint config ({exc.__class__.__name__})", path) from None
    if not isinstance(meta, dict):
        raise CalmError("checkpoint config is not a JSON object", path)
    return meta


def load_checkpoint(directory: str | Path, expected_kind: str | None = None) -> tuple[dict, dict]:
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
        kind = meta.get("model")
        raise CalmError(f"checkpoint holds a {kind!r} model, expected {expected_kind!r}", directory)
    weights = Path(directory) / WEIGHTS_NAME
    if not weights.is_file():
        raise CalmError(f"checkpoint has no {WEIGHTS_NAME}", directory)
    try:
        tensors = load_file(str(weights))
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise CalmError(f"corrupt weights file ({str(exc).splitlines()[0][:120]})", weights) from None
    bad = [k for k, v in tensors.items() if v.is_floating_point() and not torch.isfinite(v).all()]
    if bad:
        raise CalmError(f"weights contain NaN or Inf ({bad[0]})", weights)
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
