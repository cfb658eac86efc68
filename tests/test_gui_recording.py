"""Recording & model dock and ``calm view``: opening files, bad files, checkpoints, cancel."""

from __future__ import annotations

import sys

import pytest
from qtpy.QtCore import Qt
from test_gui_support import wait_idle

pytest_plugins = ["test_gui_support"]


@pytest.mark.gui
def test_a_bad_file_in_the_open_dialog_shows_the_error_and_nothing_breaks(
    calm_viewer, qtbot, monkeypatch, tmp_path, small_session
):
    from qtpy.QtWidgets import QFileDialog

    viewer, widgets = calm_viewer
    dock = widgets["Recording & model"]
    state = dock.state
    before_layers = [layer.name for layer in viewer.layers]
    before_recording = state.recording
    bad = tmp_path / "broken.npz"
    bad.write_bytes(b"this is not a zip archive")
    shown = []
    monkeypatch.setattr("napari.utils.notifications.show_error", shown.append)
    monkeypatch.setattr(
        QFileDialog, "getOpenFileName", staticmethod(lambda *a, **k: (str(bad), ""))
    )
    qtbot.mouseClick(dock.file_button, Qt.MouseButton.LeftButton)
    wait_idle(qtbot, dock.jobs)
    assert len(shown) == 1
    assert "broken.npz" in shown[0] and "\n" not in shown[0] and "Traceback" not in shown[0]
    assert dock.jobs.status.text().startswith("failed:")
    # nothing changed, and the dock still opens a good recording
    assert [layer.name for layer in viewer.layers] == before_layers
    assert state.recording is before_recording
    monkeypatch.setattr(
        QFileDialog, "getExistingDirectory", staticmethod(lambda *a, **k: str(small_session))
    )
    qtbot.mouseClick(dock.folder_button, Qt.MouseButton.LeftButton)
    wait_idle(qtbot, dock.jobs)
    assert dock.jobs.last_error == ""
    assert state.recording is not before_recording and state.recording.n_neurons > 0
    assert state.find_labels(viewer) is not None
    # the previous recording's layers were replaced (same names: the same session folder)
    qtbot.waitUntil(lambda: [layer.name for layer in viewer.layers] == before_layers, timeout=3000)
    assert "neurons" in dock.summary.text()


@pytest.mark.gui
def test_checkpoints_device_and_a_cancelled_tokenization(calm_viewer, qtbot, tiny_checkpoint):
    from napari_calm.resources import resource

    viewer, widgets = calm_viewer
    dock = widgets["Recording & model"]
    state = dock.state
    paths = dock.checkpoint_paths()
    assert paths[0] == str(resource("weights", "calm"))  # the shipped model is always listed first
    assert state.checkpoint == str(tiny_checkpoint.resolve())
    assert dock.device_combo.currentData() == state.device
    assert dock.device_combo.currentText().startswith(("CPU", "GPU"))
    state.tokens = None
    dock.tokenize()
    assert dock.jobs.busy
    dock.jobs.cancel()
    wait_idle(qtbot, dock.jobs)
    assert dock.jobs.cancelled and state.tokens is None
    assert dock.jobs.status.text().endswith("cancelled")
    assert dock.tokenize_button.isEnabled()


def test_calm_view_with_a_bad_path_exits_2_before_any_window(tmp_path):
    """Run without any display: reaching napari's window would abort, not exit with status 2."""
    import os
    import subprocess

    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")
    }
    bad = tmp_path / "missing.npz"
    proc = subprocess.run(
        [sys.executable, "-m", "napari_calm.cli.main", "view", str(bad)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith("error: ") and "missing.npz" in proc.stderr
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
