"""``calm view [PATH]``: napari with the six CalM docks and a recording, ready to click.

Without PATH the demo recording (:func:`napari_calm.demo.demo_path`) is
opened. The recording is read *before* any window is created, so a bad PATH
ends with ``error: ...`` and exit status 2 without opening napari; so does a
missing Qt binding (the line says what to install).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from napari_calm.cli.recording_options import add_recording_options, read_with_options

if TYPE_CHECKING:
    import napari

    from src_models.recording import Recording

#: (manifest display name, module, class) of every dock, in the order they are added.
DOCKS = (
    ("Recording & model", "recording_dock", "RecordingDock"),
    ("Neuron inspector", "inspector_dock", "InspectorDock"),
    ("Embedding map", "embedding_dock", "EmbeddingDock"),
    ("Forecast", "forecast_dock", "ForecastDock"),
    ("Decoding", "decoding_dock", "DecodingDock"),
    ("Fine-tune", "finetune_dock", "FinetuneDock"),
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``calm view``."""
    parser.add_argument("path", nargs="?", help="recording to open (default: the demo recording)")
    parser.add_argument("--checkpoint", metavar="DIR", help="CalM checkpoint folder (default: shipped model)")
    add_recording_options(parser)


def read_for_view(args: argparse.Namespace) -> Recording:
    """The recording ``calm view`` shows (the demo when no path is given); raises CalmError."""
    from src_models.errors import CalmError

    if args.path is None:
        from napari_calm.demo import demo_path

        path: Path = demo_path()
    else:
        path = Path(args.path)
    if args.checkpoint is not None and not Path(args.checkpoint).is_dir():
        raise CalmError("checkpoint folder not found", args.checkpoint)
    return read_with_options(path, args)


def open_docks(viewer: napari.Viewer) -> dict[str, Any]:
    """Add the six CalM docks to ``viewer``, tabbed together, the neuron inspector in front.

    Returns
    -------
    dict of str to QWidget
        Dock widgets by display name.
    """
    import importlib

    from qtpy.QtCore import QTimer

    widgets: dict[str, Any] = {}
    window = viewer.window._qt_window
    docks = []
    for name, module, cls in DOCKS:
        widget = getattr(importlib.import_module(f"napari_calm.widgets.{module}"), cls)(viewer)
        docks.append(viewer.window.add_dock_widget(widget, name=name, area="right"))
        if len(docks) > 1:
            window.tabifyDockWidget(docks[0], docks[-1])
        widget.grouped = True
        widgets[name] = widget
    # Qt builds the tab bar on the next event-loop turn; raising before that does nothing
    QTimer.singleShot(0, widgets["Neuron inspector"].parent().raise_)
    return widgets


def show(viewer: napari.Viewer, recording: Recording, checkpoint: str | None = None) -> dict[str, Any]:
    """Open the docks in ``viewer``, select ``checkpoint`` and show ``recording``."""
    widgets = open_docks(viewer)
    dock = widgets["Recording & model"]
    if checkpoint is not None:
        dock.select_checkpoint(str(Path(checkpoint).resolve()))
    dock.path_edit.setText(str(recording.source))
    dock.show_recording(recording)
    return widgets


def require_qt() -> None:
    """Raise CalmError, saying what to install, when no Qt binding can be imported."""
    from src_models.errors import CalmError

    try:
        import qtpy  # noqa: F401 (raises QtBindingsNotFoundError, an ImportError, without one)
    except ImportError as exc:
        raise CalmError(
            "no Qt binding found for napari's window: "
            'pip install "napari-calm[all]" (PyQt6), or install PyQt6 or PySide6'
        ) from exc


def run(args: argparse.Namespace) -> int:
    """Read the recording, then open napari with the docks (blocks until the window closes)."""
    require_qt()
    recording = read_for_view(args)
    import napari

    viewer = napari.Viewer(title=f"CalM · {recording.source.name}")
    show(viewer, recording, args.checkpoint)
    napari.run()
    return 0
