"""Link the ROI Labels layer in the canvas with the shared neuron selection.

One :class:`RoiLink` per viewer (:func:`attach`): a click on an ROI (or cell point) selects the
neuron, Shift+click toggles it; picking a label with the Labels tools selects it too;
``Alt+Right`` / ``Alt+Left`` step through neurons. Selected ROIs are outlined in a ``CalM
selection`` Labels layer, repainted :data:`OUTLINE_DELAY_MS` later so the docks answer first;
selected cell points are drawn larger in :data:`SELECTED_COLOR`.
"""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING, Any

import numpy as np

from napari_calm.state import CalmState, get_state, unwrap_viewer

if TYPE_CHECKING:
    import napari

#: Name of the outline layer that shows the selected ROIs.
SELECTION_LAYER = "CalM selection"
#: Ring colour of selected cells (the outline layer's colour).
SELECTED_COLOR = "#ffd400"
#: Pixels the pointer may move between press and release and still count as a click.
CLICK_SLOP_PX = 4.0
#: Delay of the image update after a selection change. The docks repaint first:
#: with software OpenGL a canvas redraw in the same frame would hold their plots back.
OUTLINE_DELAY_MS = 40

_LINKS: weakref.WeakKeyDictionary[Any, RoiLink] = weakref.WeakKeyDictionary()


def attach(viewer: napari.Viewer) -> RoiLink:
    """The :class:`RoiLink` of ``viewer`` (created on first use)."""
    viewer = unwrap_viewer(viewer)
    link = _LINKS.get(viewer)
    if link is None:
        link = RoiLink(viewer, get_state(viewer))
        _LINKS[viewer] = link
    return link


class RoiLink:
    """Two-way link between the ROI Labels layer and ``state.selected`` (weak references only).

    Parameters
    ----------
    viewer : napari.Viewer
        The viewer whose canvas is linked.
    state : CalmState
        The viewer's shared state.
    """

    def __init__(self, viewer: napari.Viewer, state: CalmState) -> None:
        self._viewer = weakref.ref(viewer)
        self._state = weakref.ref(state)
        self._painted: list[int] = []
        self._syncing = False
        self._repaint_pending = False
        self._watched_labels: Any = None
        me = weakref.ref(self)

        def on_drag(viewer: Any, event: Any) -> Any:
            link = me()
            if link is not None:
                yield from link._mouse(event)

        def step(delta: int) -> Any:
            def _step(viewer: Any) -> None:
                link = me()
                if link is not None and link._state() is not None:
                    link._state().step(delta)

            return _step

        viewer.mouse_drag_callbacks.append(on_drag)
        viewer.bind_key("Alt-Right", step(+1), overwrite=True)
        viewer.bind_key("Alt-Left", step(-1), overwrite=True)
        state.events.selected.connect(self._on_selection)
        state.events.recording.connect(self._on_recording)
        viewer.layers.events.inserted.connect(self._on_layer_inserted)
        self._on_recording()

    # -- canvas -> state -------------------------------------------------------------------
    def _mouse(self, event: Any) -> Any:
        """Drag-callback generator: select the ROI under a click, ignore drags (pans)."""
        if event.type != "mouse_press" or event.button != 1:
            return
        position = tuple(event.position)
        press_px = np.asarray(event.pos, float)
        add = "Shift" in {getattr(m, "name", str(m)) for m in event.modifiers}
        yield
        while event.type == "mouse_move":
            if np.hypot(*(np.asarray(event.pos, float) - press_px)) > CLICK_SLOP_PX:
                return
            yield
        self.pick(position, add=add)

    def pick(self, position: tuple[float, ...], *, add: bool = False) -> int | None:
        """Select (``add``: toggle) the neuron whose ROI is under world ``position``; returns it or None."""
        state, viewer = self._state(), self._viewer()
        if state is None or viewer is None:
            return None
        labels = state.find_labels(viewer)
        if labels is not None:
            value = labels.get_value(position, world=True)
            neuron = None if value is None or int(value) <= 0 else int(value) - 1
        else:
            cells = state.find_cells(viewer)
            value = None if cells is None else cells.get_value(position, world=True)
            neuron = None if value is None else int(value)
        if neuron is not None:
            state.select([neuron], add=add)
        return neuron

    def _on_selected_label(self, event: Any = None) -> None:
        state, labels = self._state(), self._watched_labels
        if self._syncing or state is None or labels is None:
            return
        value = int(labels.selected_label)
        if value > 0 and state.current != value - 1:
            state.select([value - 1])

    # -- state -> canvas -------------------------------------------------------------------
    def _on_recording(self, *_: Any) -> None:
        """Watch the current ROI layer; clear the outline layer (dropped if it no longer fits)."""
        from qtpy.QtCore import QTimer

        state, viewer = self._state(), self._viewer()
        if state is None or viewer is None:
            return
        labels = state.find_labels(viewer)
        if labels is not self._watched_labels:
            if self._watched_labels is not None:
                self._watched_labels.events.selected_label.disconnect(self._on_selected_label)
            if labels is not None:
                labels.events.selected_label.connect(self._on_selected_label)
            self._watched_labels = labels
        self._painted = []
        outline = self._outline_layer(create=False)
        if outline is not None:
            outline.data[...] = 0
            outline.refresh()
            if labels is not None and outline.data.shape == labels.data.shape:
                outline.scale, outline.translate = labels.scale, labels.translate
                viewer.layers.move(viewer.layers.index(outline), len(viewer.layers))  # over the new ROIs
            else:  # the ROI layer may still be on its way; removing a napari layer is slow anyway
                QTimer.singleShot(0, self._drop_stale_outline)
        self._on_selection()

    def _on_layer_inserted(self, event: Any) -> None:
        """The current recording's ROI layer arrived after the recording was adopted: link it."""
        state, layer = self._state(), event.value
        if state is not None and layer is not self._watched_labels:
            if layer is state.find_labels(self._viewer()):
                self._on_recording()

    def _drop_stale_outline(self) -> None:
        state, viewer = self._state(), self._viewer()
        outline = self._outline_layer(create=False)
        if state is None or viewer is None or outline is None:
            return
        labels = state.find_labels(viewer)
        if labels is None or outline.data.shape != labels.data.shape:
            viewer.layers.remove(outline)

    def _outline_layer(self, create: bool) -> Any:
        """The selection outline layer, created over the ROI layer when asked."""
        viewer, state = self._viewer(), self._state()
        if viewer is None or state is None:
            return None
        for layer in viewer.layers:
            if layer.name == SELECTION_LAYER and layer.metadata.get("calm_selection"):
                return layer
        labels = state.find_labels(viewer)
        if not create or labels is None:
            return None
        from napari.utils.colormaps import DirectLabelColormap

        layer = viewer.add_labels(
            np.zeros(labels.data.shape, np.uint8),
            name=SELECTION_LAYER,
            opacity=1.0,
            blending="translucent",
            scale=labels.scale,
            translate=labels.translate,
            metadata={"calm_selection": True},
            colormap=DirectLabelColormap(color_dict={None: SELECTED_COLOR, 0: "transparent"}),
        )
        layer.contour = 2
        layer.editable = False
        viewer.layers.selection.active = labels
        return layer

    def _on_selection(self, *_: Any) -> None:
        """Repaint the outline a moment later, once the docks' new plots are on screen."""
        from qtpy.QtCore import QTimer

        if not self._repaint_pending:
            self._repaint_pending = True
            QTimer.singleShot(OUTLINE_DELAY_MS, self._apply_selection)

    def _apply_selection(self) -> None:
        self._repaint_pending = False
        state = self._state()
        if state is None or state.recording is None:
            return
        labels = self._watched_labels
        if labels is not None and state.current is not None:
            self._syncing = True
            try:
                labels.selected_label = state.current + 1
            finally:
                self._syncing = False
        rois = state.recording.rois
        if rois is None:
            self._ring_cells(state)
            return
        outline = self._outline_layer(create=bool(state.selected))
        if outline is None:
            return
        data = outline.data
        for value, neurons in ((0, self._painted), (1, state.selected)):
            for i in neurons:
                px = rois.pixels[i]
                if len(px) and px.shape[1] == data.ndim:
                    data[tuple(px.T)] = value
        self._painted = list(state.selected)
        outline.refresh()

    def _ring_cells(self, state: CalmState) -> None:
        """Enlarge and ring the selected points of the cell-position layer (no ROI masks)."""
        from napari_calm.layers import CELL_SIZE

        cells = state.find_cells(self._viewer())
        if cells is None or not len(cells.data):
            return
        chosen = np.zeros(len(cells.data), bool)
        chosen[[i for i in state.selected if 0 <= i < len(chosen)]] = True
        cells.size = np.where(chosen, 2 * CELL_SIZE, CELL_SIZE)
        cells.border_width = np.where(chosen, 0.3, 0.05)
        cells.border_color = [SELECTED_COLOR if c else "dimgray" for c in chosen]
