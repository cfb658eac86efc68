"""Neuron inspector driven by real events: ROI clicks in the canvas, keys, list and spin box."""

from __future__ import annotations

import numpy as np
import pytest
from qtpy.QtCore import Qt
from test_gui_support import canvas_point, roi_center, wait_idle

pytest_plugins = ["test_gui_support"]
pytestmark = pytest.mark.gui


def test_clicking_an_roi_shows_that_neuron(calm_viewer, qtbot):
    viewer, widgets = calm_viewer
    inspector = widgets["Neuron inspector"]
    state = inspector.state
    rec = state.recording
    neuron = 17
    row, col = roi_center(rec, neuron)
    canvas = viewer.window._qt_viewer.canvas.native
    qtbot.mouseClick(canvas, Qt.MouseButton.LeftButton, pos=canvas_point(viewer, row, col))
    qtbot.waitUntil(lambda: state.current == neuron, timeout=3000)
    assert state.selected == (neuron,)
    assert inspector.spin.value() == neuron
    assert f"neuron {neuron}" in inspector.title.text()
    assert inspector.neuron_list.item(neuron).isSelected()
    z = inspector.canvas.raw_line.get_ydata()
    assert len(z) > 0 and np.nanmax(z) == pytest.approx(1.0)
    # the ROI is outlined in the selection layer, and only that ROI
    outline = viewer.layers["CalM selection"]
    qtbot.waitUntil(lambda: bool(outline.data[int(row), int(col)]), timeout=3000)
    assert set(np.unique(rec.rois.label_image()[outline.data > 0])) == {neuron + 1}

    # shift-click adds a second ROI; clicking background changes nothing
    other = 3
    r2, c2 = roi_center(rec, other)
    qtbot.mouseClick(
        canvas,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.ShiftModifier,
        pos=canvas_point(viewer, r2, c2),
    )
    qtbot.waitUntil(lambda: state.selected == (neuron, other), timeout=3000)
    background = np.argwhere(rec.rois.label_image() == 0)[0]
    qtbot.mouseClick(canvas, Qt.MouseButton.LeftButton, pos=canvas_point(viewer, *background))
    assert state.selected == (neuron, other)


def test_a_drag_pans_without_selecting(calm_viewer, qtbot):
    viewer, widgets = calm_viewer
    state = widgets["Neuron inspector"].state
    row, col = roi_center(state.recording, 9)
    canvas = viewer.window._qt_viewer.canvas.native
    start = canvas_point(viewer, row, col)
    qtbot.mousePress(canvas, Qt.MouseButton.LeftButton, pos=start)
    end = start + type(start)(40, 0)
    qtbot.mouseMove(canvas, end)
    qtbot.mouseRelease(canvas, Qt.MouseButton.LeftButton, pos=end)
    assert state.current == 0


def test_keys_spin_box_and_list_choose_the_neuron(calm_viewer, qtbot):
    viewer, widgets = calm_viewer
    inspector = widgets["Neuron inspector"]
    state = inspector.state
    canvas = viewer.window._qt_viewer.canvas.native
    canvas.setFocus()
    qtbot.keyClick(canvas, Qt.Key.Key_Right, Qt.KeyboardModifier.AltModifier)
    qtbot.waitUntil(lambda: state.current == 1, timeout=3000)
    qtbot.keyClick(canvas, Qt.Key.Key_Left, Qt.KeyboardModifier.AltModifier)
    qtbot.keyClick(canvas, Qt.Key.Key_Left, Qt.KeyboardModifier.AltModifier)
    qtbot.waitUntil(lambda: state.current == state.n_neurons - 1, timeout=3000)

    inspector.spin.setValue(5)
    assert state.current == 5
    qtbot.mouseClick(inspector.next_button, Qt.MouseButton.LeftButton)
    assert state.current == 6
    item = inspector.neuron_list.item(12)
    rect = inspector.neuron_list.visualItemRect(item)
    inspector.neuron_list.scrollToItem(item)
    rect = inspector.neuron_list.visualItemRect(item)
    qtbot.mouseClick(
        inspector.neuron_list.viewport(), Qt.MouseButton.LeftButton, pos=rect.center()
    )
    assert state.current == 12


def test_tokens_fill_the_strip_and_the_codebook_atlas(calm_viewer, qtbot):
    viewer, widgets = calm_viewer
    recording_dock, inspector = widgets["Recording & model"], widgets["Neuron inspector"]
    state = inspector.state
    qtbot.mouseClick(recording_dock.tokenize_button, Qt.MouseButton.LeftButton)
    wait_idle(qtbot, recording_dock.jobs)
    assert recording_dock.jobs.last_error == ""
    tokens = state.tokens
    assert tokens.tokens.shape[0] == state.n_neurons
    assert tokens.recon.shape == state.recording.F.shape
    assert tokens.codebook.shape == (tokens.codebook_size, tokens.patch_len)
    state.select([4])
    strip = inspector.canvas.token_image.get_array()
    assert strip.shape == (1, tokens.tokens.shape[1])
    np.testing.assert_array_equal(strip[0], tokens.tokens[4] % 20)
    used = len(np.unique(tokens.tokens[4]))
    x = inspector.canvas.atlas_used.get_xdata()
    assert np.isnan(x).sum() == used  # one NaN-terminated waveform per distinct code
    assert "tokens ✓" in recording_dock.cache_label.text()


def test_plots_follow_the_theme_and_idle_while_hidden(calm_viewer, qtbot):
    from matplotlib.colors import to_hex
    from napari.utils.theme import get_theme

    viewer, widgets = calm_viewer
    inspector, forecast = widgets["Neuron inspector"], widgets["Forecast"]
    inspector.parent().raise_()
    qtbot.waitUntil(inspector.canvas.on_screen, timeout=3000)
    try:
        viewer.theme = "light"
        qtbot.wait(200)  # the new style sheet re-lays out the docks
        light = get_theme("light")
        assert to_hex(inspector.canvas.figure.get_facecolor()) == light.background.as_hex()
        assert to_hex(inspector.canvas.ax_trace.xaxis.label.get_color()) == light.text.as_hex()
        # the forecast dock is hidden behind the inspector's tab: restyled, but not drawn
        assert not forecast.canvas.on_screen()
        assert to_hex(forecast.canvas.figure.get_facecolor()) == light.background.as_hex()
        drawn = forecast.canvas.draw_count
        inspector.state.select([8, 9])
        qtbot.wait(200)
        assert forecast.canvas.draw_count == drawn and forecast.canvas.dirty
        forecast.parent().raise_()
        qtbot.waitUntil(lambda: forecast.canvas.draw_count > drawn, timeout=3000)
        assert not forecast.canvas.dirty
    finally:
        viewer.theme = "dark"


def icon_lightness(action) -> float:
    """Mean lightness (0–255) of the opaque pixels of a toolbar action's icon."""
    image = action.icon().pixmap(16, 16).toImage()
    values = [
        image.pixelColor(x, y).lightness()
        for x in range(image.width())
        for y in range(image.height())
        if image.pixelColor(x, y).alpha() > 128
    ]
    return float(np.mean(values))


def test_every_plot_has_a_toolbar_whose_icons_read_in_both_themes(calm_viewer, qtbot):
    from napari_calm.widgets.plot_canvas import TOOLBAR_ACTIONS, PlotCanvas

    viewer, widgets = calm_viewer
    plots = [plot for widget in widgets.values() for plot in widget.findChildren(PlotCanvas)]
    assert len(plots) == 5  # inspector, forecast, decoding, embedding, fine-tune loss
    for plot in plots:
        named = [action.text() for action in plot.toolbar.actions() if action.text()]
        assert tuple(named) == TOOLBAR_ACTIONS
    home = plots[0].toolbar.actions()[0]
    try:
        for theme, readable in (("dark", lambda v: v > 160), ("light", lambda v: v < 96)):
            viewer.theme = theme
            qtbot.wait(100)
            assert readable(icon_lightness(home)), (theme, icon_lightness(home))
    finally:
        viewer.theme = "dark"
    # zooming a plot goes through the toolbar's navigation stack, and Home undoes it
    plot = widgets["Neuron inspector"].canvas
    limits = plot.ax_trace.get_xlim()
    plot.toolbar.push_current()
    plot.ax_trace.set_xlim(limits[0], limits[1] / 2)
    plot.toolbar.push_current()
    plot.toolbar.home()
    assert plot.ax_trace.get_xlim() == limits
