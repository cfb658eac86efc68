"""Forecast and decoding docks: a run started with the dock's button ends and plots its result."""

from __future__ import annotations

import numpy as np
import pytest
from qtpy.QtCore import Qt
from test_gui_support import wait_idle

pytest_plugins = ["test_gui_support"]
pytestmark = pytest.mark.gui


def test_forecast_runs_and_plots_the_selected_neurons(calm_viewer, qtbot):
    viewer, widgets = calm_viewer
    dock = widgets["Forecast"]
    state = dock.state
    state.select([2, 5])
    dock.parent().raise_()
    dock.form.context.value = 24
    dock.form.horizon.value = 8
    dock.form.samples.value = 2
    dock.form.steps.value = 2
    qtbot.mouseClick(dock.run_button, Qt.MouseButton.LeftButton)
    assert dock.jobs.busy
    wait_idle(qtbot, dock.jobs, 120)
    assert dock.jobs.last_error == ""
    result = state.forecast
    C, H = dock.form.context.value, dock.form.horizon.value
    assert result.pred.shape[1:] == (H, state.n_neurons)
    assert result.context == C and result.horizon == H
    # one panel per selected neuron plus the population panel, with context, truth, forecast, band
    axes = dock.canvas.neuron_axes
    assert len(axes) == 2
    w = dock.time_slider.value()
    lines = axes[1].get_lines()
    np.testing.assert_allclose(lines[2].get_ydata(), result.pred[w][:, 5], rtol=1e-6)
    np.testing.assert_allclose(lines[1].get_ydata(), result.true[w][:, 5], rtol=1e-6)
    assert len(lines[0].get_ydata()) == C
    assert axes[0].collections, "uncertainty band drawn"
    assert "corr" in dock.metrics_label.text() and "copy-last" in dock.metrics_label.text()
    # another time point re-plots without re-running
    dock.time_slider.setValue(0)
    assert f"window 1/{len(result.starts)}" in dock.time_label.text()
    # the selection drives the panels
    state.select([7])
    assert len(dock.canvas.neuron_axes) == 1


def test_decoding_runs_and_plots_decoded_vs_true(calm_viewer, qtbot):
    viewer, widgets = calm_viewer
    dock = widgets["Decoding"]
    state = dock.state
    dock.parent().raise_()
    dock.set_target("running_speed")
    dock.form.baselines.mlp.value = False
    dock.form.baselines.gru.value = False
    dock.form.folds.value = 3
    dock.form.shifts.value = 3
    dock.form.context.value = 8
    qtbot.mouseClick(dock.run_button, Qt.MouseButton.LeftButton)
    wait_idle(qtbot, dock.jobs, 180)
    assert dock.jobs.last_error == ""
    result = state.decoding
    assert result.target == "running_speed" and result.kind == "continuous"
    assert result.baseline_models == ["ridge"] and result.calm_models
    # decoded vs true over time: the truth and the two best models
    lines = dock.canvas.ax_time.get_lines()
    assert len(lines) == 3
    order = np.argsort(result.times)
    np.testing.assert_allclose(lines[0].get_ydata(), np.asarray(result.true, float)[order])
    # one score bar per model, and the score line names CalM, the baseline and chance
    assert len(dock.canvas.ax_scores.patches) == len(result.calm_models) + 1
    text = dock.score_label.text()
    assert "CalM" in text and "ridge" in text and "chance" in text


def test_a_failing_job_shows_one_line_and_the_dock_stays_usable(calm_viewer, qtbot, monkeypatch):
    viewer, widgets = calm_viewer
    dock = widgets["Forecast"]
    shown = []
    monkeypatch.setattr("napari.utils.notifications.show_error", shown.append)
    dock.form.context.value = 4000  # longer than the recording: the dock says so
    assert not dock.run_button.isEnabled()
    dock.run()  # the job refuses it too
    wait_idle(qtbot, dock.jobs)
    assert len(shown) == 1 and "\n" not in shown[0] and "frames" in shown[0]
    assert dock.jobs.status.text().startswith("failed:") and not dock.jobs.busy
    dock.form.context.value = 48
    assert dock.run_button.isEnabled()
