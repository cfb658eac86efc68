"""Fixtures and helpers shared by the GUI tests (``test_gui_*.py``); this module holds no tests.

Test modules load it as a plugin (``pytest_plugins = ["test_gui_support"]``), which
registers its fixtures, and import its helpers. The docks of one
test module share one viewer (:func:`calm_window`), which keeps the GUI suite
fast; :func:`calm_viewer` resets the selection and the view for each test.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

#: Size of the simulated session the GUI tests open (small: every job takes seconds).
SESSION_NEURONS = 40
SESSION_FRAMES = 600


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An untrained tiny CalM (``src_models.dat.tiny``) saved as a checkpoint folder."""
    from src_models.dat.calm import save_calm
    from src_models.dat.tiny import tiny_calm

    return save_calm(tiny_calm(), tmp_path_factory.mktemp("ckpt") / "tiny")


@pytest.fixture(scope="session")
def small_session(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small simulated session (movie, ROIs, behaviour, trials) in the suite2p layout."""
    from src_models.simulation import simulate, write_session

    (session,) = simulate("demo", seed=0, n_neurons=SESSION_NEURONS, n_frames=SESSION_FRAMES)
    return write_session(session, tmp_path_factory.mktemp("session") / "small")


@pytest.fixture(scope="module")
def calm_window(
    qapp: Any, tiny_checkpoint: Path, small_session: Path, tmp_path_factory: pytest.TempPathFactory
) -> Any:
    """One shown viewer per test module with the six docks (as ``calm view`` lays them out).

    Fine-tune runs go to a temporary runs folder (never the user's cache).
    """
    import napari

    from napari_calm.cli.view import show
    from src_models.readers import read_recording
    from napari_calm.state import get_state

    viewer = napari.Viewer(show=True)
    get_state(viewer).runs_dir = str(tmp_path_factory.mktemp("runs"))
    widgets = show(viewer, read_recording(small_session), str(tiny_checkpoint))
    yield viewer, widgets
    for widget in widgets.values():
        jobs = getattr(widget, "jobs", None)
        if jobs is not None and jobs.busy:
            jobs.cancel()
            wait_idle_blocking(jobs)
    viewer.close()
    import gc

    from qtpy.QtWidgets import QApplication

    QApplication.processEvents()
    gc.collect()


@pytest.fixture
def calm_viewer(calm_window: Any) -> tuple[Any, dict[str, Any]]:
    """The module's viewer and docks, with neuron 0 selected and a plain 2-D view."""
    viewer, widgets = calm_window
    widgets["Neuron inspector"].state.select([0])
    viewer.reset_view()
    return viewer, widgets


def wait_idle_blocking(panel: Any, timeout_s: float = 60.0) -> None:
    """Process events until ``panel`` has no running job (for fixture teardown, without qtbot)."""
    import time

    from qtpy.QtWidgets import QApplication

    end = time.monotonic() + timeout_s
    while panel.busy and time.monotonic() < end:
        QApplication.processEvents()
        time.sleep(0.01)


def wait_idle(qtbot: Any, panel: Any, timeout_s: float = 60.0) -> None:
    """Wait until a dock's :class:`~napari_calm.widgets.job_panel.JobPanel` has no running job."""
    qtbot.waitUntil(lambda: not panel.busy, timeout=int(timeout_s * 1000))


def canvas_point(viewer: Any, row: float, col: float) -> Any:
    """The viewer-canvas pixel (``QPoint``) showing world position ``(row, col)`` in 2-D view."""
    from qtpy.QtCore import QPoint

    canvas = viewer.window._qt_viewer.canvas
    x, y = canvas.view.scene.transform.map([col, row, 0, 1])[:2]
    return QPoint(int(round(x)), int(round(y)))


def roi_center(recording: Any, neuron: int) -> tuple[float, float]:
    """A pixel of ``neuron``'s ROI that no other ROI paints (the one nearest its centre)."""
    labels = recording.rois.label_image()
    pixels = np.argwhere(labels == neuron + 1)
    centre = pixels.mean(axis=0)
    row, col = pixels[np.argmin(((pixels - centre) ** 2).sum(axis=1))]
    return float(row), float(col)
