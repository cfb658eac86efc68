"""Training data sources: a recording (or a path and a reader) plus the time range to use.

A source spec is ``PATH`` or ``PATH@START:STOP`` with fractions of the recording's frames, e.g.
``zf_20151104-f1.mat@0:0.6`` for the first 60 %; a path source carries the caller's reader.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from src_models.errors import CalmError
from src_models.preparation import PreparedRecording, apply_dff, prepare_recording, traces_fingerprint
from src_models.recording import Recording

_RANGE = re.compile(r"^(?P<path>.+)@(?P<a>[0-9.]+):(?P<b>[0-9.]+)$")


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
        """``name, source, fs, traces (N, T_range), frames [a, b), fingerprint`` of the range.

        The traces are prepared as :func:`prepare_recording` prepares them (ΔF/F policy ``auto``),
        so a recording pretrained on is recognised (and read alike) by every command.
        """
        rec = self.recording
        if rec is None:
            if self.reader is None:
                raise CalmError("no reader given for this data source", self.path)
            rec = self.reader(self.path)
        traces, _ = apply_dff(rec.traces, rec.fs)  # the preparation every command applies
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

__all__ = ["DataSource", "PreparedRecording", "parse_source", "prepare_recording", "traces_fingerprint"]
