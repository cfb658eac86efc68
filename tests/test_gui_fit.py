"""The window with every CalM dock fits a laptop and a full-HD screen; fields and status lines."""

from __future__ import annotations

import time

import numpy as np
import pytest

pytestmark = pytest.mark.gui

SCREENS = [(1366, 768), (1920, 1080)]
#: Smallest width and height (pixels) of a plot's visible part.
MIN_PLOT = 150


def pump(seconds: float) -> None:
    from qtpy.QtWidgets import QApplication

    end = time.monotonic() + seconds
    while time.monotonic() < end:
        QApplication.processEvents()
        time.sleep(0.01)


@pytest.fixture
def viewer(qapp):
    import napari

    viewer = napari.Viewer(show=True)
    yield viewer
    viewer.close()


def fits(window, size) -> bool:
    hint = window.minimumSizeHint().expandedTo(window.minimumSize())
    return hint.width() <= size[0] and hint.height() <= size[1]


@pytest.mark.parametrize("size", SCREENS, ids=lambda s: f"{s[0]}x{s[1]}")
def test_every_dock_fits_and_every_plot_shows(viewer, size, tmp_path):
    from napari_calm.cli.view import show
    from napari_calm.demo import demo_path
    from napari_calm.widgets.plot_canvas import PlotCanvas
    from src_models.readers import read_recording

    window = viewer.window._qt_window
    window.resize(*size)
    docks = show(viewer, read_recording(demo_path()))
    pump(1.0)
    assert window.width() <= size[0] and window.height() <= size[1]
    assert fits(window, size), window.minimumSizeHint()
    assert not docks["Neuron inspector"].canvas.canvas.visibleRegion().isEmpty()  # in front
    for name, widget in docks.items():
        widget.parent().raise_()
        pump(0.3)
        plots = widget.findChildren(PlotCanvas)
        assert plots or not widget.summary.visibleRegion().isEmpty(), name
        for plot in plots:
            seen = plot.canvas.visibleRegion().boundingRect()
            assert seen.width() >= MIN_PLOT and seen.height() >= MIN_PLOT, (name, seen)
        window.grab().save(str(tmp_path / f"{name.split()[0].lower()}_{size[0]}.png"))

    # the Extract ROIs box neither raises the minimum size nor keeps it raised
    recording = docks["Recording & model"]
    recording.parent().raise_()
    before = window.minimumSizeHint()
    box = recording.extract_panel.parent()
    box.setChecked(True)
    pump(0.3)
    assert fits(window, size) and window.minimumSizeHint().height() <= before.height()
    box.setChecked(False)
    pump(0.3)
    assert window.minimumSizeHint() == before


def test_plugins_menu_docks_join_one_tab_group(viewer):
    from qtpy.QtWidgets import QDockWidget

    from napari_calm.cli.view import DOCKS

    window = viewer.window._qt_window
    window.resize(*SCREENS[0])
    for name, _, _ in DOCKS:
        viewer.window.add_plugin_dock_widget("napari-calm", name)
    viewer.open_sample("napari-calm", "demo")
    pump(1.0)
    calm = [d for d in window.findChildren(QDockWidget) if "napari-calm" in d.objectName()]
    assert len(calm) == len(DOCKS)
    assert len(window.tabifiedDockWidgets(calm[0])) == len(DOCKS) - 1
    assert fits(window, SCREENS[0]), window.minimumSizeHint()


def test_frame_rate_field_reprepares_the_recording(viewer, tmp_path):
    from napari_calm.state import RECORDING_KEY, get_state
    from napari_calm.widgets.recording_dock import RecordingDock
    from src_models.readers import read_recording

    folder = tmp_path / "rec"
    folder.mkdir()
    np.save(folder / "traces.npy", np.random.default_rng(0).normal(size=(5, 200)).astype("f4"))
    dock = RecordingDock(viewer)
    state = get_state(viewer)
    dock.show_recording(read_recording(folder))
    old = state.recording
    assert dock.fs_spin.value() == 10.0 and "assumed" in dock.fs_note.text()
    state.decoding = object()  # a cached result of the old rate
    dock.fs_spin.setValue(2.2)
    new = state.recording
    assert new is not old and new.fs == 2.2 and new.metadata["fs_assumed"] is False
    assert state.decoding is None and "assumed" not in dock.fs_note.text()
    assert viewer.layers and all(layer.metadata[RECORDING_KEY] is new for layer in viewer.layers)
    assert dock.extract_panel.settings().fs == 2.2  # extraction uses the rate set here


def test_status_says_cancelled_after_cancel(qtbot):
    import threading

    from napari.qt.threading import thread_worker

    from napari_calm.widgets.job_panel import JobPanel
    from napari_calm.workers import FinetuneOutcome, Progress

    panel = JobPanel()
    qtbot.addWidget(panel)
    cancel = threading.Event()

    @thread_worker(start_thread=False, ignore_errors=True)
    def steps():
        for step in range(1000):
            if cancel.is_set():  # stops early, like fine-tuning: a result, not an exception
                return FinetuneOutcome(None, "run", True, step, 1000, None)
            yield Progress(step, 1000, f"step {step}")
            time.sleep(0.01)
        return FinetuneOutcome(None, "run", False, 1000, 1000, None)

    worker = steps()
    worker.cancel_event = cancel
    panel.start(worker, on_result=lambda _: None, label="fine-tuning")
    qtbot.waitUntil(lambda: panel.bar.value() > 2, timeout=10_000)
    panel.cancel_button.click()
    qtbot.waitUntil(lambda: not panel.busy, timeout=10_000)
    assert panel.cancelled and panel.status.text() == "fine-tuning: cancelled"

    worker = steps()
    worker.cancel_event = cancel = threading.Event()
    panel.start(worker, on_result=lambda _: None, label="fine-tuning")
    qtbot.waitUntil(lambda: not panel.busy, timeout=60_000)
    assert not panel.cancelled and panel.status.text() == "fine-tuning: done"


def test_selected_cells_are_ringed_without_masks(viewer, qtbot, tmp_path):
    from napari_calm.state import get_state
    from napari_calm.widgets.recording_dock import RecordingDock
    from src_models.recording import Recording

    rng = np.random.default_rng(0)
    xy = rng.uniform(0, 100, (6, 2))
    rec = Recording(
        F=rng.normal(size=(6, 300)).astype("f4"),
        fs=2.0,
        source=tmp_path / "zf.mat",
        kind="mat",
        metadata={"centroids_xy": xy},
    )
    RecordingDock(viewer).show_recording(rec)
    state = get_state(viewer)
    cells = state.find_cells(viewer)
    assert cells is not None and len(cells.data) == 6
    state.select([2, 4])
    qtbot.waitUntil(lambda: cells.size[2] > cells.size[0], timeout=2000)
    assert cells.size[4] > cells.size[1] and cells.border_width[2] > cells.border_width[0]
    assert np.allclose(cells.border_color[2][:3], [1.0, 0xD4 / 255, 0.0])


def test_short_recording_says_it_cannot_be_forecast(viewer):
    from napari_calm.state import get_state
    from napari_calm.widgets.forecast_dock import ForecastDock
    from src_models.recording import Recording

    dock = ForecastDock(viewer)
    state = get_state(viewer)
    traces = np.random.default_rng(0).normal(size=(4, 200)).astype("f4")
    state.set_recording(Recording(F=traces, fs=2.0, source="short.npz", kind="npz"))
    assert not dock.run_button.isEnabled()
    assert dock.metrics_label.text().startswith("too short to forecast: recording has 200 frames")
    dock.form.context.value = 16
    dock.form.horizon.value = 8  # 200 frames: the last 20 % holds 16 + 8
    assert dock.run_button.isEnabled() and dock.metrics_label.text() == ""


def test_a_quiet_step_counts_its_seconds(qtbot):
    from napari.qt.threading import thread_worker

    from napari_calm.widgets.job_panel import JobPanel
    from napari_calm.workers import Progress

    @thread_worker(start_thread=False, ignore_errors=True)
    def slow():
        yield Progress(0, 1, "UMAP map")
        time.sleep(3.5)  # a step that reports nothing (UMAP's first compile)
        yield Progress(1, 1, "done")
        return 1

    panel = JobPanel()
    qtbot.addWidget(panel)
    panel.start(slow(), on_result=lambda _: None, label="UMAP map")
    qtbot.waitUntil(lambda: panel.status.text().endswith(" s)"), timeout=5000)
    assert panel.status.text().startswith("UMAP map (")
    qtbot.waitUntil(lambda: not panel.busy, timeout=10_000)
    assert panel.status.text() == "UMAP map: done"
