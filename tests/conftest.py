"""Shared fixtures: the real recordings in ../shared/real-data and a temp cache."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
REAL_DATA_CANDIDATES = [
    Path(os.environ["CALM_REAL_DATA"]) if os.environ.get("CALM_REAL_DATA") else None,
    REPO.parent / "shared" / "real-data",
]


@pytest.fixture(autouse=True)
def _calm_cache(tmp_path_factory, monkeypatch):
    """Generated data (the demo recording) goes to a per-session temp cache."""
    monkeypatch.setenv("NAPARI_CALM_CACHE", str(tmp_path_factory.getbasetemp() / "calm-cache"))


@pytest.fixture(scope="session")
def real_data() -> Path:
    """The folder of real recordings; skipped where absent, a failure under CI."""
    for c in REAL_DATA_CANDIDATES:
        if c is not None and c.is_dir():
            return c
    msg = "real recordings not found (../shared/real-data next to the repository, or CALM_REAL_DATA)"
    if os.environ.get("CI"):
        pytest.fail(msg)
    pytest.skip(msg)
