"""Neuron inspector: one neuron's trace, NQ reconstruction, tokens, codebook, embedding and tuning.

Choose the neuron by clicking its ROI, from the list, with the spin box or ``Alt+Right`` /
``Alt+Left``. Plots: the z-scored trace with its reconstruction, the token strip on the same
time axis (hover shows the code id), and the codebook atlas with this neuron's codes
highlighted. Switching neurons only updates artist data (blitting), well within 100 ms.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from matplotlib.collections import LineCollection
from qtpy.QtCore import QItemSelectionModel, Qt
from qtpy.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from napari_calm.widgets.dock_base import CalmDock
from napari_calm.widgets.plot_canvas import PALETTE, PlotCanvas
from napari_calm.widgets.plot_data import code_usage, envelope, zscored_neuron

if TYPE_CHECKING:
    import napari

    from napari_calm.state import TokenCache

#: Width / height of the codebook atlas grid (sets codes per row).
ATLAS_ASPECT = 2.4


def atlas_columns(n_codes: int) -> int:
    """Codes per row of the codebook atlas for ``n_codes`` codes."""
    return max(1, min(n_codes, int(np.ceil(np.sqrt(n_codes * ATLAS_ASPECT)))))


class InspectorCanvas(PlotCanvas):
    """Trace + reconstruction, token strip and codebook atlas of one neuron (blitted).

    Traces are scaled to their own min–max range (the z-score range is printed), so the axes
    limits only change with the recording or the token cache.
    """

    def __init__(self, viewer: napari.Viewer, parent: QWidget | None = None) -> None:
        super().__init__(viewer, figsize=(5.0, 4.6), parent=parent, layout=None)
        fig = self.figure
        grid = fig.add_gridspec(
            4,
            1,
            height_ratios=[3.0, 0.4, 0.55, 2.4],
            hspace=0.08,
            left=0.1,
            right=0.98,
            top=0.98,
            bottom=0.02,
        )
        self.ax_trace = fig.add_subplot(grid[0])
        self.ax_tokens = fig.add_subplot(grid[1], sharex=self.ax_trace)
        self.ax_atlas = fig.add_subplot(grid[3])
        (self.raw_line,) = self.ax_trace.plot([], [], lw=0.7, color=PALETTE["raw"], label="trace")
        (self.recon_line,) = self.ax_trace.plot(
            [], [], lw=0.9, color=PALETTE["recon"], label="NQ reconstruction"
        )
        self.time_line = self.ax_trace.axvline(0.0, lw=0.8, ls=":", color=PALETTE["select"])
        self.ax_trace.legend(loc="upper right", fontsize=7, frameon=True)
        self.ax_trace.set_ylim(-0.08, 1.12)
        self.ax_trace.set_yticks([])
        self.ax_trace.set_ylabel("trace (min–max)")
        self.ax_trace.tick_params(labelbottom=False)
        self.token_image = self.ax_tokens.imshow(
            np.zeros((1, 1)),
            aspect="auto",
            interpolation="nearest",
            cmap="tab20",
            extent=(0, 1, 0, 1),
            vmin=0,
            vmax=19,
        )
        self.ax_tokens.set_yticks([])
        self.ax_tokens.set_ylabel("tokens", rotation=0, ha="right", va="center")
        self.ax_tokens.set_xlabel("time (s)", labelpad=1)
        self.atlas_all = None
        (self.atlas_used,) = self.ax_atlas.plot([], [], lw=1.0, color=PALETTE["recon"])
        (self.atlas_often,) = self.ax_atlas.plot([], [], lw=2.2, color=PALETTE["recon"])
        self.atlas_text = self.ax_atlas.text(
            0.5, 0.5, "", ha="center", va="center", transform=self.ax_atlas.transAxes, fontsize=8
        )
        self.ax_atlas.set_xticks([])
        self.ax_atlas.set_yticks([])
        self.ax_atlas.set_ylabel("codebook")
        self._atlas_segments: np.ndarray | None = None
        self._atlas_xy: np.ndarray | None = None
        self.set_animated(
            [
                self.raw_line,
                self.recon_line,
                self.token_image,
                self.atlas_used,
                self.atlas_often,
                self.time_line,
            ]
        )
        self.apply_theme()

    def on_theme(self) -> None:
        """Unused atlas codes take the theme's colours."""
        if self.atlas_all is not None:
            self.atlas_all.set_color(self.colors.grid if self.colors.dark else "#b9b9b9")

    # -- per recording / token cache -------------------------------------------------------
    def set_time_axis(self, duration: float) -> None:
        """Fix the time axis to the recording (a full redraw)."""
        self.ax_trace.set_xlim(0.0, duration if duration > 0 else 1.0)
        self.request_draw()

    def set_codebook(self, codebook: np.ndarray | None) -> None:
        """Lay out every code's waveform in a grid (once per token cache; a full redraw)."""
        if self.atlas_all is not None:
            self.atlas_all.remove()
        self.atlas_all = None
        self._atlas_segments = None
        self._atlas_xy = None
        self.atlas_used.set_data([], [])
        self.atlas_often.set_data([], [])
        if codebook is None or codebook.size == 0:
            self.atlas_text.set_text("tokenize the recording to see the codebook")
            self.request_draw()
            return
        self.atlas_text.set_text("")
        K, P = codebook.shape
        cols = atlas_columns(K)
        rows = int(np.ceil(K / cols))
        span = np.abs(codebook).max() or 1.0
        x = np.linspace(0.1, 0.9, P)
        k = np.arange(K)
        xs = (k % cols)[:, None] + x[None, :]
        ys = (rows - 1 - k // cols)[:, None] + 0.5 + 0.42 * codebook / span
        self._atlas_segments = np.stack([xs, ys], axis=-1)
        # every code as one NaN-terminated run, so highlighting is one indexed Line2D
        self._atlas_xy = np.concatenate([self._atlas_segments, np.full((K, 1, 2), np.nan)], axis=1)
        self.atlas_all = LineCollection(list(self._atlas_segments), linewidths=0.6)
        self.ax_atlas.add_collection(self.atlas_all)
        self.ax_atlas.set_xlim(0, cols)
        self.ax_atlas.set_ylim(0, rows)
        self.on_theme()
        self.request_draw()

    def atlas_code_at(self, x: float, y: float) -> int | None:
        """Code id of the atlas cell at data coordinates ``(x, y)``."""
        if self._atlas_segments is None:
            return None
        K = len(self._atlas_segments)
        cols = atlas_columns(K)
        rows = int(np.ceil(K / cols))
        code = (rows - 1 - int(np.floor(y))) * cols + int(np.floor(x))
        return code if 0 <= x < cols and 0 <= code < K else None

    # -- one neuron ------------------------------------------------------------------------
    def show_neuron(
        self,
        t: np.ndarray,
        z: np.ndarray,
        recon: np.ndarray | None,
        tokens: np.ndarray | None,
        token_seconds: float,
    ) -> tuple[float, float]:
        """Update and blit the animated artists for one neuron; returns the z-score range shown.

        Parameters
        ----------
        t, z, recon : ndarray
            ``(T,)`` frame times in seconds, z-scored trace and NQ reconstruction (or None).
        tokens : ndarray or None
            ``(n_tok,)`` code ids.
        token_seconds : float
            Duration of one token.
        """
        lo, hi = float(np.min(z)), float(np.max(z))
        scale = 1.0 / (hi - lo) if hi > lo else 1.0
        points = 2 * max(200, int(self.ax_trace.bbox.width))
        tx, ty = envelope(t, (z - lo) * scale, points)
        self.raw_line.set_data(tx, ty)
        if recon is not None:
            rx, ry = envelope(t, (recon - lo) * scale, points)
            self.recon_line.set_data(rx, ry)
        else:
            self.recon_line.set_data([], [])
        if tokens is not None and len(tokens):
            self.token_image.set_data((tokens % 20)[None, :].astype(float))
            self.token_image.set_extent((0.0, len(tokens) * token_seconds, 0, 1))
            self.token_image.set_visible(True)
        else:
            self.token_image.set_visible(False)
        if self._atlas_xy is not None and tokens is not None and len(tokens):
            used, often = code_usage(tokens, len(self._atlas_xy))
            for line, codes in ((self.atlas_used, used), (self.atlas_often, often)):
                xy = self._atlas_xy[codes].reshape(-1, 2)
                line.set_data(xy[:, 0], xy[:, 1])
        else:
            self.atlas_used.set_data([], [])
            self.atlas_often.set_data([], [])
        self.blit_update()
        return lo, hi


class InspectorDock(CalmDock):
    """Neuron inspector dock (napari-calm ``Neuron inspector``)."""

    def build(self) -> None:
        self.spin = QSpinBox()
        self.spin.setMinimum(0)
        self.spin.setKeyboardTracking(False)
        self.spin.setToolTip("Neuron (row) index; Alt+Right / Alt+Left in the viewer step too")
        self.prev_button = QPushButton("◀")
        self.next_button = QPushButton("▶")
        for b in (self.prev_button, self.next_button):
            b.setFixedWidth(32)
        self.prev_button.clicked.connect(lambda: self.state.step(-1))
        self.next_button.clicked.connect(lambda: self.state.step(+1))
        self.spin.valueChanged.connect(self._spin_changed)
        self.neuron_list = QListWidget()
        self.neuron_list.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.neuron_list.setMaximumHeight(90)
        self.neuron_list.itemSelectionChanged.connect(self._list_changed)
        self.info = QLabel("Open a recording in the Recording & model dock.")
        self.info.setWordWrap(True)
        self.info.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.hover = QLabel("")
        self.title = QLabel("")
        self.canvas = InspectorCanvas(self.viewer, self)
        self.canvas.canvas.mpl_connect("motion_notify_event", self._hover)

        top = QHBoxLayout()
        top.addWidget(QLabel("Neuron"))
        top.addWidget(self.spin, 1)
        top.addWidget(self.prev_button)
        top.addWidget(self.next_button)
        layout = QVBoxLayout(self.body)
        layout.addLayout(top)
        layout.addWidget(self.neuron_list)
        layout.addWidget(self.info)
        layout.addWidget(self.title)
        layout.addWidget(self.canvas, 1)
        layout.addWidget(self.hover)

        self._updating = False
        self.listen(self.state.events.recording, self._on_recording)
        self.listen(self.state.events.current, self._on_current)
        self.listen(self.state.events.selected, self._sync_list)
        self.listen(self.state.events.tokens, self._on_tokens)
        self.listen(self.state.events.embeddings, self._on_current)
        self.listen(self.viewer.dims.events.current_step, self._on_time)
        self._on_recording()

    # -- state -> widgets ------------------------------------------------------------------
    def _on_recording(self, *_: Any) -> None:
        rec = self.state.recording
        self._updating = True
        try:
            self.neuron_list.clear()
            n = self.state.n_neurons
            self.spin.setMaximum(max(n - 1, 0))
            self.spin.setEnabled(n > 0)
            if rec is not None:
                self.canvas.set_time_axis(rec.n_frames / float(rec.fs))
                ids = None if rec.rois is None else np.asarray(rec.rois.ids)
                self.neuron_list.addItems(
                    [f"{i}" if ids is None else f"{i}  (ROI id {ids[i]})" for i in range(n)]
                )
        finally:
            self._updating = False
        self._on_tokens()

    def _on_tokens(self, *_: Any) -> None:
        tokens = self.state.tokens
        self.canvas.set_codebook(None if tokens is None else tokens.codebook)
        self._on_current()

    def _sync_list(self, *_: Any) -> None:
        self._updating = True
        try:
            self.neuron_list.clearSelection()
            for i in self.state.selected:
                item = self.neuron_list.item(i)
                if item is not None:
                    item.setSelected(True)
            current = (
                None if self.state.current is None else self.neuron_list.item(self.state.current)
            )
            if current is not None:
                self.neuron_list.setCurrentItem(
                    current, QItemSelectionModel.SelectionFlag.NoUpdate
                )
                self.neuron_list.scrollToItem(current)
        finally:
            self._updating = False

    def _on_current(self, *_: Any) -> None:
        """Show the current neuron (called on every selection change: keep it cheap)."""
        i = self.state.current
        rec = self.state.recording
        if rec is None or i is None:
            self.info.setText("Open a recording in the Recording & model dock.")
            return
        self._updating = True
        try:
            self.spin.setValue(i)
        finally:
            self._updating = False
        t = np.arange(rec.n_frames) / float(rec.fs)
        z, mu, sd = zscored_neuron(rec, i)
        cache: TokenCache | None = self.state.tokens
        recon = tokens = None
        token_seconds = 1.0
        if cache is not None and cache.tokens.shape[0] == rec.n_neurons:
            if cache.z is not None:  # the prepared trace the DAT reads, and its reconstruction
                z, mu, sd = cache.z[i], 0.0, 1.0
            recon = (cache.recon[i] - mu) / sd
            tokens = cache.tokens[i]
            token_seconds = rec.n_frames / float(rec.fs) / max(cache.tokens.shape[1], 1)
        title = f"neuron {i}" + (
            "" if rec.rois is None else f" · ROI id {np.asarray(rec.rois.ids)[i]}"
        )
        lo, hi = self.canvas.show_neuron(t, z, recon, tokens, token_seconds)
        self.title.setText(f"<b>{title}</b> · z from {lo:.1f} to {hi:.1f}")
        self.info.setText(self._describe(i, cache))

    def _describe(self, i: int, cache: TokenCache | None) -> str:
        """One-paragraph summary: tokens, embedding coordinates, cue/choice selectivity."""
        parts = []
        if cache is None:
            parts.append("tokens: not computed (Recording dock → Tokenize)")
        else:
            codes = np.unique(cache.tokens[i])
            parts.append(
                f"{cache.tokens.shape[1]} tokens, "
                f"{len(codes)} distinct codes of {cache.codebook_size}"
            )
        emb = self.state.embeddings
        if emb is None:
            parts.append("embedding: not computed (Recording dock → Embed)")
        else:
            coords = ", ".join(
                f"{m} ({xy[i, 0]:.2f}, {xy[i, 1]:.2f})" for m, xy in emb.coords.items()
            )
            parts.append(f"embedding: {coords}")
            for what in ("cue", "choice"):
                si = emb.features.get(f"{what}_si")
                p = emb.features.get(f"{what}_p")
                if si is not None:
                    p_text = "" if p is None or not np.isfinite(p[i]) else f", p = {p[i]:.3g}"
                    parts.append(f"{what} SI {si[i]:+.2f}{p_text}")
        return " · ".join(parts)

    def _on_time(self, *_: Any) -> None:
        """Move the time cursor to the viewer's current frame (movie recordings only)."""
        rec = self.state.recording
        if rec is None:
            return
        step = self.viewer.dims.current_step
        if rec.movie is not None and len(step) >= 3:
            self.canvas.time_line.set_xdata([step[0] / float(rec.fs)] * 2)
            self.canvas.time_line.set_visible(True)
        else:
            self.canvas.time_line.set_visible(False)
        self.canvas.blit_update()

    # -- widgets -> state ------------------------------------------------------------------
    def _spin_changed(self, value: int) -> None:
        if not self._updating and value != self.state.current:
            self.state.select([value])

    def _list_changed(self) -> None:
        if self._updating:
            return
        rows = sorted(self.neuron_list.row(item) for item in self.neuron_list.selectedItems())
        if rows and tuple(rows) != tuple(sorted(self.state.selected)):
            current = self.neuron_list.currentRow()
            order = [current] + [r for r in rows if r != current] if current in rows else rows
            self.state.select(order)

    def _hover(self, event: Any) -> None:
        """Show the code id under the pointer (token strip or atlas)."""
        cache = self.state.tokens
        rec = self.state.recording
        if cache is None or rec is None or event.inaxes is None or self.state.current is None:
            self.hover.setText("")
            return
        if event.inaxes is self.canvas.ax_tokens:
            seconds = rec.n_frames / float(rec.fs) / max(cache.tokens.shape[1], 1)
            j = int(event.xdata // seconds)
            if 0 <= j < cache.tokens.shape[1]:
                code = int(cache.tokens[self.state.current, j])
                self.hover.setText(f"token {j} (t = {j * seconds:.2f} s): code {code}")
                return
        if event.inaxes is self.canvas.ax_atlas:
            code = self.canvas.atlas_code_at(event.xdata, event.ydata)
            if code is not None:
                n = int((cache.tokens[self.state.current] == code).sum())
                self.hover.setText(f"code {code}: used {n}× by this neuron")
                return
        self.hover.setText("")
