"""Decoding dock: decode a behaviour variable or trial label from the population.

Pick a target and baselines; :func:`src_models.analysis.decoding.decode` (CalM's hybrid head on
DAT states and frame-resolution traces, baselines on the traces, identical folds, circular-shift
chance) runs in a worker. The plots show decoded against true target over time (best CalM head and
best baseline) and every score with chance.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from qtpy.QtWidgets import (QCheckBox, QComboBox, QLabel, QPushButton, QVBoxLayout, QWidget)

from napari_calm import workers
from napari_calm.widgets.dock_base import CalmDock, SettingsForm
from napari_calm.widgets.job_panel import JobPanel
from napari_calm.widgets.plot_canvas import PALETTE, PlotCanvas
from src_models.settings import DecodeSettings, split_names

if TYPE_CHECKING:
    import napari

#: Supervised baselines offered (ticked: ``DecodeSettings.baselines``, as ``calm decode``).
BASELINES = ("ridge", "mlp", "gru")


class DecodingCanvas(PlotCanvas):
    """Decoded vs true over time (top) and scores per model (bottom)."""

    def __init__(self, viewer: napari.Viewer, parent: QWidget | None = None) -> None:
        super().__init__(viewer, figsize=(5.0, 4.2), parent=parent)
        grid = self.figure.add_gridspec(2, 1, height_ratios=[1.6, 1.0])
        self.ax_time = self.figure.add_subplot(grid[0])
        self.ax_scores = self.figure.add_subplot(grid[1])
        self.apply_theme()

    def show_result(self, result: Any) -> None:
        """Plot one :class:`~src_models.analysis.decoding.DecodeResult`."""
        ax = self.ax_time
        self.clear_axes(ax)
        t, y = np.asarray(result.times), np.asarray(result.true, float)
        order = np.argsort(t)
        t, y = t[order], y[order]
        marker = "o" if result.level == "trial" else None
        style = {"lw": 0.9 if marker is None else 0.0, "marker": marker, "ms": 3}
        ax.plot(t, y, color=PALETTE["truth"], label="true", **style)
        for name, color in (
            (result.best_baseline, PALETTE["baseline"]),
            (result.best_calm, PALETTE["decoded"]),
        ):
            if name is not None:
                pred = np.asarray(result.predictions[name], float)[order]
                ax.plot(
                    t,
                    pred,
                    color=color,
                    alpha=0.9,
                    label=f"{name} ({result.headline(name):.2f})",
                    **style,
                )
        ax.set_xlabel("time (s)")
        ax.set_ylabel(result.target)
        if result.classes is not None:
            ax.set_yticks(range(len(result.classes)))
            ax.set_yticklabels([str(c) for c in result.classes])
        self.legend_above(ax, ncol=2)

        bx = self.ax_scores
        self.clear_axes(bx)
        models = [*result.calm_models, *result.baseline_models]
        values = [result.headline(m) for m in models]
        colors = [
            PALETTE["decoded"] if m in result.calm_models else PALETTE["baseline"] for m in models
        ]
        bx.barh(range(len(models)), np.nan_to_num(values), color=colors)
        bx.set_yticks(range(len(models)))
        bx.set_yticklabels(models)
        bx.set_ylim(len(models) - 0.5, -0.5)
        chance = result.chance.get(result.metric, np.nan)
        label = f"{result.metric} (out-of-fold)"
        if np.isfinite(chance):
            bx.axvline(chance, ls="--", lw=1.0, color=self.colors.text)
            label += f"; dashed: chance {chance:.2f}"
        bx.set_xlabel(label)
        self.refresh()


class DecodingDock(CalmDock):
    """Decoding dock (napari-calm ``Decoding``): the target and :class:`DecodeSettings`."""

    def build(self) -> None:
        self.target_combo = QComboBox()
        self.target_combo.setToolTip("Behaviour variable (per frame) or trial column (per trial)")
        self.calm_check = QCheckBox("CalM head (states + traces)")
        self.calm_check.setChecked(True)
        self.calm_check.setToolTip("Decode from the checkpoint's pooled hidden states")
        self.form = SettingsForm(
            (DecodeSettings, ("baselines", "folds", "context", "shifts")),
            baselines={"checklist": BASELINES},
            shifts={"label": "Chance shifts"},
        )
        self.run_button = QPushButton("Decode")
        self.run_button.clicked.connect(self.run)
        self.jobs = JobPanel(self)
        self.score_label = QLabel("")
        self.score_label.setWordWrap(True)
        self.canvas = DecodingCanvas(self.viewer, self)

        self.form.rows.insertRow(0, "Target", self.target_combo)
        self.form.rows.insertRow(1, "Model", self.calm_check)
        layout = QVBoxLayout(self.body)
        layout.addWidget(self.form)
        layout.addWidget(self.run_button)
        layout.addWidget(self.jobs)
        layout.addWidget(self.score_label)
        layout.addWidget(self.canvas, 1)

        self.listen(self.state.events.recording, self._on_recording)
        self.listen(self.state.events.decoding, self._on_result)
        self._on_recording()

    def _on_recording(self, *_: Any) -> None:
        from src_models.analysis.targets import available_targets

        rec = self.state.recording
        self.target_combo.clear()
        if rec is not None:
            have = available_targets(rec)
            for name in have["behavior"]:
                self.target_combo.addItem(f"{name} (behaviour)", name)
            for name in have["trials"]:
                self.target_combo.addItem(f"{name} (trials)", name)
        ok = self.target_combo.count() > 0 and self.state.n_neurons > 0
        self.run_button.setEnabled(ok)
        if rec is None:
            self.canvas.show_message("open a recording")
        elif self.state.n_neurons == 0:
            self.canvas.show_message("this recording has no ROIs yet")
        elif not ok:
            self.canvas.show_message("this recording has no behaviour variables or trial labels")
        else:
            self.canvas.show_message("choose a target and press Decode")
        self.score_label.setText("")

    def set_target(self, name: str) -> None:
        """Choose the target by name."""
        index = self.target_combo.findData(name)
        if index >= 0:
            self.target_combo.setCurrentIndex(index)

    def run(self) -> Any:
        """Decode the chosen target in a worker; returns the worker."""
        rec = self.state.recording
        target = self.target_combo.currentData()
        busy = rec is None or target is None or self.jobs.busy
        settings = None if busy else self.read_settings(DecodeSettings)
        if settings is None:
            return None
        (ds,) = settings
        worker = workers.decode_worker(
            rec,
            target,
            checkpoint=self.state.checkpoint if self.calm_check.isChecked() else None,
            device=self.state.device,
            baselines=split_names(ds.baselines),
            n_folds=ds.folds,
            context=ds.context,
            n_shifts=ds.shifts,
        )
        return self.start_job(worker, f"decoding {target}", "decoding")

    def _on_result(self, *_: Any) -> None:
        result = self.state.decoding
        if result is None:
            return
        self.canvas.show_result(result)
        parts = []
        best = result.best_calm
        if best is not None:
            parts.append(
                f"<b>CalM</b> ({best}) {result.metric} = <b>{result.headline(best):.3f}</b>"
            )
        for name, value in result.baselines.items():
            parts.append(f"{name} {value:.3f}")
        chance = result.chance.get(result.metric, float("nan"))
        parts.append(f"chance {chance:.3f}")
        self.score_label.setText(f"{result.target}: " + " · ".join(parts))
