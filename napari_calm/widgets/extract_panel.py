"""The "Extract ROIs" panel: run suite2p on the open movie and add its ROIs and traces.

The movie is the TIFF behind the viewer's Image layer (or typed/browsed); results go to
``<movie>_suite2p`` unless another folder is given. suite2p runs in a separate process
(:class:`~napari_calm.extraction.ExtractionJob`; *Cancel* kills it); its results folder is read
with :func:`~src_models.readers.read_recording` and becomes the viewer's current recording.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Generator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from qtpy.QtWidgets import (
    QCheckBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from napari_calm.extraction.settings import ExtractionSettings
from napari_calm.widgets.dock_base import SettingsForm, disconnect_all
from napari_calm.widgets.job_panel import JobPanel, notify_error
from napari_calm.workers import Progress

if TYPE_CHECKING:
    import napari

    from napari_calm.extraction import ExtractionJob
    from napari_calm.state import CalmState
    from src_models.recording import Recording

#: Progress units of the bar (fractions are scaled to this).
TOTAL = 1000
#: Seconds the follower thread waits for news before yielding a heartbeat.
POLL_S = 0.1
TIFF_SUFFIXES = (".tif", ".tiff")


def default_output(movie: Path) -> Path:
    """``<folder>/<stem>_suite2p`` next to the movie."""
    return movie.with_name(f"{movie.stem}_suite2p")


def _tiff(path: Any) -> Path | None:
    """``path`` as a Path when it is an existing TIFF file, else None."""
    if path and Path(path).suffix.lower() in TIFF_SUFFIXES and Path(path).is_file():
        return Path(path)
    return None


def recording_movie(rec: Any) -> Path | None:
    """The TIFF a recording was read from or names in ``meta.json`` (relative to it), if any."""
    if rec is None:
        return None
    if _tiff(rec.source):
        return Path(rec.source)
    name = rec.metadata.get("movie")
    if not isinstance(name, str) or not name:
        return None
    if Path(name).is_absolute():
        return _tiff(name)
    metas = [Path(f) for f in rec.metadata.get("side_files", []) if Path(f).name == "meta.json"]
    return next((p for p in (_tiff(m.parent / name) for m in metas) if p is not None), None)


def movie_from_viewer(viewer: Any, state: Any = None) -> Path | None:
    """The TIFF behind the viewer's movie (current recording, then Image layers and sources)."""
    from napari_calm.state import RECORDING_KEY

    found = recording_movie(getattr(state, "recording", None))
    if found is not None:
        return found
    layers = [layer for layer in viewer.layers if layer._type_string == "image"]
    active = viewer.layers.selection.active
    if active is not None and active in layers:
        layers.insert(0, active)
    for layer in layers:
        found = recording_movie(layer.metadata.get(RECORDING_KEY)) or _tiff(
            getattr(layer.source, "path", None)
        )
        if found is not None:
            return found
    return None


def follow_job(
    job: ExtractionJob, only_cells: bool = True
) -> Generator[Progress, None, Recording | None]:
    """Relay a started job's progress; read its results folder when it is done.

    Returns
    -------
    Recording or None
        The extracted recording; ``None`` when the job was cancelled.

    Raises
    ------
    CalmError
        The extraction failed (the job's one-line reason).
    """
    from src_models.readers import read_recording

    while not job.finished:
        news = job.progress(timeout=POLL_S)
        if news:
            p = news[-1]
            yield Progress(int(round(p.fraction * TOTAL)), TOTAL, p.message)
        else:
            yield Progress(-1, TOTAL)
    if job.state == "cancelled":
        return None
    result = job.wait()
    yield Progress(TOTAL, TOTAL, f"reading {result.n_rois} ROIs")
    return read_recording(result.out, only_cells=only_cells)


class ExtractPanel(QWidget):
    """Movie → suite2p → ROI Labels layer and traces, inside the viewer.

    Parameters
    ----------
    viewer : napari.Viewer
        The viewer holding the movie.
    state : CalmState, optional
        The viewer's shared state (default: ``get_state(viewer)``); the extracted
        recording becomes its current recording.
    parent : QWidget, optional
        Qt parent.
    on_recording : callable, optional
        Also called with the extracted :class:`Recording`.

    Attributes
    ----------
    job : ExtractionJob or None
        The running (or last) extraction.
    layer : napari.layers.Labels or None
        The ROI layer this panel added last.
    """

    def __init__(
        self,
        viewer: napari.viewer.Viewer,
        state: CalmState | None = None,
        parent: QWidget | None = None,
        *,
        on_recording: Callable[[Recording], None] | None = None,
    ) -> None:
        from napari_calm.state import get_state

        super().__init__(parent)
        self.viewer = viewer
        self.state = state if state is not None else get_state(viewer)
        self.on_recording = on_recording
        self.job: ExtractionJob | None = None
        self.layer: Any = None
        self._auto_movie = ""

        self.movie_edit = QLineEdit()
        self.movie_edit.setPlaceholderText("TIFF movie (picked up from the viewer)")
        self.movie_edit.editingFinished.connect(self._movie_edited)
        movie_button = QPushButton("…")
        movie_button.setFixedWidth(28)
        movie_button.clicked.connect(self.browse_movie)
        self.out_edit = QLineEdit()
        self.out_edit.setPlaceholderText("results folder (default: <movie>_suite2p)")
        out_button = QPushButton("…")
        out_button.setFixedWidth(28)
        out_button.clicked.connect(self.browse_output)
        self.form = SettingsForm(
            (ExtractionSettings, ("fs", "tau", "diameter")),
            fs={"label": "Frame rate (Hz)", "max": 1000.0, "step": 0.01},
            tau={"label": "Decay τ (s)", "max": 10.0, "step": 0.01},
            diameter={"label": "Diameter (px)", "max": 200.0, "step": 0.1},
        )
        self.overwrite_check = QCheckBox("replace existing results")
        self.info_label = QLabel("")
        self.info_label.setWordWrap(True)
        self.extract_button = QPushButton("Extract ROIs")
        self.extract_button.setToolTip(
            "Run suite2p: registration, detection, extraction, classification"
        )
        self.extract_button.clicked.connect(self.start)
        self.jobs = JobPanel(self)
        self.jobs.cancel_button.clicked.connect(self.cancel)

        self.form.rows.insertRow(0, "Movie", self._row(self.movie_edit, movie_button))
        self.form.rows.insertRow(1, "Output", self._row(self.out_edit, out_button))
        self.form.rows.addRow("", self.overwrite_check)
        column = QVBoxLayout(self)
        column.setContentsMargins(0, 0, 0, 0)
        column.addWidget(self.form)
        column.addWidget(self.info_label)
        column.addWidget(self.extract_button)
        column.addWidget(self.jobs)

        self._connections: list[tuple[Any, Callable[..., Any]]] = []
        self._listen(viewer.layers.events.inserted, self.suggest_movie)
        self._listen(viewer.layers.events.removed, self.suggest_movie)
        self._listen(self.state.events.recording, self.suggest_movie)
        connections = self._connections
        self.destroyed.connect(lambda *_: disconnect_all(connections))
        self.suggest_movie()
        if self.movie_path() is None:
            self.describe()

    # -- construction helpers --------------------------------------------------------------
    @staticmethod
    def _row(*widgets: QWidget) -> QHBoxLayout:
        """The first widget stretched, the others at their size."""
        row = QHBoxLayout()
        row.addWidget(widgets[0], 1)
        for w in widgets[1:]:
            row.addWidget(w)
        return row

    def _listen(self, signal: Any, slot: Callable[..., Any]) -> None:
        signal.connect(slot)
        self._connections.append((signal, slot))

    # -- inputs ----------------------------------------------------------------------------
    def suggest_movie(self, *_: Any) -> None:
        """Fill the movie field from the viewer unless the user typed another one."""
        current = self.movie_edit.text().strip()
        if current and current != self._auto_movie:
            return
        found = movie_from_viewer(self.viewer, self.state)
        text = str(found) if found is not None else ""
        if text != current:
            self._auto_movie = text
            self.movie_edit.setText(text)
            self._movie_edited()

    def _movie_edited(self) -> None:
        movie = self.movie_path()
        if movie is not None and not self.out_edit.text().strip():
            self.out_edit.setPlaceholderText(str(default_output(movie)))
        self.describe()

    def movie_path(self) -> Path | None:
        """The movie in the field (None when empty)."""
        text = self.movie_edit.text().strip()
        return Path(text).expanduser() if text else None

    def output_path(self) -> Path | None:
        """The results folder: the field, else ``<movie>_suite2p``."""
        text = self.out_edit.text().strip()
        if text:
            return Path(text).expanduser()
        movie = self.movie_path()
        return default_output(movie) if movie is not None else None

    def settings(self) -> ExtractionSettings:
        """The settings the fields ask for (``auto`` fields are ``None``).

        An ``auto`` frame rate is the one set in the Recording dock, if it was.
        """
        rec = self.state.recording
        set_here = rec is not None and rec.metadata.get("fs_source") == "napari"
        settings = self.form.settings(
            ExtractionSettings, threads=max(1, (os.cpu_count() or 2) - 1)
        )  # a core left to the viewer
        if settings.fs is None and set_here:
            settings.fs = rec.fs
        return settings

    def describe(self) -> None:
        """Show what suite2p will be told about the movie (or why it cannot run)."""
        from napari_calm.extraction import probe_movie
        from src_models.errors import CalmError

        movie = self.movie_path()
        if movie is None:
            self.info_label.setText("Open a TIFF movie (or choose one) to extract ROIs.")
            return
        try:
            info = probe_movie(movie, self.settings())
        except CalmError as exc:
            self.info_label.setText(f"⚠ {exc}")
            return
        planes = f" × {info.n_planes} planes" if info.n_planes > 1 else ""
        self.info_label.setText(
            f"{info.n_frames} frames{planes} · {info.shape[0]}×{info.shape[1]} px · "
            f"{info.fs:g} Hz ({info.fs_source}) · τ {info.tau:g} s ({info.tau_source})"
        )

    def browse_movie(self) -> None:
        """Choose the movie in a dialog."""
        path, _ = QFileDialog.getOpenFileName(
            self, "Movie to extract", "", "TIFF movies (*.tif *.tiff)"
        )
        if path:
            self.movie_edit.setText(path)
            self._movie_edited()

    def browse_output(self) -> None:
        """Choose the results folder in a dialog."""
        path = QFileDialog.getExistingDirectory(self, "Results folder")
        if path:
            self.out_edit.setText(path)

    # -- running ---------------------------------------------------------------------------
    @property
    def busy(self) -> bool:
        """True while an extraction runs."""
        return self.jobs.busy

    def start(self) -> ExtractionJob | None:
        """Start extracting the movie in the field; the job, or None (and a notice) on bad input."""
        from napari.qt.threading import thread_worker

        from napari_calm.extraction import ExtractionJob
        from src_models.errors import CalmError

        if self.busy:
            return None
        movie, out = self.movie_path(), self.output_path()
        try:
            if movie is None or out is None:
                raise CalmError("no movie: open a TIFF movie in the viewer or choose one")
            overwrite = self.overwrite_check.isChecked()
            job = ExtractionJob(movie, out, self.settings(), overwrite=overwrite)
            job.start()
        except CalmError as exc:
            self.jobs.status.setText(f"failed: {exc}")
            notify_error(exc)
            return None
        self.job = job
        self.extract_button.setEnabled(False)
        worker = thread_worker(follow_job, start_thread=False, ignore_errors=True)(job)
        self.jobs.start(
            worker,
            on_result=self.show_recording,
            on_finished=lambda: self.extract_button.setEnabled(True),
            label=f"extracting ROIs from {movie.name}",
        )
        return job

    def cancel(self) -> None:
        """Kill the running extraction (its temporary folder is removed)."""
        if self.job is not None:
            self.job.cancel()

    def show_recording(self, recording: Recording | None) -> None:
        """Add the extracted ROI layer and make the recording current (no-op for ``None``)."""
        from napari.layers import Layer

        from napari_calm.layers import recording_layers

        if recording is None:
            return
        if self.layer is not None and self.layer in self.viewer.layers:
            self.viewer.layers.remove(self.layer)
        self.layer = None
        movie_layer = self._movie_layer()
        for data, kwargs, layer_type in recording_layers(recording):
            if layer_type != "labels":
                continue
            kwargs = {**kwargs, "name": f"{recording.source.name} ROIs"}
            if movie_layer is not None and len(movie_layer.scale) >= 2:
                kwargs.update(
                    scale=list(movie_layer.scale[-data.ndim :]),
                    translate=list(movie_layer.translate[-data.ndim :]),
                )
            self.layer = self.viewer.add_layer(Layer.create(data, kwargs, layer_type))
        self.state.set_recording(recording)
        if self.layer is not None:
            self.viewer.layers.selection.active = self.layer
        if self.on_recording is not None:
            self.on_recording(recording)

    def _movie_layer(self) -> Any:
        """The Image layer showing the extracted movie, if any."""
        from napari_calm.state import RECORDING_KEY

        movie = self.movie_path()
        for layer in self.viewer.layers:
            if layer._type_string != "image" or movie is None:
                continue
            rec = layer.metadata.get(RECORDING_KEY)
            path = rec.source if rec is not None else getattr(layer.source, "path", None)
            if path and Path(path).absolute() == movie.absolute():
                return layer
        return None

