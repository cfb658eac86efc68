"""Where the engine runs: CUDA with bf16 autocast when available, else the CPU."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch

from src_models.errors import CalmError


def default_device() -> torch.device:
    """``cuda`` when a GPU is visible, otherwise ``cpu``."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def resolve_device(device: str | torch.device | None = None) -> torch.device:
    """Turn ``None``/``"auto"``/a name into a :class:`torch.device`."""
    if device is None or device == "auto":
        return default_device()
    try:
        dev = torch.device(device)
    except RuntimeError:
        raise CalmError(f"unknown device {str(device)!r} (use auto, cpu or cuda)") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise CalmError(f"device {str(device)!r} requested but torch sees no CUDA GPU")
    if dev.type not in ("cpu", "cuda"):
        raise CalmError(f"device {str(device)!r} is not supported (use auto, cpu or cuda)")
    return dev


@contextlib.contextmanager
def autocast(device: torch.device) -> Iterator[None]:
    """bf16 autocast on CUDA; a no-op on the CPU (fp32 keeps CPU results exact)."""
    if device.type == "cuda":
        with torch.autocast("cuda", dtype=torch.bfloat16):
            yield
    else:
        yield
