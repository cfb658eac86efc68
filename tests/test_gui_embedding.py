"""Embedding map with real mouse events: lasso and click select ROIs, the image selects points."""

from __future__ import annotations

import numpy as np
import pytest
from qtpy.QtCore import QPoint, Qt
from test_gui_support import wait_idle

pytest_plugins = ["test_gui_support"]
pytestmark = pytest.mark.gui


def _embedded(qtbot, widgets):
    """Embed the recording (tiny model) and show the embedding map."""
    recording_dock, emb = widgets["Recording & model"], widgets["Embedding map"]
    emb.form.method.value = "pca"  # instant (UMAP, the default, compiles for a minute)
    if emb.state.embeddings is None:
        qtbot.mouseClick(recording_dock.embed_button, Qt.MouseButton.LeftButton)
        wait_idle(qtbot, recording_dock.jobs)
        assert recording_dock.jobs.last_error == ""
    emb.parent().raise_()
    qtbot.waitUntil(emb.canvas.on_screen, timeout=3000)
    qtbot.waitUntil(lambda: emb.canvas._background is not None, timeout=5000)
    emb.canvas.draw_now()  # settle the constrained layout before mapping data to pixels
    qtbot.wait(50)
    return emb


def _widget_point(canvas, x: float, y: float) -> QPoint:
    """Qt widget coordinates of matplotlib display coordinates (bottom-left origin, pixels)."""
    ratio = canvas.canvas.devicePixelRatioF()
    return QPoint(int(round(x / ratio)), int(round(canvas.canvas.height() - y / ratio)))


def test_lasso_selects_those_rois_and_the_image_highlights_them(calm_viewer, qtbot):
    viewer, widgets = calm_viewer
    emb = _embedded(qtbot, widgets)
    state = emb.state
    xy = emb.canvas.xy
    assert xy.shape == (state.n_neurons, 2)
    # lasso (a rectangle in display space, inside the axes) around the points right of a gap in x
    disp = emb.canvas.ax.transData.transform(xy)
    xs = np.sort(disp[:, 0])
    middle = slice(len(xs) // 4, 3 * len(xs) // 4)
    gaps = np.diff(xs)[middle]
    k = int(np.argmax(gaps)) + len(xs) // 4
    cut = (xs[k] + xs[k + 1]) / 2
    box = emb.canvas.ax.bbox
    lo, hi = (box.x0 + 3, box.y0 + 3), (box.x1 - 3, box.y1 - 3)
    corners = [(cut, lo[1]), (hi[0], lo[1]), (hi[0], hi[1]), (cut, hi[1]), (cut, lo[1] + 1)]
    expected = set(np.flatnonzero(disp[:, 0] > cut).tolist())
    assert 0 < len(expected) < state.n_neurons
    widget = emb.canvas.canvas
    path = [_widget_point(emb.canvas, *c) for c in corners]
    qtbot.mousePress(widget, Qt.MouseButton.LeftButton, pos=path[0])
    for a, b in zip(path[:-1], path[1:], strict=True):
        for f in np.linspace(0, 1, 6)[1:]:
            qtbot.mouseMove(widget, a + (b - a) * f)
    qtbot.mouseRelease(widget, Qt.MouseButton.LeftButton, pos=path[-1])
    qtbot.waitUntil(lambda: set(state.selected) == expected, timeout=3000)
    # the image outlines exactly those ROIs
    outline = viewer.layers["CalM selection"]
    labels = state.recording.rois.label_image()
    wanted = {i + 1 for i in expected}
    qtbot.waitUntil(
        lambda: set(np.unique(labels[outline.data > 0]).tolist()) == wanted, timeout=3000
    )
    # the inspector follows the first selected neuron
    assert widgets["Neuron inspector"].spin.value() == state.current
    assert state.current in expected


def test_click_picks_a_point_and_the_image_selection_rings_points(calm_viewer, qtbot):
    viewer, widgets = calm_viewer
    emb = _embedded(qtbot, widgets)
    state = emb.state
    disp = emb.canvas.ax.transData.transform(emb.canvas.xy)
    # a point with no other point within the pick radius
    d = np.hypot(*(disp[:, None, :] - disp[None, :, :]).transpose(2, 0, 1))
    np.fill_diagonal(d, np.inf)
    target = int(np.argmax(d.min(axis=1)))
    qtbot.mouseClick(
        emb.canvas.canvas, Qt.MouseButton.LeftButton, pos=_widget_point(emb.canvas, *disp[target])
    )
    qtbot.waitUntil(lambda: state.selected == (target,), timeout=3000)
    # selecting in the image (or any dock) rings the points
    state.select([1, 2, 5])
    np.testing.assert_allclose(emb.canvas.rings.get_offsets(), emb.canvas.xy[[1, 2, 5]])


def test_colour_rois_by_the_feature(calm_viewer, qtbot):
    from napari.utils.colormaps import DirectLabelColormap

    viewer, widgets = calm_viewer
    emb = _embedded(qtbot, widgets)
    state = emb.state
    assert "cue_si" in state.neuron_features(viewer)
    emb.feature_combo.setCurrentText("cue_si")
    labels = state.find_labels(viewer)
    before = labels.colormap
    qtbot.mouseClick(emb.color_rois_button, Qt.MouseButton.LeftButton)
    assert isinstance(labels.colormap, DirectLabelColormap)
    si = state.neuron_features(viewer)["cue_si"]
    most, least = int(np.nanargmax(si)), int(np.nanargmin(si))
    warm, cool = labels.colormap.color_dict[most + 1], labels.colormap.color_dict[least + 1]
    assert warm[0] > warm[2] and cool[2] > cool[0]  # coolwarm: positive red, negative blue
    qtbot.mouseClick(emb.reset_button, Qt.MouseButton.LeftButton)
    assert labels.colormap is before


def test_the_map_is_coloured_by_tuning_category_by_default(calm_viewer, qtbot):
    from src_models.analysis.selectivity import tuning_classes

    viewer, widgets = calm_viewer
    emb = _embedded(qtbot, widgets)
    emb.state.color_feature = None
    emb._refresh()
    assert emb.feature_combo.currentText() == "tuning"  # cue and choice cells at a glance
    codes, names = tuning_classes(emb.state.embeddings.analysis.selectivity)
    assert names == ["untuned", "cue 0", "cue 1", "choice 0", "choice 1"]
    assert emb.canvas.colorbar.ax.get_yticklabels()[1].get_text() == "cue 0"
    colors = emb.canvas.points.get_facecolors()
    for c in np.unique(codes):  # one colour per category
        assert len({tuple(np.round(x, 3)) for x in colors[codes == c]}) == 1
    emb.feature_combo.setCurrentText("choice_si")  # the SI one click away
    assert emb.state.color_feature == "choice_si" and emb.canvas.colorbar.ax.get_ylabel() == "choice_si"
