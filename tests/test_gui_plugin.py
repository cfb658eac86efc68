"""The docks as napari opens them from the Plugins menu, with the sample data.

Runs with napari's own ``make_napari_viewer``, which also checks that the
viewers of the earlier GUI test modules were released (no leaked ``QtViewer``).
"""

from __future__ import annotations

import pytest


@pytest.mark.gui
def test_docks_from_the_plugins_menu_share_the_sample_recording(make_napari_viewer):
    viewer = make_napari_viewer()
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
