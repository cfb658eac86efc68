"""Training data sources: a recording (or a path and a reader) plus the time range to use.

A source spec on the command line or in a config is ``PATH`` or
``PATH@START:STOP`` with ``START``/``STOP`` fractions of the recording's frames,
e.g. ``zf_20151104-f1.mat@0:0.6`` for the first 60 %. A source that is a path
carries the reader function the caller hands in.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from src_models.errors import CalmError
from src_models.recording import Recording

_RANGE = re.compile(r"^(?P<path>.+)@(?P<a>[0-9.]+):(?P<b>[0-9.]+)$")


def traces_fingerprint(traces: np.ndarray) -> str:
    """Content hash of ``(N, T)`` traces (finds an adapted recording again)."""
    x = np.ascontiguousarray(np.asarray(traces, np.float32))
    h = hashlib.sha1(str(x.shape).encode())
    h.update(x.tobytes())
    return h.hexdigest()[:16]


@dataclass
class DataSource:
    """One recording for pretraining.

    Attributes
    ----------
    path : str
        Where it comes from (shown in the model card and the corpus index).
    start, stop : float
        Fractions of the recording's frames to use, ``[start, stop)``.
    recording : Recording, optional
        The recording itself (otherwise ``reader(path)`` is called when needed).
    reader : callable, optional
        ``reader(path) -> Recording``.
    """

    path: str
    start: float = 0.0
    stop: float = 1.0
    recording: Recording | None = None
    reader: Callable[[str], Recording] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if not 0 <= self.start < self.stop <= 1:
            raise CalmError(f"time range {self.start}:{self.stop} must satisfy 0 <= start < stop <= 1", self.path)

    @property
    def spec(self) -> str:
        """``PATH`` or ``PATH@START:STOP``: what the corpus index records."""
        if (self.start, self.stop) == (0.0, 1.0):
            return self.path
        return f"{self.path}@{self.start:g}:{self.stop:g}"

    def load(self) -> dict[str, Any]:
        """``name, source, fs, traces (N, T_range), frames [a, b), fingerprint`` of the range."""
        rec = self.recording
        if rec is None:
            if self.reader is None:
                raise CalmError("no reader given for this data source", self.path)
            rec = self.reader(self.path)
        traces = rec.traces
        T = traces.shape[1]
        a, b = int(round(self.start * T)), int(round(self.stop * T))
        return {
            "name": Path(self.path).stem or str(self.path),
            "source": self.spec,
            "fs": float(rec.fs),
            "traces": traces[:, a:b],
            "frames": [a, b],
            "fingerprint": traces_fingerprint(traces),
        }


def parse_source(spec: str | dict[str, Any], reader: Callable[[str], Recording] | None = None) -> DataSource:
    """A :class:`DataSource` from ``PATH[@START:STOP]`` or ``{"path": ..., "range": [a, b]}``.

    The ``@`` suffix is only read as a range when ``PATH@START:STOP`` itself
    is not an existing file.
    """
    if isinstance(spec, dict):
        if "path" not in spec:
            raise CalmError(f"data entry {spec} has no 'path'")
        rng = spec.get("range", (0.0, 1.0))
        return DataSource(str(spec["path"]), float(rng[0]), float(rng[1]), reader=reader)
    spec = str(spec)
    m = _RANGE.match(spec)
    if m and not Path(spec).exists():
        try:
            return DataSource(m["path"], float(m["a"]), float(m["b"]), reader=reader)
        except ValueError:
            raise CalmError(f"cannot read the time range of {spec!r} (use PATH@0:0.6)") from None
    return DataSource(spec, reader=reader)


@dataclass
class PreparedRecording:
    """A recording split in time and z-scored with its training-split statistics.

    Attributes
    ----------
    traces : ndarray
        ``(N, T)`` float32 raw (neuropil-corrected) traces.
    z : ndarray
        ``(N, T)`` z-scored with the training split's per-neuron mean and std.
    fs : float
        Frame rate in Hz.
    bounds : list of (int, int)
        ``[start, stop)`` frames of train, validation and test.
    mean, std : ndarray
        ``(N, 1)`` training-split statistics.
    name, source, fingerprint : str
        Identity of the recording.
    """

    traces: np.ndarray
    z: np.ndarray
    fs: float
    bounds: list[tuple[int, int]]
    mean: np.ndarray
    std: np.ndarray
    name: str
    source: str
    fingerprint: str

    @property
    def n_neurons(self) -> int:
        return int(self.traces.shape[0])

    @property
    def n_frames(self) -> int:
        return int(self.traces.shape[1])


def prepare_recording(
    data: Recording | np.ndarray,
    fs: float | None = None,
    *,
    train_fraction: float = 0.6,
    val_fraction: float = 0.2,
    name: str | None = None,
) -> PreparedRecording:
    """Split ``data`` (a :class:`Recording` or ``(N, T)`` traces) in time and z-score it.

    The statistics come from the first ``train_fraction`` of the frames only
    (:class:`src_models.preprocessing.ZScore`), as in ``calm bench``.
    """
    from src_models.preprocessing import ZScore, split_bounds

    if isinstance(data, Recording):
        traces, rate, source = data.traces, float(data.fs), str(data.source)
    else:
        traces = np.asarray(data)
        if fs is None:
            raise CalmError("a frame rate (fs) is needed with a bare trace array")
        rate, source = float(fs), name or "traces"
        if traces.ndim != 2 or traces.shape[0] == 0 or traces.shape[1] == 0:
            raise CalmError(f"traces must be a non-empty 2-D array (neurons x frames), got shape {traces.shape}")
        if not np.isfinite(traces).all():
            raise CalmError("traces contain NaN or Inf values")
    traces = np.asarray(traces, np.float32)
    rest = 1.0 - train_fraction - val_fraction
    fractions = (train_fraction, val_fraction, rest) if rest > 1e-9 else (train_fraction, val_fraction)
    bounds = split_bounds(traces.shape[1], fractions)
    if len(bounds) == 2:
        bounds.append((traces.shape[1], traces.shape[1]))
    a, b = bounds[0]
    if b - a < 2:
        raise CalmError(f"only {traces.shape[1]} frames: too short to split in time", source)
    zs = ZScore.fit(traces[:, a:b])
    return PreparedRecording(
        traces=traces,
        z=zs.transform(traces),
        fs=rate,
        bounds=bounds,
        mean=zs.mean,
        std=zs.std,
        name=name or Path(source).stem or "recording",
        source=source,
        fingerprint=traces_fingerprint(traces),
    )
