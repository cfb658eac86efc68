"""Base class of the CalM docks: the viewer, its shared state, safe signal wiring."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from qtpy.QtCore import QTimer
from qtpy.QtWidgets import QDockWidget, QFrame, QMainWindow, QScrollArea, QVBoxLayout, QWidget

from napari_calm.state import CalmState, get_state, unwrap_viewer
from napari_calm.widgets import roi_link

if TYPE_CHECKING:
    import napari


class CalmDock(QWidget):
    """A dock widget bound to one viewer and its :class:`~napari_calm.state.CalmState`.

    Creating any dock links the ROI layer and the selection
    (:func:`napari_calm.widgets.roi_link.attach`), so clicking ROIs works
    whichever docks are open. Subclasses lay their content out in
    :attr:`body`, which sits in a scroll area: a dock never raises the
    window's minimum size, and content taller than the dock scrolls. A dock
    added next to other CalM docks (the Plugins menu stacks them) joins their
    tab group.

    Parameters
    ----------
    viewer : napari.Viewer
        The viewer (injected by napari from the ``'napari.viewer.Viewer'`` annotation;
        napari's plugin proxy is unwrapped, see :func:`napari_calm.state.unwrap_viewer`).
    parent : QWidget, optional
        Qt parent.

    Attributes
    ----------
    grouped : bool
        Whether the dock sits in the CalM docks' tab group (set by whoever placed it there).
    """

    def __init__(self, viewer: napari.viewer.Viewer, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.viewer = unwrap_viewer(viewer)
        self.state: CalmState = get_state(viewer)
        roi_link.attach(viewer)
        self._connections: list[tuple[Any, Callable[..., Any]]] = []
        connections = self._connections
        self.destroyed.connect(lambda *_: disconnect_all(connections))
        self.grouped = False
        self.body = QWidget()
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setWidget(self.body)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(scroll)
        QTimer.singleShot(0, self._join_tab_group)

    def listen(self, signal: Any, slot: Callable[..., Any]) -> None:
        """Connect ``slot`` to a state (psygnal) or viewer (napari) signal until this dock dies."""
        signal.connect(slot)
        self._connections.append((signal, slot))

    def _join_tab_group(self) -> None:
        """Tabify this dock with another CalM dock of its area when it was stacked under it."""
        dock = self.parent()
        window = dock.parent() if isinstance(dock, QDockWidget) else None
        if self.grouped or not isinstance(window, QMainWindow):
            return
        area = window.dockWidgetArea(dock)
        for other in window.findChildren(QDockWidget):
            inner = other.widget()
            if (
                other is not dock
                and isinstance(inner, CalmDock)
                and not other.isFloating()
                and window.dockWidgetArea(other) == area
            ):
                window.tabifyDockWidget(other, dock)
                self.grouped = True
                QTimer.singleShot(0, dock.raise_)
                return


def disconnect_all(connections: list[tuple[Any, Callable[..., Any]]]) -> None:
    """Disconnect every recorded (signal, slot) pair (the dock's C++ side is gone)."""
    for signal, slot in connections:
        with contextlib.suppress(ValueError, RuntimeError, TypeError):
            signal.disconnect(slot)
    connections.clear()
