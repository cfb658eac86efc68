"""The docks as napari opens them from the Plugins menu, with the sample data."""

from __future__ import annotations

import pytest


@pytest.mark.gui
def test_docks_from_the_plugins_menu_share_the_sample_recording(qapp):
    import napari

    viewer = napari.Viewer(show=False)
    try:
        _check_plugin_docks(viewer)
    finally:
        viewer.close()


def _check_plugin_docks(viewer):
    docks = {}
    for name in ("Recording & model", "Neuron inspector", "Embedding map"):
        _, docks[name] = viewer.window.add_plugin_dock_widget("napari-calm", name)
    viewer.open_sample("napari-calm", "demo")
    state = docks["Neuron inspector"].state
    assert all(dock.state is state for dock in docks.values())
    assert state.n_neurons > 0 and state.current == 0
    assert state.find_labels(viewer) is not None
    assert docks["Neuron inspector"].neuron_list.count() == state.n_neurons
    assert "neurons" in docks["Recording & model"].summary.text()
    assert docks["Recording & model"].extract_panel is not None
