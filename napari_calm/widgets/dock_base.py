"""Base class of the CalM docks (viewer, shared state, safe signal wiring) and settings forms.

:class:`SettingsForm` builds magicgui widgets from the engine's settings dataclasses
(:mod:`src_models.settings`) with the same types, defaults, choices and help as ``calm``'s
options, so the CLI and the docks cannot drift.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from qtpy.QtCore import QTimer
from qtpy.QtWidgets import (
    QDockWidget,
    QFormLayout,
    QFrame,
    QMainWindow,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from napari_calm.state import CalmState, get_state, unwrap_viewer
from napari_calm.widgets import roi_link

if TYPE_CHECKING:
    import napari

S = TypeVar("S")
#: Largest value of a number field without a ``max`` option.
MAX_NUMBER = 1_000_000
#: What a number field whose default is ``None`` shows at its minimum (its ``None``).
AUTO = "auto"


class SettingsForm(QWidget):
    """A form of fields of settings dataclasses: one magicgui widget per field, labels aligned.

    Parameters
    ----------
    *groups : type or (type, tuple of str)
        A settings dataclass (all its fields), or one and the names of the fields to show.
    **options : dict
        Per-field magicgui options (``label``, ``min``, ``max``, ``step``, ...), and
        ``checklist``: the names a comma-separated list field offers as check boxes.
        Numbers range from 0 (or ``min``) to :data:`MAX_NUMBER`; a number whose default is
        ``None`` reads :data:`AUTO` at its minimum.

    Attributes
    ----------
    widgets : dict
        The magicgui widget of each field, also reachable as an attribute (``form.context.value``).
    """

    def __init__(self, *groups: type | tuple[type, tuple[str, ...]], **options: dict[str, Any]) -> None:
        from magicgui.widgets import CheckBox, Container, create_widget

        super().__init__()
        self.rows = QFormLayout(self)
        self.rows.setContentsMargins(0, 0, 0, 0)
        self.widgets: dict[str, Any] = {}
        for group in groups:
            cls, names = group if isinstance(group, tuple) else (group, None)
            fields = {f.name: f for f in dataclasses.fields(cls)}
            for name in names or tuple(fields):
                f, opts = fields[name], dict(options.get(name, {}))
                label = opts.pop("label", name.replace("_", " ").capitalize())
                tip = f.metadata.get("help", "")
                checklist = opts.pop("checklist", None)
                if checklist is not None:
                    on = {n.strip() for n in f.default.split(",")}
                    boxes = [CheckBox(value=n in on, text=n, name=n, tooltip=tip) for n in checklist]
                    widget = Container(widgets=boxes, layout="horizontal", labels=False, name=name)
                    widget.margins = (0, 0, 0, 0)
                    widget.native.layout().addStretch(1)
                else:
                    kind = f.metadata.get("type", type(f.default))
                    if "choices" in f.metadata:
                        opts.setdefault("choices", f.metadata["choices"])
                    elif kind in (int, float):
                        opts.setdefault("min", 0)
                        opts.setdefault("max", MAX_NUMBER)
                    if kind is bool:
                        label, opts["text"] = "", label
                    if f.default is None:  # a float box: integer boxes show no special text
                        widget = create_widget(value=opts["min"], annotation=float, name=name,
                                               options={"tooltip": tip, **opts})
                        widget.native.setSpecialValueText(AUTO)
                        if kind is int:
                            widget.native.setDecimals(0)
                    else:
                        widget = create_widget(value=f.default, annotation=kind, name=name,
                                               options={"tooltip": tip, **opts})
                self.add(widget, label)

    def add(self, widget: Any, label: str, row: int = -1) -> None:
        """Show a magicgui ``widget`` (at ``row``; default last) and reach it by its name."""
        self.widgets[widget.name] = widget
        self.rows.insertRow(row, label, widget.native)

    def __getattr__(self, name: str) -> Any:
        widgets = self.__dict__.get("widgets", {})
        if name in widgets:
            return widgets[name]
        raise AttributeError(f"{type(self).__name__!r} has no attribute or field {name!r}")

    def settings(self, cls: type[S], **extra: Any) -> S:
        """The settings ``cls`` of the form (fields not in it: ``extra`` or defaults).

        Raises
        ------
        CalmError
            The settings' own validation of the values.
        """
        from magicgui.widgets import Container

        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            w = self.widgets.get(f.name)
            if w is None:
                continue
            if isinstance(w, Container):  # a checklist
                values[f.name] = ",".join(box.name for box in w if box.value)
            elif f.default is None:
                values[f.name] = None if w.value == w.min else f.metadata["type"](w.value)
            else:
                values[f.name] = w.value
        return cls(**{**values, **extra})


class CalmDock(QWidget):
    """A dock widget bound to one viewer and its :class:`~napari_calm.state.CalmState`.

    Creating a dock links the ROI layer and the selection (:func:`.roi_link.attach`).
    Subclasses build their widgets into the scrolling :attr:`body` in :meth:`build`.

    Parameters
    ----------
    viewer : napari.Viewer
        The viewer (napari's plugin proxy is unwrapped, :func:`napari_calm.state.unwrap_viewer`).
    parent : QWidget, optional
        Qt parent.

    Attributes
    ----------
    grouped : bool
        Whether the dock sits in the CalM docks' tab group.
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
        self.build()
        QTimer.singleShot(0, self._join_tab_group)

    def build(self) -> None:
        """Create the dock's widgets in :attr:`body` and listen to the state (each dock's own)."""
        raise NotImplementedError

    def read_settings(self, *classes: type) -> tuple[Any, ...] | None:
        """The settings of each class from the dock's ``form`` (None, and why in the status line)."""
        from src_models.errors import CalmError

        try:
            return tuple(self.form.settings(cls) for cls in classes)
        except CalmError as exc:
            self.jobs.status.setText(f"error: {exc}")
            return None

    def start_job(self, worker: Any, label: str, result: str) -> Any:
        """Start ``worker`` in the dock's ``jobs`` panel; its result becomes ``state.<result>``.

        The result is dropped when another recording was opened meanwhile. Returns the worker.
        """
        recording = self.state.recording

        def keep(value: Any) -> None:
            if recording is self.state.recording:
                setattr(self.state, result, value)

        return self.jobs.start(worker, on_result=keep, label=label)

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
