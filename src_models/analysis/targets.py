"""Decoding targets from a Recording: behaviour variables (per frame) or trial columns.

A target name is looked up first among ``recording.behavior`` and then among the trial columns
(columns ending in ``_frame`` — ``start_frame``, ``end_frame``, event frames — are timing, not
targets). Its type is inferred:

* **discrete** — strings, booleans, or integers with at most :data:`MAX_CLASSES` distinct values
  (cue, choice, outcome); scored with balanced accuracy;
* **continuous** — anything else (angular velocity, running speed, position); scored with R².

Behaviour variables are decoded per frame. Trial columns are decoded per trial by default, or per
frame (every frame inside a trial carries the trial's label; frames outside trials are skipped).
Missing values (NaN, empty strings) are dropped.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from src_models.errors import CalmError
from src_models.recording import Recording

#: an integer variable with at most this many distinct values is treated as discrete
MAX_CLASSES = 10


def is_label_column(name: str) -> bool:
    """Trial columns that are labels (not bounds or event frames such as ``choice_start_frame``)."""
    return not name.endswith("_frame")


@dataclass
class Target:
    """What to decode, one value per sample.

    Attributes
    ----------
    name : str
        Behaviour variable or trial column.
    source : {'behavior', 'trials'}
        Where it came from.
    kind : {'continuous', 'discrete'}
        Target type.
    level : {'frame', 'trial'}
        One sample per frame or per trial.
    y : ndarray
        ``(n,)`` float values (continuous) or int class indices (discrete).
    frames : ndarray
        ``(n,)`` frame of each sample (trial level: its start frame).
    start, end : ndarray or None
        Trial bounds of each sample (trial level only).
    classes : list or None
        Class labels, ``classes[y[i]]`` is sample ``i``'s original label (discrete only).
    """

    name: str
    source: str
    kind: str
    level: str
    y: np.ndarray
    frames: np.ndarray
    start: np.ndarray | None = None
    end: np.ndarray | None = None
    classes: list | None = None

    def __len__(self) -> int:
        return len(self.y)

    def class_counts(self) -> dict[str, int]:
        """Samples per class (discrete targets)."""
        if self.classes is None:
            return {}
        counts = np.bincount(self.y, minlength=len(self.classes))
        return {str(c): int(n) for c, n in zip(self.classes, counts)}


def available_targets(recording: Recording) -> dict[str, list[str]]:
    """``{'behavior': [...], 'trials': [...]}``: every name :func:`resolve_target` accepts."""
    return {
        "behavior": sorted(recording.behavior),
        "trials": sorted(k for k in recording.trials if is_label_column(k)),
    }


def _listing(recording: Recording) -> str:
    have = available_targets(recording)
    return (
        f"behavior variables: {', '.join(have['behavior']) or 'none'}; "
        f"trial columns: {', '.join(have['trials']) or 'none'}"
    )


def usable_labels(v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Values (text stripped) and a mask of non-missing entries (NaN, empty, "nan", "none")."""
    v = np.asarray(v)
    if v.dtype.kind in "fc":
        return v, np.isfinite(v)
    if v.dtype.kind in "OUS":
        s = np.array([str(x).strip() for x in v])
        return s, np.array([x.lower() not in ("", "nan", "none") for x in s], bool)
    return v, np.ones(len(v), bool)


def _is_discrete(v: np.ndarray) -> bool:
    if v.dtype.kind in "bOUS":
        return True
    if v.dtype.kind in "iu":
        return len(np.unique(v)) <= MAX_CLASSES
    if v.dtype.kind == "f" and len(v) and np.all(v == np.round(v)):
        return len(np.unique(v)) <= MAX_CLASSES
    return False


def _encode(v: np.ndarray) -> tuple[np.ndarray, list]:
    classes, y = np.unique(v, return_inverse=True)
    labels = [c.item() if hasattr(c, "item") else c for c in classes]
    if classes.dtype.kind == "f":
        labels = [int(c) if float(c).is_integer() else float(c) for c in labels]
    return y.astype(np.int64), labels


def resolve_target(
    recording: Recording, name: str, level: str | None = None, context: int = 1, min_per_class: int = 5
) -> Target:
    """Find ``name`` in the recording and lay it out as decoding samples.

    Parameters
    ----------
    recording : Recording
        The recording.
    name : str
        Behaviour variable or trial column.
    level : {'frame', 'trial'}, optional
        Default: ``frame`` for behaviour, ``trial`` for trial columns.
    context : int
        Samples start at frame ``context − 1`` (decoders need a full causal window): frames before
        it are not decoded, and neither are trials that start before it.
    min_per_class : int
        Discrete targets need at least this many trials (trial level) or trials' worth of frames
        (frame level) per class.

    Returns
    -------
    Target
    """
    if name not in recording.behavior and (name not in recording.trials or not is_label_column(name)):
        raise CalmError(f"no decoding target {name!r}; {_listing(recording)}", recording.source)
    source = "behavior" if name in recording.behavior else "trials"
    level = level or ("frame" if source == "behavior" else "trial")
    if level not in ("frame", "trial"):
        raise CalmError(f"decoding level must be 'frame' or 'trial', got {level!r}")
    if source == "behavior" and level == "trial":
        raise CalmError(f"{name!r} is a behaviour variable, decoded per frame only", recording.source)
    T = recording.n_frames
    first = max(0, context - 1)
    if source == "behavior":
        values, ok = usable_labels(recording.behavior[name])
        frames = np.arange(T)
        ok &= frames >= first
        start = end = None
        n_units = None
    else:
        raw, ok_t = usable_labels(recording.trials[name])
        start = np.asarray(recording.trials["start_frame"], np.int64)
        end = np.minimum(np.asarray(recording.trials["end_frame"], np.int64), T)
        ok_t &= (start >= first) & (end > start)
        if level == "trial":
            values, ok, frames = raw, ok_t, start
            n_units = None
        else:
            trial_of = np.full(T, -1)
            for k in np.flatnonzero(ok_t):
                trial_of[start[k] : end[k]] = k
            frames = np.flatnonzero(trial_of >= 0)
            values, ok = raw[trial_of[frames]], np.ones(len(frames), bool)
            n_units = trial_of[frames]
            start = end = None
    frames, values = frames[ok], values[ok]
    if level == "trial":
        start, end = start[ok], end[ok]
    if len(values) == 0:
        raise CalmError(f"target {name!r} has no usable samples", recording.source)
    kind = "discrete" if _is_discrete(values) else "continuous"
    classes = None
    if kind == "discrete":
        y, classes = _encode(values)
        if source == "behavior":
            n_units = np.cumsum(np.r_[0, np.diff(y) != 0])
        elif n_units is not None:
            n_units = n_units[ok]
        _check_classes(name, y, classes, n_units, min_per_class, recording)
    else:
        y = np.asarray(values, np.float64)
        if np.ptp(y) == 0:
            raise CalmError(f"target {name!r} is constant; nothing to decode", recording.source)
    order = np.argsort(frames, kind="stable")
    start, end = (None if a is None else a[order] for a in (start, end))
    return Target(name, source, kind, level, y[order], frames[order], start, end, classes)


def _check_classes(
    name: str, y: np.ndarray, classes: list, unit: np.ndarray | None, min_per_class: int, recording: Recording
) -> None:
    """Refuse discrete targets with one class or too few trials of some class."""
    if unit is None:
        counts = np.bincount(y, minlength=len(classes))
    else:
        counts = np.array([len(np.unique(unit[y == c])) for c in range(len(classes))])
    what = "stretches" if name in recording.behavior else "trials"
    listing = ", ".join(f"{c}: {n}" for c, n in zip(classes, counts))
    if len(classes) < 2:
        raise CalmError(f"target {name!r} has a single class ({listing}); nothing to decode",
                        recording.source)
    if counts.min() < min_per_class:
        raise CalmError(
            f"too few {what} per condition of {name!r} to cross-validate "
            f"(need at least {min_per_class} each): {listing}",
            recording.source,
        )
