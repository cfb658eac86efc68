"""napari sample data: the CalM demo recording (simulated, generated offline on first use)."""

from __future__ import annotations

from typing import Any

#: base name of the demo's layers
DEMO_LAYER_NAME = "CalM demo"


def make_demo() -> list[tuple[Any, dict[str, Any], str]]:
    """Layers of the demo recording: the movie and the ROIs with their features.

    Returns
    -------
    list of (data, kwargs, layer_type)
        napari ``LayerDataTuple`` s; each layer carries the recording in
        ``metadata['calm_recording']`` for the CalM docks.
    """
    from napari_calm.demo import demo_path
    from napari_calm.layers import recording_layers
    from src_models.readers import read_recording

    return recording_layers(read_recording(demo_path()), name=DEMO_LAYER_NAME)
