"""Locate the shipped ``resources/`` folder (weights, configs) in editable and wheel installs."""

from __future__ import annotations

from pathlib import Path

_HERE = Path(__file__).resolve().parent


def resources_dir() -> Path:
    """``napari_calm/resources`` inside a wheel, else ``<repo>/resources`` next to the package."""
    for candidate in (_HERE / "resources", _HERE.parent / "resources"):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError("napari-calm resources folder is missing from this installation")


def resource(*parts: str) -> Path:
    """Path of a file or folder under ``resources/``."""
    return resources_dir().joinpath(*parts)


def cache_dir() -> Path:
    """A writable per-user folder for generated data (the demo recording) and caches."""
    import os

    root = Path(os.environ.get("NAPARI_CALM_CACHE", Path.home() / ".cache" / "napari-calm"))
    root.mkdir(parents=True, exist_ok=True)
    return root
