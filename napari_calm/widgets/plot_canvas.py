"""A matplotlib canvas for the CalM docks that follows napari's theme and idles while hidden.

:class:`PlotCanvas` owns a figure under a navigation toolbar, styled with ``viewer.theme``, and
never redraws while it cannot be seen (:meth:`PlotCanvas.request_draw` then only marks it
dirty). Plots that change often blit their :meth:`PlotCanvas.set_animated` artists with
:meth:`PlotCanvas.blit_update`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from qtpy.QtCore import QEvent, QSize, Qt
from qtpy.QtGui import QColor, QPalette
from qtpy.QtWidgets import QSizePolicy, QVBoxLayout, QWidget

if TYPE_CHECKING:
    import napari
    from matplotlib.axes import Axes

#: Data colours that read on both the dark and the light theme.
PALETTE = {
    "raw": "#7f8c99",
    "recon": "#ff8c1a",
    "truth": "#3fa7d6",
    "forecast": "#e8467c",
    "band": "#e8467c",
    "decoded": "#e8467c",
    "select": "#ffd400",
    "baseline": "#9b9b9b",
}

#: Navigation toolbar actions kept (matplotlib's subplot and figure editors are left out).
TOOLBAR_ACTIONS = ("Home", "Back", "Forward", "Pan", "Zoom", "Save")


@dataclass(frozen=True)
class ThemeColors:
    """The napari theme colours a plot needs, as hex strings.

    Attributes
    ----------
    background, text, grid, highlight : str
        Figure background, text and neutral data, grid lines, accent (napari's ``current``).
    dark : bool
        Whether the theme is a dark one.
    """

    background: str
    text: str
    grid: str
    highlight: str
    dark: bool

    @classmethod
    def from_viewer(cls, viewer: napari.Viewer) -> ThemeColors:
        """Colours of ``viewer.theme`` (``'system'`` resolves to dark or light)."""
        from napari.utils.theme import get_theme

        theme = get_theme(viewer.theme)
        return cls(
            background=theme.background.as_hex(),
            text=theme.text.as_hex(),
            grid=theme.primary.as_hex(),
            highlight=theme.current.as_hex(),
            dark=theme.type == "dark",
        )


class PlotCanvas(QWidget):
    """A themed matplotlib figure that draws only while visible.

    Owners create axes on :attr:`figure`, update artists, then call :meth:`refresh` (or
    :meth:`blit_update`); theme-dependent artists are re-coloured in :meth:`on_theme`.

    Parameters
    ----------
    viewer : napari.Viewer
        Viewer whose theme the plot follows.
    figsize : tuple of float
        Initial figure size in inches.
    parent : QWidget, optional
        Qt parent.
    layout : {'constrained', None}
        ``'constrained'`` for rarely redrawn plots, None (fixed positions) for blitted ones.
    """

    def __init__(
        self,
        viewer: napari.Viewer,
        figsize: tuple[float, float] = (4.0, 2.5),
        parent: QWidget | None = None,
        layout: str | None = "constrained",
    ) -> None:
        super().__init__(parent)
        from matplotlib.backends.backend_qtagg import NavigationToolbar2QT
        from matplotlib.figure import Figure

        self._viewer = viewer
        self.figure = Figure(figsize=figsize, dpi=90, layout=layout)
        self.canvas = _gated_canvas_class()(self.figure, self)
        self.canvas.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.canvas.setMinimumHeight(int(figsize[1] * 60))
        self.canvas.setFocusPolicy(Qt.FocusPolicy.ClickFocus)
        self.canvas.installEventFilter(self)
        self.toolbar = NavigationToolbar2QT(self.canvas, self, coordinates=False)
        self.toolbar.setIconSize(QSize(16, 16))
        for action in self.toolbar.actions():
            if action.text() and action.text() not in TOOLBAR_ACTIONS:
                self.toolbar.removeAction(action)
        box = QVBoxLayout(self)
        box.setContentsMargins(0, 0, 0, 0)
        box.setSpacing(0)
        box.addWidget(self.toolbar)
        box.addWidget(self.canvas)
        self.colors = ThemeColors.from_viewer(viewer)
        self._style_toolbar()
        self._dirty = True
        self._animated: list[Any] = []
        self._background: Any = None
        self.draw_count = 0
        self.blit_count = 0
        self.paint_count = 0
        self.canvas.mpl_connect("draw_event", self._on_draw_event)
        theme_event, callback = viewer.events.theme, self._on_theme_event
        theme_event.connect(callback)
        self.destroyed.connect(lambda *_: theme_event.disconnect(callback))

    # -- theme -----------------------------------------------------------------------------
    def _on_theme_event(self, event: Any = None) -> None:
        self.colors = ThemeColors.from_viewer(self._viewer)
        self._style_toolbar()
        self.refresh()

    def _style_toolbar(self) -> None:
        """Give the toolbar the theme's colours; its icons are drawn light on a dark background."""
        palette = self.toolbar.palette()
        palette.setColor(QPalette.ColorRole.Window, QColor(self.colors.background))
        palette.setColor(QPalette.ColorRole.WindowText, QColor(self.colors.text))
        self.toolbar.setPalette(palette)
        self.toolbar.setStyleSheet(
            f"QToolBar {{ background: {self.colors.background}; border: none; spacing: 1px; }}"
            f"QToolButton {{ padding: 1px; }}"
            f"QToolButton:checked {{ background: {self.colors.grid}; }}"
        )
        self.toolbar.update()

    def apply_theme(self) -> None:
        """Colour the figure, every axes and the subclass's artists for the current theme."""
        c = self.colors
        self.figure.set_facecolor(c.background)
        for ax in self.figure.axes:
            self.style_axes(ax)
        self.on_theme()

    def style_axes(self, ax: Axes) -> None:
        """Theme one axes: background, spines, ticks, labels, title, texts and legend."""
        c = self.colors
        ax.set_facecolor(c.background)
        for spine in ax.spines.values():
            spine.set_color(c.text)
        ax.tick_params(colors=c.text, labelcolor=c.text, labelsize=7)
        ax.xaxis.label.set_color(c.text)
        ax.yaxis.label.set_color(c.text)
        ax.title.set_color(c.text)
        for size_label in (ax.xaxis.label, ax.yaxis.label):
            size_label.set_fontsize(8)
        ax.title.set_fontsize(9)
        for text in ax.texts:
            text.set_color(c.text)
        legend = ax.get_legend()
        if legend is not None:
            legend.get_frame().set_facecolor(c.background)
            legend.get_frame().set_edgecolor(c.grid)
            for text in legend.get_texts():
                text.set_color(c.text)

    def on_theme(self) -> None:
        """Hook: re-colour theme-dependent artists (default: nothing)."""

    @staticmethod
    def legend_above(ax: Axes, ncol: int) -> None:
        """A frameless legend in one row above ``ax``."""
        ax.legend(
            loc="lower left",
            bbox_to_anchor=(0.0, 1.0),
            fontsize=7,
            ncol=ncol,
            frameon=False,
            borderaxespad=0.1,
        )

    def show_message(self, text: str) -> None:
        """Clear every axes and write ``text`` in the middle of the first (no result to plot)."""
        axes = self.figure.axes
        for ax in axes:
            self.clear_axes(ax)
        ax = axes[0]
        ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, fontsize=8)
        self.refresh()

    @staticmethod
    def clear_axes(ax: Axes) -> None:
        """Remove the data artists of ``ax``, keep its axis setup (cheaper than ``ax.clear()``)."""
        for artist in [*ax.lines, *ax.collections, *ax.patches, *ax.texts, *ax.images]:
            artist.remove()
        legend = ax.get_legend()
        if legend is not None:
            legend.remove()
        from matplotlib.ticker import AutoLocator, ScalarFormatter

        for axis in (ax.xaxis, ax.yaxis):
            axis.set_major_locator(AutoLocator())
            axis.set_major_formatter(ScalarFormatter())
        ax.set_title("")
        ax.relim()
        ax.autoscale()

    # -- drawing ---------------------------------------------------------------------------
    def on_screen(self) -> bool:
        """Whether any part of the plot can be seen (a dock behind another tab cannot)."""
        return self.isVisible() and not self.canvas.visibleRegion().isEmpty()

    def refresh(self) -> None:
        """Re-theme every artist and redraw (see :meth:`request_draw`)."""
        self.apply_theme()
        self.request_draw()

    def request_draw(self) -> None:
        """Redraw soon if on screen; otherwise remember to redraw when it is exposed."""
        self.canvas.draw_idle()

    def draw_now(self) -> None:
        """Draw synchronously (used when a result must be on screen immediately)."""
        self._dirty = False
        self.canvas.draw()

    @property
    def dirty(self) -> bool:
        """True while a requested redraw waits for the widget to be shown."""
        return self._dirty

    def eventFilter(self, watched: Any, event: QEvent) -> bool:  # noqa: N802 (Qt API)
        """Count paints; when the canvas is exposed again (shown, tab selected), draw changes."""
        if watched is self.canvas and event.type() == QEvent.Type.Paint:
            self.paint_count += 1
            if self._dirty:
                self.canvas.draw_idle()
        return False

    # -- blitting --------------------------------------------------------------------------
    def set_animated(self, artists: list[Any]) -> None:
        """Declare the artists :meth:`blit_update` redraws (left out of the background)."""
        for artist in artists:
            artist.set_animated(True)
        self._animated = list(artists)

    def blit_update(self) -> None:
        """Redraw only the animated artists over the cached background (full draw if none yet)."""
        if not self.on_screen():
            self._dirty = True
            return
        if self._background is None or self._dirty:
            self.request_draw()
            return
        self.canvas.restore_region(self._background)
        self._draw_animated()
        self.canvas.update()
        self.blit_count += 1

    def _draw_animated(self) -> None:
        for artist in self._animated:
            if artist.get_visible() and artist.axes is not None:
                artist.axes.draw_artist(artist)
            elif artist.get_visible():
                self.figure.draw_artist(artist)

    def _on_draw_event(self, _event: Any) -> None:
        """After a full draw: cache the background and paint the animated artists on it."""
        self.draw_count += 1
        if self._animated:
            self._background = self.canvas.copy_from_bbox(self.figure.bbox)
            self._draw_animated()


_GATED: type | None = None


def _gated_canvas_class() -> type:
    """``FigureCanvasQTAgg`` whose ``draw_idle`` only marks the plot dirty while off screen."""
    global _GATED
    if _GATED is None:
        from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg

        class GatedCanvas(FigureCanvasQTAgg):
            def __init__(self, figure: Any, owner: PlotCanvas) -> None:
                super().__init__(figure)
                self._owner = owner

            def draw_idle(self) -> None:
                owner = getattr(self, "_owner", None)  # None while the base class initialises
                if owner is None or owner.on_screen():
                    if owner is not None:
                        owner._dirty = False
                    super().draw_idle()
                else:
                    owner._dirty = True

        _GATED = GatedCanvas
    return _GATED
