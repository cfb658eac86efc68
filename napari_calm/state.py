"""One shared, evented state object per napari viewer for the CalM docks.

Every dock reads and writes the same :class:`CalmState` (``get_state(viewer)``)
and listens to its psygnal signals, so the docks never talk to each other. The
state is kept weakly keyed by the viewer, so closing a viewer frees it. Whenever
a layer carrying a recording (``layer.metadata['calm_recording']``) is added,
that recording becomes the current one, wherever the layer came from.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from psygnal import evented

from napari_calm.layers import RECORDING_KEY

if TYPE_CHECKING:
    import napari

    from src_models.recording import Recording


@dataclass(frozen=True, eq=False)
class TokenCache:
    """NQ tokens of every neuron of the current recording.

    Attributes
    ----------
    checkpoint : str
        Checkpoint whose tokenizer produced the tokens.
    tokens : ndarray
        ``(N, n_tok)`` integer code ids: the causal tokens the DAT reads.
    recon : ndarray
        ``(N, T)`` NQ reconstruction in the space of ``z`` (NaN after the last token).
    patch_len : int
        Frames per token P (token ``j`` covers frames ``j*P .. (j+1)*P``).
    codebook : ndarray
        ``(K, P)`` decoded waveform of every code (the codebook atlas).
    metrics : dict
        Reconstruction metrics (``recon_r_median``, ``recon_r_mean``).
    z : ndarray, optional
        ``(N, T)`` the prepared, z-scored traces the tokens come from.
    """

    checkpoint: str
    tokens: np.ndarray
    recon: np.ndarray
    patch_len: int
    codebook: np.ndarray
    metrics: dict[str, Any] = field(default_factory=dict)
    z: np.ndarray | None = None

    @property
    def codebook_size(self) -> int:
        """K, the number of codes."""
        return int(self.codebook.shape[0])


@dataclass(frozen=True, eq=False)
class EmbeddingCache:
    """Per-neuron CalM embeddings, their 2-D maps and derived features.

    Attributes
    ----------
    checkpoint : str
        Checkpoint whose model produced the hidden states.
    states : ndarray
        ``(N, D)`` time-averaged hidden state of every neuron.
    coords : dict of str to ndarray
        ``(N, 2)`` map per method (``'PCA'``, and ``'UMAP'`` once computed).
    features : dict of str to ndarray
        ``(N,)`` per-neuron features (cue/choice selectivity and p-values, ...).
    analysis : object, optional
        The full :class:`src_models.analysis.neuron_map.NeuronMap` (probe scores, ...).
    """

    checkpoint: str
    states: np.ndarray
    coords: dict[str, np.ndarray]
    features: dict[str, np.ndarray] = field(default_factory=dict)
    analysis: Any = None

    def with_coords(self, method: str, xy: np.ndarray) -> EmbeddingCache:
        """A copy with one more 2-D map (caches stay immutable)."""
        coords = {**self.coords, method: xy}
        return EmbeddingCache(self.checkpoint, self.states, coords, self.features, self.analysis)


@evented
@dataclass(eq=False)
class CalmState:
    """Everything the CalM docks of one viewer share.

    Attributes
    ----------
    recording : Recording or None
        The current recording.
    current : int or None
        The neuron the inspector shows (row index into the recording).
    selected : tuple of int
        Selected neurons (forecast dock, embedding highlight, image outline).
    checkpoint : str
        CalM checkpoint folder used by every job.
    device : str
        ``'cpu'`` or ``'cuda'`` (or ``'cuda:N'``).
    tokens : TokenCache or None
        Cached tokens of the current recording.
    embeddings : EmbeddingCache or None
        Cached embeddings of the current recording.
    forecast : object or None
        Last forecast (``src_models.dat.ForecastResult``) plus its request.
    decoding : object or None
        Last decoding result.
    checkpoints : tuple of str
        Fine-tuned checkpoints known to this session (the recording dock lists them).
    runs_dir : str
        Folder of fine-tune runs (written by the fine-tune dock, listed by the recording dock).
    color_feature : str or None
        Per-neuron feature the embedding map (and optionally the ROIs) are coloured by.
    """

    recording: Any = None
    current: int | None = None
    selected: tuple[int, ...] = ()
    checkpoint: str = ""
    device: str = "cpu"
    tokens: TokenCache | None = None
    embeddings: EmbeddingCache | None = None
    forecast: Any = None
    decoding: Any = None
    checkpoints: tuple[str, ...] = ()
    runs_dir: str = ""
    color_feature: str | None = None

    # -- recording -------------------------------------------------------------------------
    def set_recording(self, recording: Recording | None) -> None:
        """Make ``recording`` current and drop everything computed for the previous one."""
        if recording is self.recording:
            return
        with self.events.paused():
            self.tokens = None
            self.embeddings = None
            self.forecast = None
            self.decoding = None
            self.selected = ()
            self.current = None
        self.recording = recording
        if recording is not None:
            self.select([0])

    @property
    def n_neurons(self) -> int:
        """Neurons in the current recording (0 without one)."""
        return 0 if self.recording is None else int(self.recording.n_neurons)

    # -- selection -------------------------------------------------------------------------
    def select(self, neurons: list[int] | tuple[int, ...] | np.ndarray, *, add: bool = False) -> None:
        """Select ``neurons`` (row indices); the first one becomes the current neuron.

        Parameters
        ----------
        neurons : sequence of int
            Row indices; out-of-range ones are ignored.
        add : bool
            Toggle them in the existing selection instead of replacing it; the
            last neuron added becomes the current one.
        """
        n = self.n_neurons
        idx = list(dict.fromkeys(int(i) for i in np.asarray(neurons, dtype=int).ravel() if 0 <= i < n))
        if add:
            chosen, added = list(self.selected), []
            for i in idx:
                if i in chosen:
                    chosen.remove(i)
                else:
                    chosen.append(i)
                    added.append(i)
            idx = chosen
            kept = self.current if self.current in idx else (idx[0] if idx else None)
            current = added[-1] if added else kept
        else:
            current = idx[0] if idx else None
        self.current = current  # first: listeners of ``selected`` see the new current neuron
        self.selected = tuple(idx)

    def step(self, delta: int) -> None:
        """Move the current neuron by ``delta`` rows (wrapping) and select only it."""
        n = self.n_neurons
        if n == 0:
            return
        start = -1 if self.current is None and delta > 0 else (self.current or 0)
        self.select([(start + delta) % n])

    # -- features --------------------------------------------------------------------------
    def neuron_features(self, viewer: napari.Viewer | None = None) -> dict[str, np.ndarray]:
        """All numeric per-neuron features: ROI table columns plus embedding features.

        Parameters
        ----------
        viewer : napari.Viewer, optional
            Viewer whose ROI layer's ``features`` table is included.

        Returns
        -------
        dict of str to ndarray
            ``(N,)`` float arrays keyed by feature name.
        """
        n = self.n_neurons
        out: dict[str, np.ndarray] = {}
        layer = self.find_labels(viewer) or self.find_cells(viewer)
        if layer is not None and len(layer.features):
            table = layer.features
            index = np.asarray(table["index"]) if "index" in table else np.arange(1, len(table) + 1)
            rows = index.astype(int) - 1
            ok = (rows >= 0) & (rows < n)
            for name in table.columns:
                col = table[name]
                if name == "index" or not np.issubdtype(np.asarray(col).dtype, np.number):
                    continue
                values = np.full(n, np.nan)
                values[rows[ok]] = np.asarray(col, float)[ok]
                out[str(name)] = values
        if self.embeddings is not None:
            for name, values in self.embeddings.features.items():
                if len(values) == n:
                    out[name] = np.asarray(values, float)
        return out

    def find_labels(self, viewer: napari.Viewer | None) -> Any:
        """The ROI Labels layer of the current recording in ``viewer`` (or None).

        Label value ``i + 1`` of that layer is neuron (row) ``i``.
        """
        return self._find_layer(viewer, "labels")

    def find_cells(self, viewer: napari.Viewer | None) -> Any:
        """The cell-position Points layer of the current recording (recordings without masks)."""
        return self._find_layer(viewer, "points")

    def _find_layer(self, viewer: napari.Viewer | None, kind: str) -> Any:
        if viewer is None or self.recording is None:
            return None
        for layer in viewer.layers:
            if layer._type_string == kind and layer.metadata.get(RECORDING_KEY) is self.recording:
                return layer
        return None

    # -- checkpoints -----------------------------------------------------------------------
    def add_checkpoint(self, path: str | Path) -> None:
        """Announce a (fine-tuned) checkpoint so the recording dock lists it."""
        path = str(Path(path))
        if path not in self.checkpoints:
            self.checkpoints = (*self.checkpoints, path)


_STATES: weakref.WeakKeyDictionary[Any, CalmState] = weakref.WeakKeyDictionary()


def unwrap_viewer(viewer: Any) -> Any:
    """The viewer behind napari's ``PublicOnlyProxy`` (identity checks and registries need it)."""
    try:
        return object.__getattribute__(viewer, "__wrapped__")
    except AttributeError:
        return viewer


def get_state(viewer: napari.Viewer) -> CalmState:
    """The :class:`CalmState` of ``viewer``, created (and wired to its layers) on first use.

    Parameters
    ----------
    viewer : napari.Viewer
        The viewer whose docks share the state (a plugin's viewer proxy is unwrapped).

    Returns
    -------
    CalmState
        The same object for every call with the same viewer.
    """
    viewer = unwrap_viewer(viewer)
    state = _STATES.get(viewer)
    if state is None:
        state = _new_state()
        _STATES[viewer] = state
        _watch_layers(viewer, state)
    return state


def _new_state() -> CalmState:
    """A state with the shipped checkpoint and the best available device."""
    from napari_calm.resources import cache_dir, resource
    from src_models.device import default_device

    checkpoint = str(resource("weights", "calm"))
    return CalmState(checkpoint=checkpoint, device=str(default_device()), runs_dir=str(cache_dir() / "runs"))


def _watch_layers(viewer: napari.Viewer, state: CalmState) -> None:
    """Adopt recordings whose ROI layer is added to ``viewer``; forget them when removed
    (only weak references are captured, so the viewer's events keep nothing alive)."""
    state_ref = weakref.ref(state)
    layers_ref = weakref.ref(viewer.layers)

    def adopt(layer: Any) -> None:
        s = state_ref()
        rec = getattr(layer, "metadata", {}).get(RECORDING_KEY)
        if s is not None and rec is not None:
            s.set_recording(rec)

    def removed(event: Any) -> None:
        s = state_ref()
        if s is None or s.recording is None or event.value.metadata.get(RECORDING_KEY) is not s.recording:
            return
        if not any(layer.metadata.get(RECORDING_KEY) is s.recording for layer in layers_ref() or ()):
            s.set_recording(None)

    viewer.layers.events.inserted.connect(lambda event: adopt(event.value))
    viewer.layers.events.removed.connect(removed)
    for layer in list(viewer.layers):
        adopt(layer)
