"""Lazy array-likes for movies that cannot be one ``numpy.memmap``.

Both classes have ``shape``, ``dtype``, ``ndim`` and ``__getitem__`` (basic
indexing: integers, slices, ``...``; integer arrays along one axis), which is
what napari and the chunked ROI-trace extraction need. Nothing is read until a
frame is indexed.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np

from src_models.errors import CalmError


def normalize_key(key: Any, ndim: int) -> tuple[Any, ...]:
    """Expand ``key`` to one entry per axis (``...`` and missing axes become ``slice(None)``)."""
    if not isinstance(key, tuple):
        key = (key,)
    if any(k is None for k in key):
        raise IndexError("new axes (None) are not supported by lazy movies")
    n_ellipsis = sum(k is Ellipsis for k in key)
    if n_ellipsis > 1:
        raise IndexError("an index can only have a single ellipsis")
    if n_ellipsis:
        i = next(j for j, k in enumerate(key) if k is Ellipsis)
        fill = (slice(None),) * (ndim - len(key) + 1)
        key = key[:i] + fill + key[i + 1 :]
    if len(key) > ndim:
        raise IndexError(f"too many indices for an array of {ndim} dimensions")
    return key + (slice(None),) * (ndim - len(key))


@contextmanager
def quiet_tifffile() -> Iterator[None]:
    """Silence tifffile's log messages (problems surface as exceptions instead)."""
    log = logging.getLogger("tifffile")
    level = log.level
    log.setLevel(logging.CRITICAL + 1)
    try:
        yield
    finally:
        log.setLevel(level)


class _LazyMovie:
    """``size``, ``len`` and numpy conversion from ``shape`` and ``__getitem__``."""

    shape: tuple[int, ...]

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    def __getitem__(self, key: Any) -> np.ndarray:
        raise NotImplementedError

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        out = self[...]
        return out if dtype is None else out.astype(dtype)

    def __len__(self) -> int:
        return self.shape[0]


class TiffPageArray(_LazyMovie):
    """A TIFF series read page by page on demand.

    Parameters
    ----------
    tif : tifffile.TiffFile
        The open file (kept open for the life of this object).
    series : int
        Index of the series in ``tif.series``.
    table : ndarray of int
        Page index (within the series) of every leading position, e.g. shape
        ``(T,)`` or ``(T, Z)``; channel selection and axis order are encoded here.
    page_shape : tuple of int
        Shape of one page as tifffile returns it (``(Y, X)`` or ``(Y, X, S)``).
    dtype : numpy dtype
        Pixel type.
    """

    def __init__(
        self, tif: Any, series: int, table: np.ndarray, page_shape: tuple[int, ...], dtype: Any
    ) -> None:
        self._tif = tif
        self._series = series
        self._table = np.asarray(table, np.int64)
        self._page_shape = tuple(page_shape)
        self._lock = threading.Lock()
        self.dtype = np.dtype(dtype)
        self.shape = tuple(self._table.shape) + tuple(self._page_shape[:2])
        self.ndim = len(self.shape)

    def _read_pages(self, pages: Sequence[int]) -> np.ndarray:
        try:
            with self._lock, quiet_tifffile():
                data = self._tif.asarray(key=list(pages), series=self._series, maxworkers=1)
        except Exception as exc:  # tifffile raises many types for a corrupt page
            raise CalmError(
                f"corrupt TIFF page among frames {pages[0]}..{pages[-1]} ({type(exc).__name__})",
                self._tif.filehandle.path,
            ) from None
        data = np.asarray(data).reshape((len(pages),) + self._page_shape)
        if len(self._page_shape) == 3:  # samples per pixel: first sample
            data = data[..., 0]
        return data

    def __getitem__(self, key: Any) -> np.ndarray:
        key = normalize_key(key, self.ndim)
        lead, spatial = key[: self._table.ndim], key[self._table.ndim :]
        sub = self._table[lead]
        flat = np.asarray(sub).ravel()
        if flat.size:
            data = self._read_pages(flat.tolist())
        else:
            data = np.empty((0,) + self._page_shape[:2], self.dtype)
        data = data.reshape(np.shape(sub) + self._page_shape[:2])
        return data[(Ellipsis,) + spatial]

    def __repr__(self) -> str:
        return f"TiffPageArray(shape={self.shape}, dtype={self.dtype}, file={self._tif.filename!r})"

    def close(self) -> None:
        """Close the underlying TIFF file."""
        self._tif.close()


class PlaneStack(_LazyMovie):
    """Several ``(T, Y, X)`` plane movies seen as one ``(T, Z, Y, X)`` movie.

    Parameters
    ----------
    planes : list of array-like
        One movie per plane, all with the same shape and dtype.
    """

    def __init__(self, planes: Sequence[Any]) -> None:
        shapes = {tuple(p.shape) for p in planes}
        if len(shapes) != 1:
            raise ValueError(f"planes differ in shape: {sorted(shapes)}")
        self._planes = list(planes)
        t, y, x = shapes.pop()
        self.shape = (t, len(self._planes), y, x)
        self.dtype = np.dtype(planes[0].dtype)
        self.ndim = 4

    def __getitem__(self, key: Any) -> np.ndarray:
        t, z, y, x = normalize_key(key, 4)
        if isinstance(z, (int, np.integer)):
            return np.asarray(self._planes[int(z)][t, y, x])
        zs = range(len(self._planes))[z] if isinstance(z, slice) else np.asarray(z).ravel()
        parts = [np.asarray(self._planes[int(i)][t, y, x]) for i in zs]
        axis = 0 if isinstance(t, (int, np.integer)) else 1
        if not parts:
            probe = np.asarray(self._planes[0][t, y, x])
            return np.empty(probe.shape[:axis] + (0,) + probe.shape[axis:], self.dtype)
        return np.stack(parts, axis=axis)

    def __repr__(self) -> str:
        return f"PlaneStack(shape={self.shape}, dtype={self.dtype})"
