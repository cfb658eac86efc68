"""Safe ``.npy`` loading: numeric arrays memory-mapped, pickles through a restricted unpickler.

suite2p stores ``stat.npy`` (an object array of dicts) and ``ops.npy`` /
``settings.npy`` / ``db.npy`` (0-d object arrays holding a dict) as pickles.
These go through :class:`RestrictedUnpickler`, which admits only what numpy
needs to rebuild arrays, builtin containers and numbers, and :mod:`datetime`
values; any other global is refused before anything is called. Numeric files
are memory-mapped with ``allow_pickle=False`` once their size matches the header.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import numpy as np

from src_models.errors import CalmError

_NUMPY_CORES = ("numpy.core.multiarray", "numpy._core.multiarray")
_NUMERIC_CORES = ("numpy.core.numeric", "numpy._core.numeric")

#: (module, name) pairs a pickle may reference; everything else is refused.
ALLOWED_GLOBALS: frozenset[tuple[str, str]] = frozenset(
    [("numpy", "ndarray"), ("numpy", "dtype")]
    + [(m, n) for m in _NUMPY_CORES for n in ("_reconstruct", "scalar")]
    + [(m, "_frombuffer") for m in _NUMERIC_CORES]
    + [
        ("builtins", n)
        for n in "dict list tuple set frozenset slice complex bytearray bytes".split()
        + "str int float bool".split()
    ]
    + [("_codecs", "encode")]
    + [("datetime", n) for n in ("datetime", "date", "time", "timedelta", "timezone")]
)


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that rebuilds numpy arrays and builtin values, nothing else.

    Parameters
    ----------
    file : binary file
        Positioned at the start of the pickle stream.
    source : Path
        The file being read, named in the error message.
    """

    def __init__(self, file: Any, source: Path) -> None:
        super().__init__(file, encoding="latin1")
        self.source = source

    def find_class(self, module: str, name: str) -> Any:
        """Return an admitted global or raise :class:`CalmError`."""
        if module == "__builtin__":  # Python 2 name of builtins (protocol < 3 pickles)
            module = "builtins"
        if (module, name) not in ALLOWED_GLOBALS:
            raise CalmError(
                f"refuses to unpickle {module}.{name} (only numpy arrays and builtin types are "
                "allowed in suite2p files)",
                self.source,
            )
        return super().find_class(module, name)

    def persistent_load(self, pid: Any) -> Any:
        """Persistent ids never occur in numpy pickles; refuse them."""
        raise CalmError("refuses to unpickle a persistent reference", self.source)


def _read_header(f: Any, path: Path) -> tuple[tuple[int, ...], bool, np.dtype]:
    try:
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            return np.lib.format.read_array_header_1_0(f)
        return np.lib.format.read_array_header_2_0(f)
    except (ValueError, OSError, EOFError, SyntaxError) as exc:
        raise CalmError(f"not a valid .npy file ({exc})", path) from None


def load_npy(path: str | Path, *, allow_objects: bool = False, mmap: bool = True) -> Any:
    """Load a ``.npy`` file safely.

    Parameters
    ----------
    path : str or Path
        The file.
    allow_objects : bool
        Whether an object array (a pickle) is acceptable; it is then rebuilt
        with :class:`RestrictedUnpickler`. Otherwise such a file is refused.
    mmap : bool
        Memory-map numeric arrays read-only (``mmap_mode='r'``).

    Returns
    -------
    ndarray or object
        The array (a read-only memmap for numeric data when ``mmap``), or for a
        pickle whatever it rebuilt (an ndarray of dicts for ``stat.npy``).

    Raises
    ------
    CalmError
        Missing, truncated or corrupt file; a pickle where numbers were
        expected; a pickle referencing a refused global.
    """
    path = Path(path)
    if not path.is_file():
        raise CalmError("file not found", path)
    with open(path, "rb") as f:
        shape, _, dtype = _read_header(f, path)
        offset = f.tell()
        if dtype.hasobject:
            if not allow_objects:
                raise CalmError(
                    "holds pickled Python objects where a numeric array was expected", path
                )
            try:
                return RestrictedUnpickler(f, path).load()
            except CalmError:
                raise
            except Exception as exc:  # corrupt or truncated pickle stream
                raise CalmError(
                    f"corrupt or truncated pickle ({type(exc).__name__}: {exc})", path
                ) from None
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    available = path.stat().st_size - offset
    if available < expected:
        raise CalmError(
            f"truncated .npy: header promises {shape} {dtype} ({expected} bytes), "
            f"file holds {available} bytes of data",
            path,
        )
    try:
        use_mmap = mmap and expected > 0
        return np.load(path, mmap_mode="r" if use_mmap else None, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise CalmError(f"could not read .npy ({exc})", path) from None


def load_npy_dict(path: str | Path) -> dict[str, Any]:
    """Load a suite2p dictionary file (``ops.npy``, ``settings.npy``, ``db.npy`` ...).

    Raises
    ------
    CalmError
        When the file does not hold a dictionary.
    """
    obj = load_npy(path, allow_objects=True)
    if isinstance(obj, np.ndarray) and obj.dtype == object and obj.size == 1:
        obj = obj.reshape(()).item()
    if not isinstance(obj, dict):
        raise CalmError(f"expected a dictionary, found {type(obj).__name__}", path)
    return obj
