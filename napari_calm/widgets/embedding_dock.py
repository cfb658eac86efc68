"""Embedding map: neurons as points of a UMAP (as ``calm embed``) or PCA map of their embeddings.

Points are coloured by selectivity or any per-neuron feature. Clicking or lasso-ing points
(Shift adds/toggles) selects neurons, outlined in the image; neurons selected elsewhere are
ringed in the map; *Colour ROIs* paints the ROIs alike (*Reset colours* undoes it). The UMAP map
is computed in a worker when first shown (its first run compiles for about a minute).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from qtpy.QtCore import Qt
from qtpy.QtWidgets import (
    QApplication,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from napari_calm import workers
from napari_calm.widgets.dock_base import CalmDock, SettingsForm
from napari_calm.widgets.job_panel import JobPanel
from napari_calm.widgets.plot_canvas import PALETTE, PlotCanvas
from napari_calm.widgets.plot_data import feature_colors
from src_models.settings import EmbedSettings

if TYPE_CHECKING:
    import napari

#: "Colour by" entry meaning a single colour.
NO_FEATURE = "(none)"
#: Pick radius of a click on the map, in pixels.
PICK_RADIUS_PX = 8.0


def probe_summary(analysis: Any) -> str:
    """One line per tuning probe of the primary embedding of a ``NeuronMap`` ('' when none)."""
    if analysis is None:
        return ""
    probes = analysis.probes.get(analysis.primary, {})
    lines = []
    for key, label in ((k, k[3:] + " SI") for k in probes if k.startswith("si_")):
        p = probes[key]
        lines.append(
            f"{label} from the embedding: R² <b>{p['score']:.2f}</b> "
            f"(shuffled 95 %: {p['shuffled_p95']:.2f}, p = {p['p']:.3g})"
        )
    return "<br>".join(lines)


class EmbeddingCanvas(PlotCanvas):
    """The scatter, the selection rings, a colour bar and the lasso."""

    def __init__(
        self, viewer: napari.Viewer, on_select: Any, parent: QWidget | None = None
    ) -> None:
        super().__init__(viewer, figsize=(4.2, 3.8), parent=parent)
        from matplotlib.widgets import LassoSelector

        self.ax = self.figure.add_subplot()
        self.points = self.ax.scatter([], [], s=14, linewidths=0)
        self.rings = self.ax.scatter(
            [], [], s=70, facecolors="none", edgecolors=PALETTE["select"], linewidths=1.6
        )
        self.colorbar: Any = None
        self.xy = np.zeros((0, 2))
        self._on_select = on_select
        self.lasso = LassoSelector(
            self.ax,
            self._lasso_done,
            useblit=True,
            props={"color": PALETTE["select"], "linewidth": 1.2},
        )
        self.set_animated([self.rings])
        self.apply_theme()

    def set_points(
        self, xy: np.ndarray, colors: np.ndarray | None, mappable: Any, label: str, method: str
    ) -> None:
        """Show ``(N, 2)`` points with per-point colours (None: one neutral colour)."""
        self.xy = np.asarray(xy, float)
        self.points.set_offsets(self.xy)
        if colors is None:
            self.points.set_facecolors(PALETTE["truth"])
        else:
            self.points.set_facecolors(colors)
        if len(self.xy):
            lo, hi = self.xy.min(0), self.xy.max(0)
            pad = 0.06 * np.maximum(hi - lo, 1e-6)
            self.ax.set_xlim(lo[0] - pad[0], hi[0] + pad[0])
            self.ax.set_ylim(lo[1] - pad[1], hi[1] + pad[1])
        self.ax.set_xlabel(f"{method} 1")
        self.ax.set_ylabel(f"{method} 2")
        if self.colorbar is not None:
            self.colorbar.remove()
            self.colorbar = None
        if mappable is not None:
            self.colorbar = self.figure.colorbar(mappable, ax=self.ax, fraction=0.06, pad=0.02)
            self.colorbar.set_label(label, fontsize=8)
            if getattr(mappable, "categories", None):
                self.colorbar.set_ticks(range(len(mappable.categories)), labels=mappable.categories, fontsize=7)
        self.refresh()

    def set_selected(self, selected: tuple[int, ...]) -> None:
        """Ring the selected neurons (redrawn by blitting)."""
        idx = [i for i in selected if i < len(self.xy)]
        self.rings.set_offsets(self.xy[idx] if idx else np.zeros((0, 2)))
        self.blit_update()

    def on_theme(self) -> None:
        """Colour bar text follows the theme."""
        if self.colorbar is not None:
            self.style_axes(self.colorbar.ax)
            self.colorbar.outline.set_edgecolor(self.colors.text)

    def _lasso_done(self, vertices: list[tuple[float, float]]) -> None:
        """A lasso around points selects them; a click (tiny lasso) picks the nearest point."""
        from matplotlib.path import Path as MplPath

        if not len(self.xy):
            return
        verts = np.asarray(vertices, float)
        add = bool(QApplication.keyboardModifiers() & Qt.KeyboardModifier.ShiftModifier)
        pix = self.ax.transData.transform(verts)
        if len(verts) < 3 or np.ptp(pix, axis=0).max() < PICK_RADIUS_PX:
            pts = self.ax.transData.transform(self.xy)
            d = np.hypot(*(pts - pix[-1]).T)
            nearest = int(np.argmin(d))
            self._on_select([nearest] if d[nearest] <= PICK_RADIUS_PX else [], add)
            return
        inside = np.flatnonzero(MplPath(verts).contains_points(self.xy))
        self._on_select(list(inside), add)


class EmbeddingDock(CalmDock):
    """Embedding map dock (napari-calm ``Embedding map``); the map is ``EmbedSettings.method``."""

    def build(self) -> None:
        self._original_colormap: Any = None
        self.form = SettingsForm(
            (EmbedSettings, ("method",)),
            method={"label": "Map", "choices": [("UMAP", "umap"), ("PCA", "pca")]},
        )
        self.form.method.changed.connect(self._method_changed)
        self.feature_combo = QComboBox()
        self.feature_combo.setToolTip("Per-neuron feature that colours the points (and the ROIs)")
        self.feature_combo.currentTextChanged.connect(self._feature_changed)
        self.color_rois_button = QPushButton("Colour ROIs")
        self.color_rois_button.setToolTip("Paint the ROIs in the image with the same colours")
        self.color_rois_button.clicked.connect(self.color_rois)
        self.reset_button = QPushButton("Reset colours")
        self.reset_button.clicked.connect(self.reset_roi_colors)
        self.hint = QLabel("Embed the recording in the Recording & model dock to see the map.")
        self.hint.setWordWrap(True)
        self.probe_label = QLabel("")
        self.probe_label.setWordWrap(True)
        self.probe_label.setToolTip(
            "Linear probes of the tuning from the embedding (cross-validated over "
            "neurons, against shuffled tuning)"
        )
        self.canvas = EmbeddingCanvas(self.viewer, self._select_from_map, self)
        self.jobs = JobPanel(self)
        self.jobs.setVisible(False)

        self.form.rows.addRow("Colour by", self.feature_combo)
        buttons = QHBoxLayout()
        buttons.addWidget(self.color_rois_button)
        buttons.addWidget(self.reset_button)
        layout = QVBoxLayout(self.body)
        layout.addWidget(self.form)
        layout.addWidget(self.hint)
        layout.addWidget(self.canvas, 1)
        layout.addWidget(self.probe_label)
        layout.addLayout(buttons)
        layout.addWidget(self.jobs)

        self.listen(self.state.events.embeddings, self._refresh)
        self.listen(self.state.events.recording, self._on_recording)
        self.listen(self.state.events.selected, self._on_selected)
        self.listen(self.state.events.color_feature, self._sync_feature_combo)
        self._on_recording()

    # -- state -> plot ---------------------------------------------------------------------
    def _on_recording(self, *_: Any) -> None:
        self._original_colormap = None
        self._refresh()

    def _refresh(self, *_: Any) -> None:
        features = self.state.neuron_features(self.viewer)
        names = [NO_FEATURE, *sorted(features, key=lambda n: (not n.endswith("_si"), n))]
        wanted = self.state.color_feature
        if wanted is None:
            wanted = next((n for n in ("tuning", "cue_si", "choice_si") if n in features), NO_FEATURE)
        self.feature_combo.blockSignals(True)
        try:
            self.feature_combo.clear()
            self.feature_combo.addItems(names)
            self.feature_combo.setCurrentText(wanted if wanted in names else NO_FEATURE)
        finally:
            self.feature_combo.blockSignals(False)
        self._draw_map()

    def _sync_feature_combo(self, *_: Any) -> None:
        name = self.state.color_feature or NO_FEATURE
        if self.feature_combo.currentText() != name and self.feature_combo.findText(name) >= 0:
            self.feature_combo.setCurrentText(name)

    def _draw_map(self) -> None:
        emb = self.state.embeddings
        method = self.method
        has = emb is not None and method in emb.coords
        self.color_rois_button.setEnabled(self.state.recording is not None)
        if emb is None:
            self.hint.setText("Embed the recording in the Recording & model dock to see the map.")
            self.hint.setVisible(True)
            self.canvas.set_points(np.zeros((0, 2)), None, None, "", method)
            return
        if not has:
            self.hint.setText(f"computing the {method} map…")
            self.hint.setVisible(True)
            if not self.jobs.busy:
                self.compute_map(method)
            return
        self.hint.setVisible(False)
        self.probe_label.setText(probe_summary(emb.analysis))
        name = self.feature_combo.currentText()
        colors, mappable = self._colors(name)
        self.canvas.set_points(emb.coords[method], colors, mappable, name, method)
        self.canvas.set_selected(self.state.selected)

    def _colors(self, name: str) -> tuple[np.ndarray | None, Any]:
        features = self.state.neuron_features(self.viewer)
        if name not in features:
            return None, None
        emb = self.state.embeddings
        categories = None
        if name == "tuning" and emb is not None and emb.analysis is not None:
            from src_models.analysis.selectivity import tuning_classes

            categories = tuning_classes(emb.analysis.selectivity)[1]
        return feature_colors(features[name], name, categories)

    def _on_selected(self, *_: Any) -> None:
        if self.state.embeddings is not None:
            self.canvas.set_selected(self.state.selected)

    # -- widgets -> state ------------------------------------------------------------------
    def _select_from_map(self, neurons: list[int], add: bool) -> None:
        if neurons or not add:
            self.state.select(neurons, add=add)

    def _feature_changed(self, name: str) -> None:
        self.state.color_feature = None if name == NO_FEATURE else name
        self._draw_map()

    @property
    def method(self) -> str:
        """The map shown: ``'PCA'`` or ``'UMAP'`` (a missing one is computed in the background)."""
        return str(self.form.method.value).upper()

    def _method_changed(self, *_: Any) -> None:
        self._draw_map()

    def compute_map(self, method: str) -> Any:
        """Compute a missing 2-D map (``'UMAP'``) of the cached embeddings in a worker."""
        emb = self.state.embeddings
        if emb is None:
            return None
        self.jobs.setVisible(True)
        return self.jobs.start(
            workers.map_worker(emb.states, method),
            on_result=lambda xy: self._store_map(emb, method, xy),
            label=f"{method} map",
        )

    def _store_map(self, emb: Any, method: str, xy: np.ndarray) -> None:
        if self.state.embeddings is emb:
            self.state.embeddings = emb.with_coords(method, xy)

    # -- ROI colours -----------------------------------------------------------------------
    def color_rois(self) -> None:
        """Colour every ROI in the image by the current feature (DirectLabelColormap)."""
        from napari.utils.colormaps import DirectLabelColormap

        labels = self.state.find_labels(self.viewer)
        if labels is None:
            return
        colors, _ = self._colors(self.feature_combo.currentText())
        if colors is None:
            self.reset_roi_colors()
            return
        if self._original_colormap is None:
            self._original_colormap = labels.colormap
        color_dict: dict[Any, Any] = {None: (0.0, 0.0, 0.0, 0.0), 0: (0.0, 0.0, 0.0, 0.0)}
        color_dict.update({i + 1: tuple(c) for i, c in enumerate(colors)})
        labels.colormap = DirectLabelColormap(color_dict=color_dict)

    def reset_roi_colors(self) -> None:
        """Restore the ROI layer's colours from before *Colour ROIs*."""
        labels = self.state.find_labels(self.viewer)
        if labels is not None and self._original_colormap is not None:
            labels.colormap = self._original_colormap
        self._original_colormap = None
