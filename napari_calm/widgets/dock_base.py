"""Base class of the CalM docks: the viewer, its shared state, safe signal wiring."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from qtpy.QtWidgets import QWidget

from napari_calm.state import CalmState, get_state, unwrap_viewer
from napari_calm.widgets import roi_link

if TYPE_CHECKING:
    import napari


class CalmDock(QWidget):
    """A dock widget bound to one viewer and its :class:`~napari_calm.state.CalmState`.

    Creating any dock links the ROI layer and the selection
    (:func:`napari_calm.widgets.roi_link.attach`), so clicking ROIs works
    whichever docks are open.

    Parameters
    ----------
    viewer : napari.Viewer
        The viewer (injected by napari from the ``'napari.viewer.Viewer'`` annotation;
        napari's plugin proxy is unwrapped, see :func:`napari_calm.state.unwrap_viewer`).
    parent : QWidget, optional
        Qt parent.
    """

    def __init__(self, viewer: napari.viewer.Viewer, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.viewer = unwrap_viewer(viewer)
        self.state: CalmState = get_state(viewer)
        roi_link.attach(viewer)
        self._connections: list[tuple[Any, Callable[..., Any]]] = []
        connections = self._connections
        self.destroyed.connect(lambda *_: _disconnect_all(connections))

    def listen(self, signal: Any, slot: Callable[..., Any]) -> None:
        """Connect ``slot`` to a state (psygnal) or viewer (napari) signal until this dock dies."""
        signal.connect(slot)
        self._connections.append((signal, slot))


def _disconnect_all(connections: list[tuple[Any, Callable[..., Any]]]) -> None:
    """Disconnect every recorded (signal, slot) pair (the dock's C++ side is gone)."""
    for signal, slot in connections:
        with contextlib.suppress(ValueError, RuntimeError, TypeError):
            signal.disconnect(slot)
    connections.clear()
