"""One validation layer for values read from files and options.

Every check raises :class:`~src_models.errors.CalmError` with one line naming
the file (or option) and the problem; nothing here imports Qt, napari or torch.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
from pathlib import Path
from typing import Any

import numpy as np

from src_models.errors import CalmError

#: a frame count or index above this is not a recording (and would overflow int64 arithmetic)
MAX_INT = 2**53
#: frame rates above this (Hz) are not imaging (and would make per-second buffers explode)
MAX_FS = 1e5
#: image sides above this (pixels) are not a microscope's field of view (label images would not fit)
MAX_SIDE = 1 << 16


def number(
    value: Any,
    name: str,
    source: str | Path | None = None,
    *,
    integer: bool = False,
    positive: bool = False,
    minimum: float | None = None,
    maximum: float | None = None,
) -> float | int:
    """``value`` as a finite float (or int), refusing text, lists, booleans, NaN and Inf.

    Parameters
    ----------
    value : Any
        The value as read (JSON, CSV cell, pickle, option).
    name : str
        What it is, for the message (``"fs"``, ``"n_heads"``).
    source : str or Path, optional
        The file it came from (prefixed to the message).
    integer : bool
        Require a whole number (``64.0`` is refused in a config that wants an int).
    positive : bool
        Require a value above zero.
    minimum, maximum : float, optional
        Require a value within these bounds.

    Raises
    ------
    CalmError
        When the value is not such a number.
    """
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value.item()
    if isinstance(value, bool | np.bool_) or not isinstance(value, int | float | np.integer | np.floating):
        raise CalmError(f"{name} must be a number, got {_show(value)}", source)
    if integer and not isinstance(value, int | np.integer):
        raise CalmError(f"{name} must be a whole number, got {_show(value)}", source)
    if not math.isfinite(float(value)) or abs(value) > MAX_INT:
        raise CalmError(f"{name} must be a finite number, got {_show(value)}", source)
    if positive and value <= 0:
        raise CalmError(f"{name} must be positive, got {_show(value)}", source)
    if minimum is not None and value < minimum:
        raise CalmError(f"{name} must be at least {minimum:g}, got {_show(value)}", source)
    if maximum is not None and value > maximum:
        raise CalmError(f"{name} must be at most {maximum:g}, got {_show(value)}", source)
    return int(value) if integer else float(value)


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def finite_array(values: np.ndarray, name: str, source: str | Path | None = None, chunk: int = 1 << 22) -> None:
    """Refuse NaN/Inf in a numeric array (read in chunks, so memory maps stay cheap).

    Raises
    ------
    CalmError
        When ``values`` is not numeric or holds a non-finite value.
    """
    arr = np.asarray(values)
    if arr.dtype.kind not in "biuf":
        raise CalmError(f"{name} must be numeric, got dtype {arr.dtype}", source)
    if arr.dtype.kind != "f" or arr.size == 0:
        return
    flat = arr.reshape(-1)
    for i in range(0, flat.size, chunk):
        part = flat[i:i + chunk]
        if not np.isfinite(part).all():
            raise CalmError(f"{name} contain NaN or Inf values", source)


def available_memory() -> int:
    """Bytes of memory this machine can still allocate (physical memory available)."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return 1 << 40


def check_memory(nbytes: float, what: str, source: str | Path | None = None) -> None:
    """Refuse work that would need more memory than the machine has, before allocating it."""
    free = available_memory()
    if nbytes > free:
        raise CalmError(
            f"{what} would need about {nbytes / 2**30:.1f} GiB of memory, {free / 2**30:.1f} GiB is available",
            source,
        )


def frame_numbers(values: Any, name: str, source: str | Path | None = None) -> np.ndarray:
    """``values`` as int64 frame numbers, refusing text, NaN, fractions and absurd sizes.

    Raises
    ------
    CalmError
        When a value is not a whole number of moderate size.
    """
    arr = np.asarray(values)
    if arr.dtype.kind not in "iuf":
        raise CalmError(f"{name} must hold whole frame numbers, got {arr.dtype} values", source)
    if arr.size and arr.dtype.kind == "f" and not (np.isfinite(arr).all() and (np.mod(arr, 1) == 0).all()):
        raise CalmError(f"{name} must hold whole frame numbers", source)
    if arr.size and np.abs(arr.astype(np.float64)).max() > MAX_INT:
        raise CalmError(f"{name} holds a frame number too large for a recording", source)
    return arr.astype(np.int64)


#: numeric config fields (by name) that must be above zero; other numbers must be >= 0
_POSITIVE = re.compile(
    r"(^|_)(lr|every|batch_size|n_heads|d_model|mlp_ratio|max_steps|window_tokens|max_neurons"
    r"|codebook_size|code_dim|patch_len|window|n_layers)$|^steps$"
)


def config_fields(cls: type, data: dict[str, Any], source: str | Path | None = None) -> None:
    """Check the values of a config dataclass read from a file against the fields' defaults.

    Booleans must be booleans, strings strings, whole-number fields whole numbers, and
    numbers finite and non-negative (above zero for learning rates, sizes and ``*_every``).

    Raises
    ------
    CalmError
        Naming the first bad key and its value.
    """
    for f in dataclasses.fields(cls):
        if f.name not in data or f.default is dataclasses.MISSING:
            continue
        value, default, name = data[f.name], f.default, f"{cls.__name__}.{f.name}"
        if isinstance(default, bool):
            if not isinstance(value, bool):
                raise CalmError(f"{name} must be true or false, got {_show(value)}", source)
        elif isinstance(default, int | float):
            positive = bool(_POSITIVE.search(f.name))
            number(value, name, source, integer=isinstance(default, int), positive=positive,
                   minimum=None if positive or f.name == "seed" else 0)
        elif isinstance(default, str) and not isinstance(value, str):
            raise CalmError(f"{name} must be text, got {_show(value)}", source)


class JsonConfig:
    """``from_dict``/``to_dict`` of a config dataclass read from JSON (bad keys or values: CalmError)."""

    #: what the config is called in messages (default: the class name)
    label = ""

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None, source: str | Path | None = None) -> Any:
        """Build a config, refusing unknown keys and invalid values with a :class:`CalmError`."""
        label = cls.label or cls.__name__
        if data is not None and not isinstance(data, dict):
            raise CalmError(f"{label} must be a JSON object", source)
        data = dict(data or {})
        unknown = sorted(set(data) - {f.name for f in dataclasses.fields(cls)})  # type: ignore[arg-type]
        if unknown:
            raise CalmError(f"unknown {label} keys {unknown}", source)
        config_fields(cls, data, source)
        try:
            return cls(**data)
        except (TypeError, ValueError) as exc:
            raise CalmError(f"invalid {label}: {exc}", source) from None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-serialisable dict of every field."""
        return dataclasses.asdict(self)  # type: ignore[call-overload]
