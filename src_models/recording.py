"""The one Recording model that every reader fills and everything downstream consumes."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from src_models.errors import CalmError
from src_models.validation import finite_array


@dataclass
class RoiSet:
    """Spatial footprints of N ROIs in a field of view.

    Parameters
    ----------
    shape : tuple of int
        Shape of the field of view, ``(Y, X)`` or ``(Z, Y, X)``.
    pixels : list of ndarray
        For each ROI an integer array ``(k, len(shape))`` of pixel coordinates.
    weights : list of ndarray, optional
        For each ROI a float array ``(k,)`` of pixel weights (suite2p ``lam``);
        uniform weights when omitted.
    ids : ndarray, optional
        Integer id of each ROI (defaults to ``0..N-1``). Label values in
        :meth:`label_image` are ``index + 1``.
    """

    shape: tuple[int, ...]
    pixels: list[np.ndarray]
    weights: list[np.ndarray] | None = None
    ids: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.shape = tuple(int(s) for s in self.shape)
        if self.ids is None:
            self.ids = np.arange(len(self.pixels))
        if self.weights is None:
            self.weights = [np.ones(len(p), np.float32) for p in self.pixels]

    def __len__(self) -> int:
        return len(self.pixels)

    def subset(self, keep: np.ndarray) -> RoiSet:
        """ROIs selected by a boolean mask or index array."""
        idx = np.flatnonzero(keep) if np.asarray(keep).dtype == bool else np.asarray(keep)
        pixels, weights = [self.pixels[i] for i in idx], [self.weights[i] for i in idx]
        return RoiSet(self.shape, pixels, weights, np.asarray(self.ids)[idx])

    def label_image(self) -> np.ndarray:
        """Integer image with ROI ``i`` painted as ``i + 1`` (0: background; later ROIs win overlaps)."""
        dtype = np.uint16 if len(self) < 65535 else np.uint32
        img = np.zeros(self.shape, dtype)
        for i, px in enumerate(self.pixels):
            if len(px):
                img[tuple(px.T)] = i + 1
        return img

    def centroids(self) -> np.ndarray:
        """``(N, ndim)`` weighted centre of every ROI (NaN for an empty ROI)."""
        out = np.full((len(self), len(self.shape)), np.nan)
        for i, (px, w) in enumerate(zip(self.pixels, self.weights)):
            if len(px):
                w = np.asarray(w, float)
                w = w / w.sum() if w.sum() > 0 else np.full(len(px), 1 / len(px))
                out[i] = (px * w[:, None]).sum(0)
        return out


@dataclass
class Recording:
    """A calcium-imaging recording: movie, ROIs, traces, behaviour and trials.

    Parameters
    ----------
    F : ndarray
        Raw fluorescence, ``(N, T)`` float32 (one row per ROI/neuron). A
        movie-only recording (a TIFF without ROIs) has ``N = 0``: ``F`` is
        ``(0, T)`` with ``T`` the movie's frame count.
    fs : float
        Frame rate in Hz.
    source : Path
        File or folder the recording was read from.
    kind : str
        Reader that produced it: ``tiff``, ``suite2p``, ``traces``, ``mat``, ``nwb``,
        or ``simulated`` for an in-memory simulated session.
    Fneu : ndarray, optional
        Neuropil fluorescence ``(N, T)``.
    neuropil_coefficient : float
        ``c`` in the corrected trace ``F - c * Fneu``.
    iscell : ndarray, optional
        ``(N,)`` bool, the classifier's cell/not-cell decision.
    movie : array-like, optional
        ``T×Y×X`` or ``T×Z×Y×X`` movie, read lazily (memmap, zarr or dask).
    rois : RoiSet, optional
        ROI footprints, one per row of ``F``.
    behavior : dict of str to ndarray
        Named behaviour variables, each of length ``T``.
    trials : dict of str to ndarray
        Trial table as columns of equal length: ``start_frame``, ``end_frame``
        and label columns such as ``cue``, ``choice``, ``outcome``.
    metadata : dict
        Anything else the reader learned (indicator, units, plane, ...).
    """

    F: np.ndarray
    fs: float
    source: Path
    kind: str
    Fneu: np.ndarray | None = None
    neuropil_coefficient: float = 0.0
    iscell: np.ndarray | None = None
    movie: Any = None
    rois: RoiSet | None = None
    behavior: dict[str, np.ndarray] = field(default_factory=dict)
    trials: dict[str, np.ndarray] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.source = Path(self.source)
        self.validate()

    @property
    def n_neurons(self) -> int:
        return int(self.F.shape[0])

    @property
    def n_frames(self) -> int:
        return int(self.F.shape[1])

    @property
    def n_trials(self) -> int:
        return len(self.trials.get("start_frame", ()))

    @property
    def movie_shape(self) -> tuple[int, ...] | None:
        return None if self.movie is None else tuple(int(s) for s in self.movie.shape)

    @property
    def traces(self) -> np.ndarray:
        """Neuropil-corrected fluorescence ``F - c * Fneu`` as float32 ``(N, T)``."""
        if self.Fneu is None or self.neuropil_coefficient == 0:
            return np.asarray(self.F, np.float32)
        return np.asarray(self.F - self.neuropil_coefficient * self.Fneu, np.float32)

    def validate(self) -> None:
        """Raise :class:`CalmError` naming the source if the contents disagree."""
        F = self.F
        if F.ndim != 2:
            raise CalmError(f"traces must be 2-D (neurons x frames), got shape {F.shape}", self.source)
        if F.shape[1] == 0:
            raise CalmError("recording has zero frames", self.source)
        if F.shape[0] == 0 and self.movie is None:
            raise CalmError("recording has no neurons (and no movie)", self.source)
        if not np.isfinite(np.asarray(F)).all():
            bad = int((~np.isfinite(np.asarray(F))).any(axis=1).sum())
            raise CalmError(f"traces contain NaN or Inf values ({bad} neurons affected)", self.source)
        if not (np.isfinite(self.fs) and self.fs > 0):
            raise CalmError(f"frame rate must be a positive number, got {self.fs}", self.source)
        if self.Fneu is not None and self.Fneu.shape != F.shape:
            raise CalmError(f"neuropil shape {self.Fneu.shape} differs from F shape {F.shape}", self.source)
        if self.Fneu is not None:
            finite_array(self.Fneu, "neuropil traces (Fneu)", self.source)
        if self.rois is not None and len(self.rois) != F.shape[0]:
            raise CalmError(f"{F.shape[0]} trace rows but {len(self.rois)} ROIs", self.source)
        if self.iscell is not None and len(self.iscell) != F.shape[0]:
            raise CalmError(f"iscell has {len(self.iscell)} entries for {F.shape[0]} ROIs", self.source)
        for name, v in self.behavior.items():
            if len(v) != F.shape[1]:
                raise CalmError(
                    f"behavior variable {name!r} has {len(v)} samples for {F.shape[1]} frames",
                    self.source,
                )
        lengths = {k: len(v) for k, v in self.trials.items()}
        if lengths and len(set(lengths.values())) != 1:
            raise CalmError(f"trial table columns differ in length: {lengths}", self.source)
        if lengths and not {"start_frame", "end_frame"} <= set(lengths):
            raise CalmError("trial table needs start_frame and end_frame columns", self.source)

    def summary(self) -> dict[str, Any]:
        """The JSON object ``calm info --json`` prints."""
        return {
            "path": str(self.source),
            "kind": self.kind,
            "n_neurons": self.n_neurons,
            "n_frames": self.n_frames,
            "fs": float(self.fs),
            "movie_shape": None if self.movie is None else list(self.movie_shape),
            "n_rois": None if self.rois is None else len(self.rois),
            "behavior": sorted(self.behavior),
            "n_trials": self.n_trials,
            "trial_columns": sorted(self.trials),
            "neuropil_coefficient": self.neuropil_coefficient,
        }
