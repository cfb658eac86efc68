"""Recording & model dock: open a recording, choose a checkpoint, tokenize and embed it.

* **Recording**: any path :func:`src_models.readers.read_recording` opens, read in a worker; a
  bad file is a one-line error. Setting the frame rate re-prepares the recording (dropping every
  result of the old rate).
* **Model**: the shipped checkpoint, fine-tuned ones under the runs folder, and the device.
* **Compute**: tokenize / embed with progress and Cancel; **Extract ROIs**: :class:`ExtractPanel`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from qtpy.QtCore import Qt
from qtpy.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
)

from napari_calm import workers
from napari_calm.widgets.dock_base import CalmDock
from napari_calm.widgets.extract_panel import ExtractPanel
from napari_calm.widgets.job_panel import JobPanel

if TYPE_CHECKING:
    from src_models.recording import Recording

#: File-dialog filter listing what the readers open.
OPEN_FILTER = (
    "Recordings (*.tif *.tiff *.npz *.mat *.nwb *.npy *.zip *.roi);;"
    "TIFF movies (*.tif *.tiff);;suite2p stat.npy (stat.npy);;NumPy archives (*.npz);;"
    "MATLAB (*.mat);;NWB (*.nwb);;All files (*)"
)
#: Where a known frame rate came from (``metadata["fs_source"]``), as the dock says it.
FS_SOURCES = {"argument": "--fs", "file": "the file", "meta.json": "meta.json", "napari": "you"}
#: Display name of the shipped checkpoint in the list.
SHIPPED_NAME = "CalM (shipped default)"


def find_checkpoints(runs_dir: Path) -> list[Path]:
    """CalM checkpoints under ``runs_dir`` (run folders or bundles), newest first."""
    import json

    found = []
    if not runs_dir.is_dir():
        return found
    for run in runs_dir.iterdir():
        if not run.is_dir() or run.name.startswith("."):
            continue
        for candidate in (run, run / "best", run / "last"):
            meta = candidate / "config.json"
            if meta.is_file():
                try:
                    kind = json.loads(meta.read_text()).get("model")
                except (OSError, ValueError):
                    continue
                if kind == "calm":
                    found.append(run)
                    break
    return sorted(found, key=lambda p: p.stat().st_mtime, reverse=True)


class RecordingDock(CalmDock):
    """Recording & model dock (napari-calm ``Recording & model``)."""

    def build(self) -> None:
        self._added_layers: list[Any] = []

        # recording
        self.path_edit = QLineEdit()
        self.path_edit.setPlaceholderText(
            "TIFF movie, suite2p folder, traces folder, .npz, .mat, .nwb"
        )
        self.path_edit.returnPressed.connect(self.open_clicked)
        self.file_button = QPushButton("File…")
        self.folder_button = QPushButton("Folder…")
        self.open_button = QPushButton("Open")
        self.file_button.clicked.connect(self.browse_file)
        self.folder_button.clicked.connect(self.browse_folder)
        self.open_button.clicked.connect(self.open_clicked)
        self.summary = QLabel("No recording.")
        self.summary.setWordWrap(True)
        self.fs_spin = QDoubleSpinBox()
        self.fs_spin.setRange(0.01, 10000.0)
        self.fs_spin.setDecimals(3)
        self.fs_spin.setSuffix(" Hz")
        self.fs_spin.setKeyboardTracking(False)  # one change per entry, not per keystroke
        self.fs_spin.setToolTip("Frame rate of the recording; changing it drops every result")
        self.fs_spin.valueChanged.connect(self.set_frame_rate)
        self.fs_note = QLabel()
        rec_box = QGroupBox("Recording")
        rec_layout = QVBoxLayout(rec_box)
        row = QHBoxLayout()
        row.addWidget(self.path_edit, 1)
        row.addWidget(self.file_button)
        row.addWidget(self.folder_button)
        row.addWidget(self.open_button)
        rec_layout.addLayout(row)
        rec_layout.addWidget(self.summary)
        fs_row = QHBoxLayout()
        fs_row.addWidget(QLabel("Frame rate"))
        fs_row.addWidget(self.fs_spin, 1)
        fs_row.addWidget(self.fs_note, 1)
        rec_layout.addLayout(fs_row)

        # model
        self.checkpoint_combo = QComboBox()
        self.checkpoint_combo.setToolTip("CalM checkpoint used by every job of these docks")
        self.checkpoint_combo.currentIndexChanged.connect(self._checkpoint_chosen)
        self.checkpoint_browse = QPushButton("…")
        self.checkpoint_browse.setFixedWidth(28)
        self.checkpoint_browse.setToolTip("Choose another checkpoint folder")
        self.checkpoint_browse.clicked.connect(self.browse_checkpoint)
        self.runs_edit = QLineEdit(self.state.runs_dir)
        self.runs_edit.setToolTip("Folder with fine-tuned runs (the Fine-tune dock writes here)")
        self.runs_edit.editingFinished.connect(self._runs_dir_edited)
        self.device_combo = QComboBox()
        self.device_combo.setToolTip("Where the model runs")
        self._fill_devices()
        self.device_combo.currentIndexChanged.connect(self._device_chosen)
        model_box = QGroupBox("Model")
        form = QFormLayout(model_box)
        ck_row = QHBoxLayout()
        ck_row.addWidget(self.checkpoint_combo, 1)
        ck_row.addWidget(self.checkpoint_browse)
        form.addRow("Checkpoint", ck_row)
        form.addRow("Runs folder", self.runs_edit)
        form.addRow("Device", self.device_combo)

        # compute
        self.tokenize_button = QPushButton("Tokenize")
        self.tokenize_button.setToolTip("NQ tokens and reconstruction of every neuron")
        self.embed_button = QPushButton("Embed")
        self.embed_button.setToolTip(
            "CalM neuron embeddings and cue/choice selectivity (the Embedding map dock maps them)"
        )
        self.tokenize_button.clicked.connect(self.tokenize)
        self.embed_button.clicked.connect(self.embed)
        self.jobs = JobPanel(self)
        self.cache_label = QLabel()
        self.cache_label.setWordWrap(True)
        compute_box = QGroupBox("Compute")
        compute = QVBoxLayout(compute_box)
        buttons = QHBoxLayout()
        buttons.addWidget(self.tokenize_button)
        buttons.addWidget(self.embed_button)
        compute.addLayout(buttons)
        compute.addWidget(self.jobs)
        compute.addWidget(self.cache_label)

        layout = QVBoxLayout(self.body)
        layout.addWidget(rec_box)
        layout.addWidget(model_box)
        layout.addWidget(compute_box)
        self.extract_panel = ExtractPanel(self.viewer, self.state)
        extract_box = QGroupBox("Extract ROIs")
        extract_box.setCheckable(True)
        extract_box.setChecked(False)
        QVBoxLayout(extract_box).addWidget(self.extract_panel)
        self.extract_panel.setVisible(False)
        extract_box.toggled.connect(self.extract_panel.setVisible)
        layout.addWidget(extract_box)
        layout.addStretch(1)

        self.listen(self.state.events.recording, self._on_recording)
        for name in ("tokens", "embeddings", "forecast", "decoding", "checkpoint"):
            self.listen(getattr(self.state.events, name), self._update_cache_label)
        self.listen(self.state.events.checkpoints, self.refresh_checkpoints)
        self.listen(self.state.events.runs_dir, self._on_runs_dir)
        self.refresh_checkpoints()
        self._on_recording()

    # -- recording -------------------------------------------------------------------------
    def browse_file(self) -> None:
        """Pick a recording file in a dialog, then open it."""
        path, _ = QFileDialog.getOpenFileName(
            self, "Open recording", self._start_dir(), OPEN_FILTER
        )
        if path:
            self.path_edit.setText(path)
            self.open_path(path)

    def browse_folder(self) -> None:
        """Pick a recording folder (suite2p plane, traces folder) in a dialog, then open it."""
        path = QFileDialog.getExistingDirectory(self, "Open recording folder", self._start_dir())
        if path:
            self.path_edit.setText(path)
            self.open_path(path)

    def _start_dir(self) -> str:
        text = self.path_edit.text().strip()
        return str(Path(text).parent) if text else str(Path.home())

    def open_clicked(self) -> None:
        """Open the path in the field."""
        text = self.path_edit.text().strip()
        if text:
            self.open_path(text)

    def open_path(self, path: str | Path) -> Any:
        """Read ``path`` (any file or folder a reader opens) in a worker; returns the worker."""
        self.path_edit.setText(str(path))
        return self.jobs.start(
            workers.open_worker(str(path)),
            on_result=self.show_recording,
            label=f"opening {Path(path).name}",
        )

    def show_recording(self, recording: Recording) -> None:
        """Show ``recording``'s layers and make it current (old layers go on the next turn)."""
        from napari.layers import Layer
        from qtpy.QtCore import QTimer

        from napari_calm.layers import recording_layers

        tuples = recording_layers(recording)
        previous = [layer for layer in self._added_layers if layer in self.viewer.layers]
        self._added_layers = []
        for data, kwargs, layer_type in tuples:
            layer = Layer.create(data, kwargs, layer_type)
            self.viewer.add_layer(layer)
            self._added_layers.append(layer)
        self.state.set_recording(recording)
        if self._added_layers:
            labels = self.state.find_labels(self.viewer)
            self.viewer.layers.selection.active = labels or self._added_layers[0]
        if previous:
            names = [kwargs.get("name") for _, kwargs, _ in tuples]
            QTimer.singleShot(0, lambda: self._replace_layers(previous, names))

    def _replace_layers(self, previous: list[Any], names: list[str | None]) -> None:
        """Remove the previous recording's layers; give the new ones back their own names."""
        for layer in previous:
            if layer in self.viewer.layers:
                self.viewer.layers.remove(layer)
        taken = {layer.name for layer in self.viewer.layers}
        for layer, name in zip(self._added_layers, names, strict=True):
            if name and layer.name != name and name not in taken:
                layer.name = name

    def set_frame_rate(self, fs: float) -> None:
        """Re-prepare the current recording at its true rate ``fs`` Hz (dropping old results)."""
        import dataclasses

        from napari_calm.state import RECORDING_KEY

        old = self.state.recording
        if old is None or fs == old.fs:
            return
        known = {"fs_source": "napari", "fs_assumed": False}
        new = dataclasses.replace(old, fs=float(fs), metadata={**old.metadata, **known})
        for layer in self.viewer.layers:
            if layer.metadata.get(RECORDING_KEY) is old:
                layer.metadata[RECORDING_KEY] = new
        self.state.set_recording(new)

    def _on_recording(self, *_: Any) -> None:
        rec = self.state.recording
        has = rec is not None and rec.n_neurons > 0
        for b in (self.tokenize_button, self.embed_button):
            b.setEnabled(has)
        self.fs_spin.setEnabled(rec is not None)
        note = ""
        if rec is not None:
            self.fs_spin.blockSignals(True)
            self.fs_spin.setValue(rec.fs)
            self.fs_spin.blockSignals(False)
            md = rec.metadata
            note = (
                "<b>assumed</b>: set the real rate"
                if md.get("fs_assumed")
                else f"from {FS_SOURCES.get(md.get('fs_source'), 'the file')}"
            )
        self.fs_note.setText(note)
        if rec is None:
            self.summary.setText("No recording.")
        elif rec.n_neurons == 0:
            self.summary.setText(
                f"<b>{rec.source.name}</b>: a movie without ROIs "
                f"({'×'.join(map(str, rec.movie_shape or ()))}); extract ROIs to analyse it."
            )
        else:
            s = rec.summary()
            bits = [
                f"<b>{Path(s['path']).name}</b> ({s['kind']})",
                f"{s['n_neurons']} neurons × {s['n_frames']} frames",
            ]
            if s["movie_shape"]:
                bits.append("movie " + "×".join(str(v) for v in s["movie_shape"]))
            if s["behavior"]:
                bits.append("behaviour: " + ", ".join(s["behavior"]))
            if s["n_trials"]:
                bits.append(
                    f"{s['n_trials']} trials "
                    f"({', '.join(c for c in s['trial_columns'] if not c.endswith('_frame'))})"
                )
            self.summary.setText(" · ".join(bits))
        self._update_cache_label()

    # -- model -----------------------------------------------------------------------------
    def refresh_checkpoints(self, *_: Any) -> None:
        """Re-list the shipped checkpoint, runs under the runs folder and announced ones."""
        from napari_calm.resources import resource

        current = self.state.checkpoint
        entries = [(SHIPPED_NAME, str(resource("weights", "calm")))]
        seen = {entries[0][1]}
        runs = find_checkpoints(Path(self.state.runs_dir))
        for path in [*map(str, runs), *self.state.checkpoints, current]:
            if path and path not in seen:
                seen.add(path)
                entries.append((f"{Path(path).name}  ({Path(path).parent})", path))
        self.checkpoint_combo.blockSignals(True)
        try:
            self.checkpoint_combo.clear()
            for name, path in entries:
                self.checkpoint_combo.addItem(name, path)
                self.checkpoint_combo.setItemData(
                    self.checkpoint_combo.count() - 1, path, Qt.ItemDataRole.ToolTipRole
                )
            index = max(0, self.checkpoint_combo.findData(current))
            self.checkpoint_combo.setCurrentIndex(index)
        finally:
            self.checkpoint_combo.blockSignals(False)
        self._checkpoint_chosen(self.checkpoint_combo.currentIndex())

    def _runs_dir_edited(self) -> None:
        text = self.runs_edit.text().strip()
        if text and text != self.state.runs_dir:
            self.state.runs_dir = text

    def _on_runs_dir(self, *_: Any) -> None:
        self.runs_edit.setText(self.state.runs_dir)
        self.refresh_checkpoints()

    def checkpoint_paths(self) -> list[str]:
        """Every checkpoint folder in the list, in order."""
        return [self.checkpoint_combo.itemData(i) for i in range(self.checkpoint_combo.count())]

    def browse_checkpoint(self) -> None:
        """Choose a checkpoint folder in a dialog and select it."""
        path = QFileDialog.getExistingDirectory(
            self, "CalM checkpoint folder", self.state.runs_dir
        )
        if path:
            self.select_checkpoint(path)

    def select_checkpoint(self, path: str | Path) -> None:
        """Make ``path`` the checkpoint (added to the list when new)."""
        path = str(path)
        if self.checkpoint_combo.findData(path) < 0:
            self.state.add_checkpoint(path)
        self.checkpoint_combo.setCurrentIndex(self.checkpoint_combo.findData(path))

    def _checkpoint_chosen(self, index: int) -> None:
        path = self.checkpoint_combo.itemData(index)
        if path and path != self.state.checkpoint:
            with self.state.events.paused():
                self.state.tokens = None
                self.state.embeddings = None
                self.state.forecast = None
                self.state.decoding = None
            self.state.checkpoint = path

    def _fill_devices(self) -> None:
        import os

        import torch

        self.device_combo.addItem(f"CPU ({os.cpu_count()} cores)", "cpu")
        if torch.cuda.is_available():
            self.device_combo.addItem(f"GPU: {torch.cuda.get_device_name(0)}", "cuda")
        self.device_combo.setCurrentIndex(max(0, self.device_combo.findData(self.state.device)))

    def _device_chosen(self, index: int) -> None:
        self.state.device = self.device_combo.itemData(index)

    # -- compute ---------------------------------------------------------------------------
    def tokenize(self) -> Any:
        """Tokenize the whole recording in a worker; returns the worker."""
        rec = self.state.recording
        if rec is None or self.jobs.busy:
            return None
        return self.start_job(
            workers.tokenize_worker(rec, self.state.checkpoint, self.state.device), "tokenizing", "tokens"
        )

    def embed(self) -> Any:
        """Embed every neuron (PCA map), compute selectivity; returns the worker."""
        rec = self.state.recording
        if rec is None or self.jobs.busy:
            return None
        return self.start_job(
            workers.embed_worker(rec, self.state.checkpoint, self.state.device), "embedding", "embeddings"
        )

    def _update_cache_label(self, *_: Any) -> None:
        s = self.state
        lines = ["tokens —", "embeddings —"]
        if (t := s.tokens) is not None:
            r = t.metrics.get("recon_r_median")
            quality = "" if r is None else f", reconstruction r {r:.2f}"
            n, m = t.tokens.shape
            lines[0] = f"tokens ✓ {n} × {m}, K = {t.codebook_size}{quality}"
        if (e := s.embeddings) is not None:
            tuning = ", ".join(k for k in e.features if k.endswith("_si")) or "no trial labels"
            lines[1] = f"embeddings ✓ {e.states.shape[1]}-d, {' + '.join(e.coords)}, {tuning}"
        done = {k: "—" if getattr(s, k) is None else "✓" for k in ("forecast", "decoding")}
        lines.append(" · ".join(f"{k} {mark}" for k, mark in done.items()))
        self.cache_label.setText("<br>".join(lines))
