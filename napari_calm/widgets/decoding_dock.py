"""Decoding dock: decode a behaviour variable or trial label from the population.

Pick a target (behaviour variables and trial columns of the recording), the
supervised baselines to compare against, and run. The analysis
(:func:`src_models.analysis.decoding.decode`: CalM heads on pooled DAT states
and baselines on the traces, identical cross-validation folds, a
circular-shift chance level) runs in a worker. The plots show the decoded
against the true target over time (out-of-fold predictions of the best CalM
head and of the best baseline) and every model's score with the chance level.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from qtpy.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from napari_calm import workers
from napari_calm.widgets.dock_base import CalmDock
from napari_calm.widgets.job_panel import JobPanel
from napari_calm.widgets.plot_canvas import PALETTE, PlotCanvas

if TYPE_CHECKING:
    import napari

#: Supervised baselines offered, with whether they are ticked by default.
BASELINES = {"ridge": True, "mlp": True, "gru": False}


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
    """Decoding dock (napari-calm ``Decoding``).

    Parameters
    ----------
    viewer : napari.viewer.Viewer
        The viewer; injected by napari.
    """

    def __init__(self, viewer: napari.viewer.Viewer, parent: QWidget | None = None) -> None:
        super().__init__(viewer, parent)
        self.target_combo = QComboBox()
        self.target_combo.setToolTip("Behaviour variable (per frame) or trial column (per trial)")
        self.calm_check = QCheckBox("CalM heads (linear, MLP)")
        self.calm_check.setChecked(True)
        self.calm_check.setToolTip("Decode from the checkpoint's pooled hidden states")
        self.baseline_checks = {}
        base_row = QHBoxLayout()
        for name, on in BASELINES.items():
            box = QCheckBox(name)
            box.setChecked(on)
            box.setToolTip(f"Supervised {name} decoder on the z-scored traces")
            self.baseline_checks[name] = box
            base_row.addWidget(box)
        self.folds_spin = QSpinBox()
        self.folds_spin.setRange(2, 10)
        self.folds_spin.setValue(5)
        self.folds_spin.setToolTip("Cross-validation folds (contiguous blocks / runs of trials)")
        self.context_spin = QSpinBox()
        self.context_spin.setRange(1, 512)
        self.context_spin.setValue(48)
        self.context_spin.setToolTip("Causal window of frame-level decoders (frames)")
        self.shifts_spin = QSpinBox()
        self.shifts_spin.setRange(0, 1000)
        self.shifts_spin.setValue(20)
        self.shifts_spin.setToolTip(
            "Circular shifts of the target for the chance level (ridge refits)"
        )
        self.run_button = QPushButton("Decode")
        self.run_button.clicked.connect(self.run)
        self.jobs = JobPanel(self)
        self.score_label = QLabel("")
        self.score_label.setWordWrap(True)
        self.canvas = DecodingCanvas(viewer, self)

        form = QFormLayout()
        form.addRow("Target", self.target_combo)
        form.addRow("Model", self.calm_check)
        form.addRow("Baselines", base_row)
        form.addRow("Folds", self.folds_spin)
        form.addRow("Context", self.context_spin)
        form.addRow("Chance shifts", self.shifts_spin)
        layout = QVBoxLayout(self.body)
        layout.addLayout(form)
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
        if rec is None or target is None or self.jobs.busy:
            return None
        baselines = tuple(n for n, box in self.baseline_checks.items() if box.isChecked())
        worker = workers.decode_worker(
            rec,
            target,
            checkpoint=self.state.checkpoint if self.calm_check.isChecked() else None,
            device=self.state.device,
            baselines=baselines,
            n_folds=self.folds_spin.value(),
            context=self.context_spin.value(),
            n_shifts=self.shifts_spin.value(),
        )
        return self.jobs.start(
            worker, on_result=lambda r: self._store(rec, r), label=f"decoding {target}"
        )

    def _store(self, recording: Any, result: Any) -> None:
        if recording is self.state.recording:
            self.state.decoding = result

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
