"""Readers: every supported recording format into one :class:`~src_models.recording.Recording`.

:func:`read_recording` decides by what the path is (``kind`` of the result, module):

* suite2p output — a plane folder, ``suite2p/``, a session folder, or a file inside
  a plane folder such as ``stat.npy`` (``suite2p``, :mod:`.suite2p`);
* a folder with ``traces.npy``, the CalM traces folder (``traces``, :mod:`.traces`);
* ``.npz`` in the CalM layout, or a bare 2-D ``.npy`` (``traces``, :mod:`.traces`);
* a ``.tif``/``.tiff`` movie with the ImageJ ROIs next to it, a folder holding exactly
  one TIFF, or an ImageJ ``.zip``/``.roi`` ROI set with its TIFF (``tiff``, :mod:`.tiff`);
* ``.mat``, MATLAB v5 and v7.3 (``mat``, :mod:`.matlab`);
* ``.nwb``, with pynwb installed (``nwb``, :mod:`.nwb`).

Anything unreadable raises :class:`~src_models.errors.CalmError` naming the file;
heavy modules are imported only for the format being read.
"""

from __future__ import annotations

from pathlib import Path

from src_models.readers.tiff import TIFF_SUFFIXES
from src_models.errors import CalmError
from src_models.recording import Recording

__all__ = ["read_recording", "detect_format", "SUPPORTED"]

SUPPORTED = (
    "suite2p folder, CalM traces folder (traces.npy), .npz, .npy, .tif/.tiff, "
    "ImageJ .zip/.roi, .mat, .nwb"
)


def _single_tiff(folder: Path) -> Path | None:
    """The TIFF of a folder that holds exactly one."""
    tiffs = [p for p in folder.iterdir() if p.suffix.lower() in TIFF_SUFFIXES and p.is_file()]
    return tiffs[0] if len(tiffs) == 1 else None


def detect_format(path: str | Path) -> str | None:
    """Which reader handles ``path`` (cheap: looks at names, not contents).

    Returns
    -------
    str or None
        ``suite2p``, ``traces_folder``, ``tiff_folder``, ``npz``, ``npy``, ``tiff``,
        ``imagej_rois``, ``mat``, ``nwb``, or ``None`` when nothing applies.
    """
    from src_models.readers.suite2p import find_plane_folders

    path = Path(path)
    if path.is_dir():
        if (path / "traces.npy").is_file():
            return "traces_folder"
        if find_plane_folders(path):
            return "suite2p"
        return "tiff_folder" if _single_tiff(path) is not None else None
    if not path.is_file():
        return None
    suffix = path.suffix.lower()
    if suffix == ".npy" or path.name == "data.bin":
        if path.name == "traces.npy":
            return "traces_folder"
        if find_plane_folders(path.parent):
            return "suite2p"
        return "npy" if suffix == ".npy" else None
    return {
        ".npz": "npz",
        ".mat": "mat",
        ".nwb": "nwb",
        ".zip": "imagej_rois",
        ".roi": "imagej_rois",
        **{s: "tiff" for s in TIFF_SUFFIXES},
    }.get(suffix)


def read_recording(
    path: str | Path,
    *,
    var: str | None = None,
    only_cells: bool = True,
    fs: float | None = None,
    rois: str | Path | None = None,
) -> Recording:
    """Read any supported recording.

    Parameters
    ----------
    path : str or Path
        File or folder (see the table in the module docstring).
    var : str, optional
        For ``.mat``: the variable holding the traces; for ``.nwb``: the
        ``RoiResponseSeries`` name.
    only_cells : bool
        suite2p: keep only ROIs classified as cells.
    fs : float, optional
        Frame rate in Hz; overrides whatever the files say.
    rois : str or Path, optional
        TIFF: an ImageJ ROI set to use instead of the one found next to it.

    Returns
    -------
    Recording

    Raises
    ------
    CalmError
        Missing path, unknown format, or a file that cannot be read.
    """
    path = Path(path).expanduser()
    if not path.exists():
        raise CalmError("no such file or folder", path)
    kind = detect_format(path)
    if kind is None:
        what = "folder" if path.is_dir() else "file type"
        raise CalmError(f"unknown {what}; napari-calm reads {SUPPORTED}", path)
    if kind == "suite2p":
        from src_models.readers.suite2p import read_suite2p

        return read_suite2p(path, only_cells=only_cells, fs=fs)
    if kind in ("traces_folder", "npz", "npy"):
        from src_models.readers import traces

        reader = {"traces_folder": traces.read_traces_folder, "npz": traces.read_npz}
        return reader.get(kind, traces.read_npy_traces)(path, fs=fs)
    if kind in ("tiff", "tiff_folder", "imagej_rois"):
        from src_models.readers.tiff import find_tiff_for_rois, read_tiff

        if kind == "imagej_rois":
            return read_tiff(find_tiff_for_rois(path), fs=fs, rois=path)
        return read_tiff(path if kind == "tiff" else _single_tiff(path), fs=fs, rois=rois)
    if kind == "mat":
        from src_models.readers.matlab import read_mat

        return read_mat(path, var=var, fs=fs)
    from src_models.readers.nwb import read_nwb

    return read_nwb(path, var=var, fs=fs)
