"""Frame-rate policy: mapping a recording's frames to NQ's token time axis and back.

``fs_policy='native'`` (the shipped default; measured in ``docs/nq-design.md``)
    A token is ``P`` frames at the recording's own rate, whatever that rate is.
    The maps below are the identity, a token spans ``P / fs`` seconds and the
    bit rate per recorded frame is always ``log2(K) / P``.

``fs_policy='resample'``
    Traces are resampled (polyphase, ``scipy.signal.resample_poly``) to
    ``canonical_fs`` before tokenizing and back to ``fs`` afterwards, so a
    token always spans ``P / canonical_fs`` seconds.

The DAT uses :func:`frames_to_tokens` / :func:`tokens_to_frames` to turn a
forecasting context and horizon given in recorded frames into tokens.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np

from src_models.nq.config import NQConfig


def _ratio(fs: float, config: NQConfig) -> Fraction:
    """Model frames per recorded frame as a small fraction (``up / down``)."""
    return Fraction(config.canonical_fs / float(fs)).limit_denominator(1000)


def model_rate(fs: float, config: NQConfig) -> float:
    """Frame rate (Hz) the model works at for a recording at ``fs``."""
    return float(fs) if config.fs_policy == "native" else float(config.canonical_fs)


def model_frames(n_frames: int, fs: float, config: NQConfig) -> int:
    """Number of model-rate frames covering ``n_frames`` recorded frames."""
    if config.fs_policy == "native":
        return int(n_frames)
    return int(math.ceil(n_frames * _ratio(fs, config)))


def frames_to_tokens(n_frames: int, fs: float, config: NQConfig) -> int:
    """Tokens needed to cover ``n_frames`` recorded frames (rounded up)."""
    return int(math.ceil(model_frames(n_frames, fs, config) / config.patch_len))


def tokens_to_frames(n_tokens: int, fs: float, config: NQConfig) -> float:
    """Recorded frames spanned by ``n_tokens`` tokens (may be fractional when resampling)."""
    frames = n_tokens * config.patch_len
    return float(frames) if config.fs_policy == "native" else float(frames / _ratio(fs, config))


def to_model_rate(traces: np.ndarray, fs: float, config: NQConfig) -> np.ndarray:
    """Traces ``(..., T)`` at ``fs`` -> ``(..., model_frames(T))`` at the model's rate (float32)."""
    traces = np.asarray(traces, np.float32)
    if config.fs_policy == "native":
        return traces
    from scipy.signal import resample_poly

    r = _ratio(fs, config)
    if r == 1:
        return traces
    out = resample_poly(traces, r.numerator, r.denominator, axis=-1, padtype="line")
    n = model_frames(traces.shape[-1], fs, config)
    return _fit_length(out, n).astype(np.float32)


def from_model_rate(traces: np.ndarray, fs: float, n_frames: int, config: NQConfig) -> np.ndarray:
    """Model-rate traces ``(..., T_m)`` -> ``(..., n_frames)`` at the recording's ``fs``."""
    traces = np.asarray(traces, np.float32)
    if config.fs_policy == "native":
        return _fit_length(traces, n_frames)
    from scipy.signal import resample_poly

    r = _ratio(fs, config)
    if r == 1:
        return _fit_length(traces, n_frames)
    out = resample_poly(traces, r.denominator, r.numerator, axis=-1, padtype="line")
    return _fit_length(out, n_frames).astype(np.float32)


def _fit_length(x: np.ndarray, n: int) -> np.ndarray:
    """Crop or edge-pad the last axis of ``x`` to ``n``."""
    if x.shape[-1] >= n:
        return x[..., :n]
    pad = [(0, 0)] * (x.ndim - 1) + [(0, n - x.shape[-1])]
    return np.pad(x, pad, mode="edge")
