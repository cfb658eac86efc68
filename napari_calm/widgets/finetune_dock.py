"""Fine-tune dock: adapt CalM to a recording, with a live loss curve, cancel and resume.

Choose the data (current recording or a path), optionally a JSON config, and the settings of
``calm finetune`` (:class:`src_models.settings.FinetuneSettings`), then *Start*:
:func:`src_models.dat.finetune` runs in a worker on a copy of the checkpoint and writes
``<runs folder>/<run name>/{last,best}``. *Cancel* saves ``last/``; *Resume* continues the
selected run; finished runs join the Recording dock's checkpoint list.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from qtpy.QtWidgets import QComboBox, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from napari_calm import workers
from napari_calm.widgets.dock_base import CalmDock, SettingsForm
from napari_calm.widgets.job_panel import JobPanel
from napari_calm.widgets.plot_canvas import PALETTE, PlotCanvas
from napari_calm.widgets.recording_dock import find_checkpoints
from src_models.settings import FinetuneSettings

if TYPE_CHECKING:
    import napari

    from napari_calm.workers import FinetuneOutcome, Progress


class LossCanvas(PlotCanvas):
    """Training loss per step and validation loss per validation pass, blitted.

    The step axis starts at ``min(total, INITIAL_STEPS)`` and grows fourfold when passed; the loss
    axis reaches 15 % above the largest loss, so full redraws are rare.
    """

    #: Initial extent of the step axis.
    INITIAL_STEPS = 100

    def __init__(self, viewer: napari.Viewer, parent: QWidget | None = None) -> None:
        super().__init__(viewer, figsize=(4.5, 2.6), parent=parent, layout=None)
        self.ax = self.figure.add_axes((0.13, 0.19, 0.83, 0.68))
        (self.train_line,) = self.ax.plot(
            [], [], lw=0.9, color=PALETTE["truth"], label="train loss"
        )
        (self.val_line,) = self.ax.plot(
            [], [], "o-", ms=3, lw=1.0, color=PALETTE["forecast"], label="validation loss"
        )
        self.ax.set_xlabel("step")
        self.ax.set_ylabel("loss")
        self.legend_above(self.ax, ncol=2)
        self.set_animated([self.train_line, self.val_line])
        self.ax.set_xlim(0, 1)
        self.ax.set_ylim(0, 1)
        self.apply_theme()

    def show_history(
        self,
        steps: list[int],
        losses: list[float],
        val_steps: list[int],
        val: list[float],
        total: int = 0,
    ) -> None:
        """Update the curves of a run of ``total`` steps; rescale only when they leave the axes."""
        self.train_line.set_data(steps, losses)
        self.val_line.set_data(val_steps, val)
        ys = np.asarray([v for v in [*losses, *val] if v is not None and np.isfinite(v)], float)
        if not steps or not ys.size:
            self.ax.set_xlim(0, 1)
            self.ax.set_ylim(0, 1)
            self.request_draw()
            return
        first, last, top = min(steps), max(steps), float(ys.max())
        x0, x1 = self.ax.get_xlim()
        rescale = first < x0 or last > x1 or top > self.ax.get_ylim()[1] or x1 <= 1
        if rescale:
            extent = x1 - x0 if x1 > 1 else min(total or self.INITIAL_STEPS, self.INITIAL_STEPS)
            while first + extent < last:
                extent *= 4
            if total:
                extent = min(extent, max(total - first + 1, last - first + 1))
            self.ax.set_xlim(first - 1, first - 1 + extent + 1)
            self.ax.set_ylim(min(0.0, float(ys.min())), 1.15 * top)
            self.request_draw()
        else:
            self.blit_update()


class FinetuneDock(CalmDock):
    """Fine-tune dock (napari-calm ``Fine-tune``): data, run name, config and ``FinetuneSettings``."""

    def build(self) -> None:
        from magicgui.widgets import LineEdit

        self.form = SettingsForm(FinetuneSettings)
        for row, (name, tip) in enumerate((
            ("data", "Recording to adapt to: empty for the current one, else a file or folder a reader opens"),
            ("run_name", "Folder of the run under the runs folder (empty: from the data and the time)"),
            ("config", "JSON config with a finetune section, as calm finetune --config (empty: none)"),
        )):
            self.form.add(LineEdit(name=name, tooltip=tip), name.replace("_", " ").capitalize(), row)
        self.start_button = QPushButton("Start")
        self.start_button.setToolTip(
            "Fine-tune the checkpoint chosen in the Recording & model dock"
        )
        self.start_button.clicked.connect(self.start)
        self.resume_combo = QComboBox()
        self.resume_combo.setToolTip(
            "A run under the runs folder to continue from its last/ checkpoint"
        )
        self.resume_button = QPushButton("Resume")
        self.resume_button.clicked.connect(self.resume)
        self.jobs = JobPanel(self)
        self.result_label = QLabel("")
        self.result_label.setWordWrap(True)
        self.canvas = LossCanvas(self.viewer, self)

        layout = QVBoxLayout(self.body)
        layout.addWidget(self.form)
        layout.addWidget(self.start_button)
        resume_row = QHBoxLayout()
        resume_row.addWidget(self.resume_combo, 1)
        resume_row.addWidget(self.resume_button)
        layout.addLayout(resume_row)
        layout.addWidget(self.jobs)
        layout.addWidget(self.result_label)
        layout.addWidget(self.canvas, 1)

        self._history: tuple[list[int], list[float], list[int], list[float]] = ([], [], [], [])
        self.listen(self.state.events.runs_dir, self.refresh_runs)
        self.listen(self.state.events.checkpoints, self.refresh_runs)
        self.listen(self.state.events.recording, self._update_buttons)
        self.refresh_runs()
        self._update_buttons()

    # -- runs ------------------------------------------------------------------------------
    def refresh_runs(self, *_: Any) -> None:
        """List the runs under the runs folder (newest first)."""
        current = self.resume_combo.currentData()
        self.resume_combo.clear()
        for run in find_checkpoints(Path(self.state.runs_dir)):
            if (run / "last" / "config.json").is_file():
                self.resume_combo.addItem(run.name, str(run))
        if current is not None and self.resume_combo.findData(current) >= 0:
            self.resume_combo.setCurrentIndex(self.resume_combo.findData(current))
        self._update_buttons()

    def _update_buttons(self, *_: Any) -> None:
        idle = not self.jobs.busy
        self.start_button.setEnabled(idle)
        self.resume_button.setEnabled(idle and self.resume_combo.count() > 0)

    # -- start / resume --------------------------------------------------------------------
    def start(self) -> Any:
        """Start a new run with the panel's settings; returns the worker (None if not possible)."""
        name = self.form.run_name.value.strip() or self._default_run_name()
        return self._launch(Path(self.state.runs_dir) / name)

    def resume(self) -> Any:
        """Continue the selected run from its ``last/`` checkpoint; returns the worker."""
        run = self.resume_combo.currentData()
        return None if run is None else self._launch(Path(run))

    def _default_run_name(self) -> str:
        data = self.form.data.value.strip()
        stem = (
            Path(data).stem
            if data
            else (self.state.recording.source.stem if self.state.recording is not None else "run")
        )
        return f"ft-{stem}-{time.strftime('%Y%m%d-%H%M%S')}"

    def _launch(self, run_dir: Path) -> Any:
        from napari.utils.notifications import show_error

        if self.jobs.busy:
            return None
        data = self.form.data.value.strip()
        recording: Any = data or self.state.recording
        if recording is None:
            show_error("Fine-tune: open a recording first (or type a data path)")
            return None
        from src_models.dat.config import read_config_file
        from src_models.errors import CalmError

        settings = self.read_settings(FinetuneSettings)
        if settings is None:
            return None
        path = self.form.config.value.strip()
        try:
            config = settings[0].config(read_config_file(path).get("finetune", {}) if path else {}).to_dict()
        except CalmError as exc:
            self.jobs.status.setText(f"error: {exc}")
            return None
        self._history = ([], [], [], [])
        self.canvas.show_history(*self._history)
        self.result_label.setText(f"run folder: {run_dir}")
        worker = workers.finetune_worker(
            recording, self.state.checkpoint, run_dir, config, self.state.device, seed=settings[0].seed
        )
        self.jobs.start(
            worker,
            on_result=self._finished,
            on_progress=self._progress,
            on_finished=self._update_buttons,
            label=f"fine-tuning {run_dir.name}",
        )
        self._update_buttons()
        return worker

    # -- progress --------------------------------------------------------------------------
    def _progress(self, items: list[Progress]) -> None:
        steps, losses, val_steps, vals = self._history
        total = items[-1].total if items else 0
        for item in items:
            info = item.metrics
            if info.get("loss") is None:
                continue
            steps.append(int(info["step"]))
            losses.append(float(info["loss"]))
            val = info.get("val_loss")
            if val is not None and (not vals or float(val) != vals[-1]):
                val_steps.append(int(info["step"]))
                vals.append(float(val))
        self.canvas.show_history(steps, losses, val_steps, vals, total)

    def _finished(self, outcome: FinetuneOutcome) -> None:
        if outcome.stopped:
            self.result_label.setText(
                f"cancelled at step {outcome.step}/{outcome.total}; "
                f"Resume continues {Path(outcome.run_dir).name}"
            )
        else:
            best = (
                ""
                if outcome.best_val is None
                else f", best validation loss {outcome.best_val:.3f}"
            )
            self.result_label.setText(f"done: {outcome.step} steps{best} → {outcome.run_dir}")
            self.state.add_checkpoint(outcome.run_dir)
        self.refresh_runs()
