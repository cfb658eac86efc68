"""Forecast dock: CalM's forecasts of the selected neurons, their uncertainty and the metrics.

*Forecast* runs :meth:`src_models.engine.Adapted.forecast` in a worker (adapt on the first 60 %,
choose the variant on the next 20 %, forecast every test window of the last 20 %). For the
chosen window (*Viewer time*: the movie's frame) and horizon it shows per selected neuron (up to
:data:`MAX_PANELS`) context, truth, forecast and the 10–90 % band; the population mean and
per-neuron correlations; and the test split's metrics next to the copy-last baseline.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from qtpy.QtCore import Qt
from qtpy.QtWidgets import QHBoxLayout, QLabel, QPushButton, QSlider, QVBoxLayout, QWidget

from napari_calm import workers
from napari_calm.widgets.dock_base import CalmDock, SettingsForm
from napari_calm.widgets.job_panel import JobPanel
from napari_calm.widgets.plot_canvas import PALETTE, PlotCanvas
from napari_calm.widgets.plot_data import panel_columns
from src_models.settings import AdaptSettings, ForecastSettings

if TYPE_CHECKING:
    import napari

#: Selected neurons shown individually.
MAX_PANELS = 4


class ForecastCanvas(PlotCanvas):
    """Per-neuron panels plus a population panel, rebuilt when the neuron count changes."""

    def __init__(self, viewer: napari.Viewer, parent: QWidget | None = None) -> None:
        super().__init__(viewer, figsize=(5.0, 5.0), parent=parent)
        self._n_panels = -1
        self.neuron_axes: list[Any] = []
        self.ax_pop = None
        self.ax_corr = None
        self.hint = None
        self._layout(0)

    def _layout(self, n: int) -> None:
        if n == self._n_panels:
            return
        self.figure.clear()
        self._n_panels = n
        rows = n + 1
        grid = self.figure.add_gridspec(rows, 2, width_ratios=[3.0, 1.0])
        self.neuron_axes = [self.figure.add_subplot(grid[i, :]) for i in range(n)]
        self.ax_pop = self.figure.add_subplot(
            grid[n, 0], sharex=self.neuron_axes[0] if n else None
        )
        self.ax_corr = self.figure.add_subplot(grid[n, 1])

    def show_window(
        self,
        t: np.ndarray,
        context: np.ndarray,
        truth: np.ndarray,
        forecast: np.ndarray,
        band: tuple[np.ndarray, np.ndarray] | None,
        neurons: list[int],
        corr: np.ndarray,
    ) -> None:
        """Plot one forecast window.

        Parameters
        ----------
        t : ndarray
            ``(C + H,)`` seconds; the first C are the context.
        context, truth, forecast : ndarray
            ``(C, N)`` z-scored context, ``(H, N)`` truth and forecast.
        band : tuple of ndarray or None
            ``(H, N)`` lower and upper band.
        neurons : list of int
            Neurons given their own panel.
        corr : ndarray
            ``(N,)`` per-neuron correlation of forecast and truth in this window.
        """
        self._layout(len(neurons))
        C = context.shape[0]
        tc, th = t[:C], t[C:]
        ctx, tru, fc = (panel_columns(a, neurons) for a in (context, truth, forecast))
        bands = None if band is None else [panel_columns(b, neurons) for b in band]
        band_style = {"color": PALETTE["band"], "alpha": 0.25, "lw": 0, "label": "sampled 10–90 %"}
        for j, ax in enumerate([*self.neuron_axes, self.ax_pop]):
            self.clear_axes(ax)
            ax.plot(tc, ctx[:, j], color=PALETTE["raw"], lw=1.0, label="context")
            ax.plot(th, tru[:, j], color=PALETTE["truth"], lw=1.2, label="truth")
            ax.plot(th, fc[:, j], color=PALETTE["forecast"], lw=1.2, label="forecast")
            if bands is not None:
                ax.fill_between(th, bands[0][:, j], bands[1][:, j], **band_style)
            ax.axvline(th[0], color=self.colors.grid, lw=0.8)
            ax.tick_params(labelbottom=ax is self.ax_pop)
        for ax, i in zip(self.neuron_axes, neurons, strict=True):
            ax.set_ylabel(f"n{i} (z)")
        if self.neuron_axes:
            self.legend_above(self.neuron_axes[0], ncol=4)
        self.ax_pop.set_title("population mean")
        self.ax_pop.set_xlabel("time (s)")
        cx = self.ax_corr
        self.clear_axes(cx)
        finite = corr[np.isfinite(corr)]
        cx.hist(finite, bins=np.linspace(-1, 1, 21), color=PALETTE["forecast"], alpha=0.8)
        if finite.size:
            cx.axvline(float(np.mean(finite)), color=self.colors.text, lw=1.0, ls="--")
        cx.set_title("r per neuron")
        cx.set_xlim(-1, 1)
        self.refresh()

    def show_hint(self, text: str) -> None:
        """No forecast yet: a hint in place of the plots."""
        self._layout(0)
        self.show_message(text)


class ForecastDock(CalmDock):
    """Forecast dock (napari-calm ``Forecast``): :class:`ForecastSettings` and the adaptation steps."""

    def build(self) -> None:
        self.form = SettingsForm(
            (ForecastSettings, ("context", "horizon", "samples")),
            (AdaptSettings, ("steps",)),
            context={"label": "Context (frames)", "min": 1},
            horizon={"label": "Horizon (frames)", "min": 1},
            steps={"label": "Adapt steps"},
        )
        self.form.context.changed.connect(self._on_result)
        self.form.horizon.changed.connect(self._on_result)
        self.run_button = QPushButton("Forecast")
        self.run_button.clicked.connect(self.run)
        self.jobs = JobPanel(self)
        self.time_slider = QSlider(Qt.Orientation.Horizontal)
        self.time_slider.setEnabled(False)
        self.time_slider.setToolTip("Time point: one of the forecast test windows")
        self.time_slider.valueChanged.connect(self._plot_window)
        self.viewer_time_button = QPushButton("Viewer time")
        self.viewer_time_button.setToolTip(
            "Jump to the test window nearest the movie's current frame"
        )
        self.viewer_time_button.clicked.connect(self.go_to_viewer_time)
        self.time_label = QLabel("")
        self.metrics_label = QLabel("")
        self.metrics_label.setWordWrap(True)
        self.canvas = ForecastCanvas(self.viewer, self)

        time_row = QHBoxLayout()
        time_row.addWidget(self.time_slider, 1)
        time_row.addWidget(self.viewer_time_button)
        layout = QVBoxLayout(self.body)
        layout.addWidget(self.form)
        layout.addWidget(self.run_button)
        layout.addWidget(self.jobs)
        layout.addLayout(time_row)
        layout.addWidget(self.time_label)
        layout.addWidget(self.metrics_label)
        layout.addWidget(self.canvas, 1)

        self.listen(self.state.events.recording, self._on_recording)
        self.listen(self.state.events.forecast, self._on_result)
        self.listen(self.state.events.selected, self._plot_window)
        self._on_recording()

    # -- run -------------------------------------------------------------------------------
    def run(self) -> Any:
        """Forecast the recording in a worker (test windows ``horizon`` apart); returns the worker."""
        rec = self.state.recording
        busy = rec is None or self.jobs.busy
        settings = None if busy else self.read_settings(ForecastSettings, AdaptSettings)
        if settings is None:
            return None
        fs, adapt = settings
        worker = workers.forecast_worker(
            rec, self.state.checkpoint, self.state.device, fs.context, fs.horizon,
            n_samples=fs.samples, adapt_steps=adapt.steps,
        )
        return self.start_job(worker, "forecasting", "forecast")

    # -- display ---------------------------------------------------------------------------
    def _on_recording(self, *_: Any) -> None:
        self._on_result()

    def _too_short(self) -> str:
        """Why the recording cannot be forecast with this context and horizon ('' if it can)."""
        from src_models.dat.forecast import check_length
        from src_models.errors import CalmError

        rec = self.state.recording
        try:
            if rec is not None:
                check_length(rec.n_frames, self.form.context.value, self.form.horizon.value)
        except CalmError as exc:
            return f"too short to forecast: {exc}"
        return ""

    def _on_result(self, *_: Any) -> None:
        result = self.state.forecast
        has = result is not None
        why = self._too_short()
        self.run_button.setEnabled(self.state.n_neurons > 0 and not why)
        self.time_slider.setEnabled(has)
        self.viewer_time_button.setEnabled(
            has and self.state.recording is not None and self.state.recording.movie is not None
        )
        if not has:
            self.metrics_label.setText(why)
            self.time_label.setText("")
            rec = self.state.recording
            hint = "too short to forecast" if why else "press Forecast"
            self.canvas.show_hint("open a recording" if rec is None else hint)
            return
        m, b = result.metrics, result.baseline
        keys = [k for k in ("corr", "mse", "prediction_score") if k in m]
        self.metrics_label.setText(
            f"test split, {len(result.starts)} windows, variant <b>{result.selected}</b>: "
            + " · ".join(
                f"{k} <b>{m[k]:.3f}</b> (copy-last {b.get(k, float('nan')):.3f})" for k in keys
            )
        )
        self.time_slider.blockSignals(True)
        self.time_slider.setRange(0, len(result.starts) - 1)
        self.time_slider.setValue(len(result.starts) // 2)
        self.time_slider.blockSignals(False)
        self._plot_window()

    def go_to_viewer_time(self) -> None:
        """Show the test window whose time point is nearest the viewer's current frame."""
        result = self.state.forecast
        if result is None:
            return
        frame = self.viewer.dims.current_step[0]
        points = np.asarray(result.starts) + result.context
        self.time_slider.setValue(int(np.argmin(np.abs(points - frame))))

    def _plot_window(self, *_: Any) -> None:
        result, rec = self.state.forecast, self.state.recording
        if result is None or rec is None:
            return
        w = self.time_slider.value()
        start = int(result.starts[w])
        C, H = result.context, result.horizon
        z = result.z
        context = z[:, start : start + C].T
        truth, pred = result.true[w], result.pred[w]
        band = None if result.lower is None else (result.lower[w], result.upper[w])
        t = (start + np.arange(C + H)) / float(result.fs)
        neurons = [i for i in self.state.selected if i < truth.shape[1]][:MAX_PANELS]
        corr = result.window_corr(w)
        self.time_label.setText(
            f"time point {t[C]:.2f} s (frame {start + C}) · window {w + 1}/{len(result.starts)} · "
            f"mean r this window {np.nanmean(corr):.2f}"
        )
        self.canvas.show_window(t, context, truth, pred, band, neurons, corr)

