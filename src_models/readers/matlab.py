"""MATLAB ``.mat`` files: v4/v5/v7 through :func:`scipy.io.loadmat`, v7.3 (HDF5) through h5py.

Variables are named by their MATLAB path: top-level names, struct fields as
``struct.field`` (e.g. EXTRACT's ``output.temporal_weights``).

Which matrix holds the traces
    ``var=NAME`` (``--var NAME``) names it. Otherwise it is the 2-D
    floating-point variable (``double``/``single``, both sides longer than 1)
    with the most elements; a tie is an error that lists the candidates.
Orientation
    Rows are neurons. A matrix with more rows than columns is transposed
    (``metadata["transposed"]``); store more neurons than frames as ``.npz``.
Frame rate
    A numeric scalar named in :data:`RATE_NAMES` (Hz) or :data:`PERIOD_NAMES`
    (seconds), any case, in any struct.
Behaviour
    Every other numeric vector with one value per frame, under its name.
Cell positions
    A variable with one row per neuron and 2 or 3 columns whose name contains
    ``coord``, ``centroid``, ``centre``/``center``, ``pos`` or ``xy`` is kept
    as ``metadata["centroids_xy"]`` (columns x, y[, z] in image pixels, the
    MATLAB convention) and shown as points.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from src_models.readers.sidecars import read_sidecars, resolve_fs
from src_models.errors import CalmError
from src_models.recording import Recording

RATE_NAMES = {
    "fs", "frame_rate", "framerate", "fps", "sampling_rate", "samplingrate",
    "sample_rate", "samplerate", "imaging_rate", "acquisition_rate",
}
PERIOD_NAMES = {"dt", "frame_period", "frameperiod", "frame_time"}
_POSITION = re.compile(r"coord|centroid|centre|center|pos|xy", re.IGNORECASE)


@dataclass
class _Var:
    """One numeric MATLAB variable: its MATLAB shape, dtype and how to read it."""

    shape: tuple[int, ...]
    dtype: np.dtype
    load: Callable[[], np.ndarray]

    @property
    def size(self) -> int:
        return int(np.prod(self.shape))


def _catalog_v5(path: Path) -> dict[str, _Var]:
    import scipy.io

    try:
        content = scipy.io.loadmat(path, simplify_cells=True)
    except NotImplementedError:
        raise CalmError("unsupported MATLAB file version", path) from None
    except Exception as exc:  # scipy raises ValueError, TypeError, MatReadError ... on bad files
        raise CalmError(f"not a readable MATLAB file ({type(exc).__name__}: {exc})", path) from None
    out: dict[str, _Var] = {}

    def walk(prefix: str, obj: Any, depth: int) -> None:
        if isinstance(obj, dict) and depth < 4:
            for k, v in obj.items():
                if not k.startswith("__"):
                    walk(f"{prefix}{k}" if not prefix else f"{prefix}.{k}", v, depth + 1)
        elif isinstance(obj, (int, float, np.number)) and not isinstance(obj, (bool, np.bool_)):
            arr = np.asarray(obj, np.float64)
            out[prefix] = _Var((), arr.dtype, lambda a=arr: a)
        elif isinstance(obj, np.ndarray) and obj.dtype.kind in "fiu":
            out[prefix] = _Var(obj.shape, obj.dtype, lambda a=obj: a)

    walk("", content, 0)
    return out


def _catalog_v73(path: Path) -> tuple[dict[str, _Var], Any]:
    import h5py

    out: dict[str, _Var] = {}
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise CalmError(f"not a readable MATLAB v7.3 file ({exc})", path) from None

    def visit(name: str, obj: Any) -> None:
        if name.startswith("#") or not isinstance(obj, h5py.Dataset):
            return
        cls = obj.attrs.get("MATLAB_class", b"double")
        cls = cls.decode() if isinstance(cls, bytes) else str(cls)
        if obj.dtype.kind not in "fiu" or cls in ("char", "logical", "cell"):
            return
        shape = tuple(int(s) for s in obj.shape[::-1])  # MATLAB is column-major
        squeezed = tuple(s for s in shape if s != 1)
        out[name.replace("/", ".")] = _Var(
            squeezed, obj.dtype, lambda d=obj: np.asarray(d[()]).T.reshape(squeezed)
        )

    try:
        f.visititems(visit)
    except (OSError, RuntimeError, KeyError) as exc:
        f.close()
        raise CalmError(f"corrupt MATLAB v7.3 file ({exc})", path) from None
    return out, f


def _catalog(path: Path) -> tuple[dict[str, _Var], Any]:
    """Numeric variables of the file, and the open HDF5 file to close (``None`` for v5)."""
    import h5py

    return _catalog_v73(path) if h5py.is_hdf5(path) else (_catalog_v5(path), None)


def _choose_traces(cat: dict[str, _Var], var: str | None, path: Path) -> str:
    if var is not None:
        if var not in cat:
            raise CalmError(f"no numeric variable {var!r} (numeric variables: {sorted(cat)})", path)
        if len(cat[var].shape) != 2:
            raise CalmError(f"variable {var!r} has shape {cat[var].shape}; traces must be 2-D", path)
        return var
    cands = [
        k for k, v in cat.items() if len(v.shape) == 2 and min(v.shape) > 1 and v.dtype.kind == "f"
    ]
    if not cands:
        raise CalmError(
            f"no 2-D floating-point matrix to read as traces (numeric variables: {sorted(cat)}); "
            "name one with --var",
            path,
        )
    best = max(cat[k].size for k in cands)
    top = [k for k in cands if cat[k].size == best]
    if len(top) > 1:
        raise CalmError(f"several equally large matrices {sorted(top)}; choose one with --var", path)
    return top[0]


def _scalar(v: _Var) -> float | None:
    if v.size != 1:
        return None
    value = np.asarray(v.load()).ravel()[0]
    return value if np.asarray(value).dtype.kind in "iuf" else None


def _frame_rate(cat: dict[str, _Var]) -> tuple[float, str] | None:
    for name, v in sorted(cat.items()):
        leaf = name.rsplit(".", 1)[-1].lower()
        if leaf in RATE_NAMES and (value := _scalar(v)) is not None:
            return value, name
        if leaf in PERIOD_NAMES and (value := _scalar(v)) is not None:
            return (1.0 / value if value else float("inf")), name
    return None


def read_mat(path: str | Path, *, var: str | None = None, fs: float | None = None) -> Recording:
    """Read traces (and frame rate, behaviour, cell positions) from a MATLAB file.

    Parameters
    ----------
    path : str or Path
        The ``.mat`` file.
    var : str, optional
        Variable holding the traces (``struct.field`` for struct members).
    fs : float, optional
        Frame rate in Hz (overrides the file).

    Returns
    -------
    Recording
        ``kind='mat'``.
    """
    path = Path(path)
    cat, h5file = _catalog(path)
    try:
        return _read(path, cat, var, fs)
    except OSError as exc:
        raise CalmError(f"could not read MATLAB data ({exc})", path) from None
    finally:
        if h5file is not None:
            h5file.close()


def _read(path: Path, cat: dict[str, _Var], var: str | None, fs: float | None) -> Recording:
    name = _choose_traces(cat, var, path)
    traces = np.asarray(cat[name].load())
    if traces.dtype.kind not in "fiu":
        raise CalmError(f"variable {name!r} is not numeric", path)
    transposed = traces.shape[0] > traces.shape[1]
    if transposed:
        traces = traces.T
    n, t = traces.shape
    metadata: dict[str, Any] = {"traces_variable": name, "transposed": bool(transposed)}
    rate = _frame_rate(cat)
    behavior: dict[str, np.ndarray] = {}
    for k, v in cat.items():
        if k == name or (rate and k == rate[1]):
            continue
        if len(v.shape) == 1 and v.shape[0] == t and t > 1:
            behavior[k] = np.asarray(v.load(), np.float64).ravel()
        elif (
            len(v.shape) == 2
            and v.shape[0] == n
            and v.shape[1] in (2, 3)
            and _POSITION.search(k)
            and "centroids_xy" not in metadata
        ):
            metadata["centroids_xy"] = np.asarray(v.load(), np.float64)
            metadata["centroids_variable"] = k
    side = read_sidecars([path.parent], t)
    fs_value, fs_info = resolve_fs(fs, side.fs, rate[0] if rate else None, path)
    metadata.update(fs_info)
    if rate:
        metadata["fs_variable"] = rate[1]
    metadata = side.merged_metadata(metadata)
    return Recording(
        F=np.asarray(traces, np.float32),
        fs=fs_value,
        source=path,
        kind="mat",
        behavior={**side.behavior, **behavior},
        trials=side.trials,
        metadata=metadata,
    )
