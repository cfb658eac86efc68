"""Writing analysis results: strict JSON (no NaN) and .npz files written atomically."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from src_models.errors import CalmError
from src_models.outputs import dumps


def save_npz(path: str | Path, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> Path:
    """Write ``arrays`` plus ``meta`` (as a JSON string under ``json``) to ``path`` atomically.

    The file is written under a temporary name in the same folder and renamed, so an interrupted
    write never leaves a partial file. Nothing in it needs pickle to load.
    """
    path = Path(path)
    if path.suffix != ".npz":
        raise CalmError("output file must end in .npz", path)
    if not path.parent.is_dir():
        raise CalmError("output folder does not exist", path.parent)
    payload = {k: np.asarray(v) for k, v in arrays.items()}
    if any(v.dtype == object for v in payload.values()):
        raise CalmError("refusing to write object arrays (they would need pickle)", path)
    payload["json"] = np.asarray(dumps(meta))
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".npz", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            np.savez_compressed(fh, **payload)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
