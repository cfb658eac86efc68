"""The one preparation path: ΔF/F policy, 60/20/20 time split, z-scoring with training statistics.

Commands, docks and benchmarks all prepare with :func:`prepare_recording` (or :func:`apply_dff`
and the same split / :class:`ZScore`), so every reported number describes the same traces; the
JSON-able :attr:`PreparedRecording.report` appears under ``preparation`` in every JSON output.

ΔF/F policy (``dff``)
    ``auto`` converts strictly positive (raw fluorescence) traces with causal
    :func:`~src_models.preprocessing.delta_f_over_f` (F0 floor from the training split);
    ``yes`` always converts, ``no`` never.

ΔF/F baseline (``baseline``)
    ``causal`` (trailing windows: ΔF/F at frame ``t`` never reads later frames) for everything
    that forecasts or decodes frame by frame; ``centred`` (centred windows, F0 floor from the whole
    trace, like the selectivity analysis) only for analyses of a whole recording at once — the
    ``state_loadings`` neuron embedding, whose cue/choice tuning a trailing baseline blurs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from src_models.errors import CalmError
from src_models.preprocessing import ZScore, delta_f_over_f, split_bounds
from src_models.recording import Recording

#: accepted values of the ΔF/F policy
DFF_POLICIES = ("auto", "yes", "no")
#: how the benchmark and the JSON reports name the ΔF/F conversion
DFF_TEXT = "ΔF/F (causal maximin baseline, 60 s)"
#: the ΔF/F baselines (module docstring) and how the JSON reports name them
DFF_BASELINES = {"causal": DFF_TEXT, "centred": "ΔF/F (centred maximin baseline, 60 s)"}


def traces_fingerprint(traces: np.ndarray) -> str:
    """Content hash of ``(N, T)`` traces (finds an adapted recording again)."""
    import hashlib

    x = np.ascontiguousarray(np.asarray(traces, np.float32))
    h = hashlib.sha1(str(x.shape).encode())
    h.update(x.tobytes())
    return h.hexdigest()[:16]


def apply_dff(
    traces: np.ndarray,
    fs: float,
    dff: str = "auto",
    train_fraction: float = 0.6,
    baseline: str = "causal",
) -> tuple[np.ndarray, bool]:
    """``(traces as float32, converted)``: ΔF/F of ``traces`` where the policy ``dff`` says so.

    With the ``causal`` baseline the F0 floor comes from the first ``train_fraction`` of the
    frames; with ``centred`` from the whole trace.

    Raises
    ------
    CalmError
        Unknown policy or baseline.
    """
    if dff not in DFF_POLICIES:
        raise CalmError(f"unknown ΔF/F policy {dff!r} (use one of {', '.join(DFF_POLICIES)})")
    if baseline not in DFF_BASELINES:
        raise CalmError(f"unknown ΔF/F baseline {baseline!r} (use one of {', '.join(DFF_BASELINES)})")
    x = np.asarray(traces, np.float32)
    if dff == "yes" or (dff == "auto" and x.size and float(x.min()) > 0):
        if baseline == "centred":
            return delta_f_over_f(x, fs), True
        return delta_f_over_f(x, fs, causal=True, fit_frames=max(1, round(train_fraction * x.shape[1]))), True
    return x, False


@dataclass
class PreparedRecording:
    """A recording after the one preparation path.

    Attributes
    ----------
    traces : ndarray
        ``(N, T)`` float32 traces the model reads before z-scoring (ΔF/F when converted).
    z : ndarray
        ``(N, T)`` z-scored with the training split's per-neuron mean and std.
    fs : float
        Frame rate in Hz.
    bounds : list of (int, int)
        ``[start, stop)`` frames of train, validation and test.
    mean, std : ndarray
        ``(N, 1)`` training-split statistics.
    name, source, fingerprint : str
        Identity of the recording (the fingerprint is of ``traces``).
    report : dict
        What was applied (``dff``, ``dff_policy``, ``zscore``, ``fractions``, ``splits``).
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
    report: dict[str, Any] = field(default_factory=dict)

    @property
    def n_neurons(self) -> int:
        return int(self.traces.shape[0])

    @property
    def n_frames(self) -> int:
        return int(self.traces.shape[1])


def prepare_recording(
    data: Recording | np.ndarray | PreparedRecording,
    fs: float | None = None,
    *,
    train_fraction: float = 0.6,
    val_fraction: float = 0.2,
    name: str | None = None,
    dff: str = "auto",
    baseline: str = "causal",
    zscore: bool = True,
) -> PreparedRecording:
    """ΔF/F policy, time split and training-split z-scoring of ``data``.

    Parameters
    ----------
    data : Recording or ndarray or PreparedRecording
        A recording, raw ``(N, T)`` traces with ``fs``, or a prepared recording (returned as is).
    fs : float, optional
        Frame rate of bare traces.
    train_fraction, val_fraction : float
        Time split: training first, then validation; the rest is the test part.
    name : str, optional
        Display name (default: the source's stem).
    dff : {'auto', 'yes', 'no'}
        ΔF/F policy (module docstring).
    baseline : {'causal', 'centred'}
        ΔF/F baseline (module docstring).
    zscore : bool
        False for traces already z-scored with their training statistics (mean 0, std 1 used).

    Raises
    ------
    CalmError
        Empty, non-finite or too short traces, or a bare array without ``fs``.
    """
    if isinstance(data, PreparedRecording):
        return data
    if isinstance(data, Recording):
        raw, rate, source = data.traces, float(data.fs), str(data.source)
    else:
        raw = np.asarray(data)
        if fs is None:
            raise CalmError("a frame rate (fs) is needed with a bare trace array")
        rate, source = float(fs), name or "traces"
        if raw.ndim != 2 or raw.shape[0] == 0 or raw.shape[1] == 0:
            raise CalmError(f"traces must be a non-empty 2-D array (neurons x frames), got shape {raw.shape}")
        if not np.isfinite(raw).all():
            raise CalmError("traces contain NaN or Inf values")
    traces, converted = apply_dff(raw, rate, dff, train_fraction, baseline)
    rest = 1.0 - train_fraction - val_fraction
    fractions = (train_fraction, val_fraction, rest) if rest > 1e-9 else (train_fraction, val_fraction)
    bounds = split_bounds(traces.shape[1], fractions)
    if len(bounds) == 2:
        bounds.append((traces.shape[1], traces.shape[1]))
    a, b = bounds[0]
    if b - a < 2:
        raise CalmError(f"only {traces.shape[1]} frames: too short to split in time", source)
    N = traces.shape[0]
    zs = ZScore.fit(traces[:, a:b]) if zscore else ZScore(np.zeros((N, 1), np.float32), np.ones((N, 1), np.float32))
    report = {
        "dff": DFF_BASELINES[baseline] if converted else None,
        "dff_policy": dff,
        "zscore": "training split" if zscore else "given (already z-scored)",
        "fractions": [round(float(f), 6) for f in fractions],
        "splits": {k: list(v) for k, v in zip(("train", "val", "test"), bounds)},
    }
    return PreparedRecording(
        traces=traces,
        z=zs.transform(traces) if zscore else traces,
        fs=rate,
        bounds=bounds,
        mean=zs.mean,
        std=zs.std,
        name=name or Path(source).stem or "recording",
        source=source,
        fingerprint=traces_fingerprint(traces),
        report=report,
    )
