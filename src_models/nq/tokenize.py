"""Tokenize whole recordings with NQ, streaming in chunks, with reconstruction metrics.

``tokenize_traces(model, traces, fs)`` turns ``(N, T)`` traces into tokens ``(N, ceil(T_m / P))``
on the model's token axis (``T_m`` frames at the model's rate, :mod:`src_models.nq.rate`) and
reconstructs them. Each neuron is z-scored with its own finite-frame statistics; the token axis
is cut into windows (:func:`window_plan`); padding is never written out nor scored. NaN/Inf
frames are interpolated before encoding and masked (``mask``, ``token_mask``); constant neurons
are masked and reconstructed as constant. Under ``fs_policy='native'`` input streams in blocks
of about ``batch_windows`` windows (bounded memory for memory maps; ``*_out`` stream outputs);
under ``'resample'`` each block of neurons is resampled whole.

Metrics (z-scored, unmasked frames): ``recon_r_median``/``recon_r_mean`` (per-neuron r),
``recon_r2`` (pooled), ``recon_mse``, ``codebook_perplexity``, ``codebook_used_fraction``,
``masked_fraction``, ``nan_fraction``, ``constant_neurons``, ``masked_token_fraction``,
``padded_frames``, ``short_input``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from src_models.device import autocast
from src_models.errors import CalmError
from src_models.nq.data import fill_gaps, row_stats
from src_models.nq.model import NeuralQuantizer
from src_models.nq.rate import from_model_rate, model_frames, model_rate, to_model_rate


@dataclass
class TokenizeResult:
    """Tokens, reconstruction and metrics of one recording.

    Attributes
    ----------
    tokens, token_mask : ndarray
        int32 ``(N, n_tokens)`` code indices; bool, True for tokens whose frames are all masked.
    recon : ndarray or None
        float32 ``(N, T)`` reconstruction in the input's units (None when ``recon=False``).
    metrics : dict
        Reconstruction, code-usage and masking report (module docstring).
    mask : ndarray
        bool ``(N, T)``, True for frames excluded from the metrics (NaN/Inf, constant neuron).
    fs : float
        Frame rate of the input.
    """

    tokens: np.ndarray
    recon: np.ndarray | None
    metrics: dict
    mask: np.ndarray
    token_mask: np.ndarray
    fs: float


def window_plan(n_tokens: int, window_tokens: int) -> list[tuple[int, int]]:
    """Windows over a token axis as ``(start_token, first_kept)`` pairs.

    Consecutive windows tile the axis; a last window that would overrun is
    aligned to the end and keeps only its tokens not covered before. With
    fewer tokens than one window, a single padded window starting at 0.

    >>> window_plan(20, 8)
    [(0, 0), (8, 0), (12, 4)]
    """
    if n_tokens <= window_tokens:
        return [(0, 0)]
    plan = [(s, 0) for s in range(0, n_tokens - window_tokens + 1, window_tokens)]
    end = plan[-1][0] + window_tokens
    if end < n_tokens:
        start = n_tokens - window_tokens
        plan.append((start, end - start))
    return plan


class _Metrics:
    """Streaming per-neuron sums for r, MSE, R² and the code histogram."""

    def __init__(self, n: int, K: int) -> None:
        self.sums = np.zeros((6, n))        # count, Σx, Σy, Σxx, Σyy, Σxy
        self.codes = np.zeros(K, np.int64)

    def add(self, rows: slice, x: np.ndarray, y: np.ndarray, w: np.ndarray) -> None:
        """Add frames ``x`` (truth) and ``y`` (recon), ``(n, F)``, where ``w`` is True."""
        x = np.where(w, x, 0.0).astype(np.float64)
        y = np.where(w, y, 0.0).astype(np.float64)
        self.sums[:, rows] += np.stack([w.sum(1), x.sum(1), y.sum(1), (x * x).sum(1),
                                        (y * y).sum(1), (x * y).sum(1)])

    def result(self) -> dict:
        n, sx, sy, sxx, syy, sxy = self.sums
        ok = n >= 2
        n, sx, sy, sxx, syy, sxy = (a[ok] for a in (n, sx, sy, sxx, syy, sxy))
        cxx = sxx - sx * sx / n
        cyy = syy - sy * sy / n
        cxy = sxy - sx * sy / n
        r = cxy / np.sqrt(np.maximum(cxx * cyy, 1e-30))
        sse = sxx - 2 * sxy + syy
        total = self.codes.sum()
        p = self.codes[self.codes > 0] / max(total, 1)
        nan = float("nan")
        return {
            "recon_r_median": float(np.median(r)) if r.size else nan,
            "recon_r_mean": float(np.mean(r)) if r.size else nan,
            "recon_r2": float(1 - sse.sum() / cxx.sum()) if r.size and cxx.sum() > 0 else nan,
            "recon_mse": float(sse.sum() / n.sum()) if r.size else nan,
            "codebook_perplexity": float(math.exp(-(p * np.log(p)).sum())) if total else nan,
            "codebook_used_fraction": float((self.codes > 0).mean()),
            "neurons_scored": int(ok.sum()),
        }


def _run_model(model: NeuralQuantizer, windows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Encode and decode ``(M, L)`` z-scored windows: int32 ``(M, L/P)`` tokens, ``(M, L)`` frames."""
    dev = next(iter((*model.parameters(), *model.buffers()))).device
    with torch.inference_mode(), autocast(dev):
        x = torch.from_numpy(np.ascontiguousarray(windows, np.float32)).to(dev)
        idx = model.encode(x)
        rec = model.decode(idx).float().cpu().numpy()
    return idx.cpu().numpy().astype(np.int32), rec


def _all_masked(masked: np.ndarray, P: int) -> np.ndarray:
    """Per-token flag ``(n, k)`` from per-frame flags ``(n, k·P)``: every frame masked."""
    return masked.reshape(masked.shape[0], -1, P).all(-1)


def _pad_true(a: np.ndarray, width: int) -> np.ndarray:
    """Pad the last axis of bool ``a`` with True up to ``width``."""
    return np.pad(a, ((0, 0), (0, width - a.shape[1])), constant_values=True)


def tokenize_traces(
    model: NeuralQuantizer,
    traces: np.ndarray,
    fs: float,
    *,
    recon: bool = True,
    batch_windows: int = 4096,
    tokens_out: np.ndarray | None = None,
    recon_out: np.ndarray | None = None,
    mask_out: np.ndarray | None = None,
    progress: Callable[[float], None] | None = None,
) -> TokenizeResult:
    """Tokenize ``(N, T)`` traces recorded at ``fs`` Hz (see the module docstring).

    Parameters
    ----------
    model : NeuralQuantizer
        The tokenizer (its device is used).
    traces : array-like
        ``(N, T)`` traces; NumPy arrays and memory-maps are read block by block.
    fs : float
        Frame rate in Hz.
    recon : bool
        Keep the reconstruction (metrics are computed either way).
    batch_windows : int
        Windows per model call (bounds memory).
    tokens_out, recon_out, mask_out : ndarray, optional
        Preallocated ``(N, n_tokens)`` int, ``(N, T)`` float and ``(N, T)``
        bool outputs (memory-maps stream results to disk).
    progress : callable, optional
        Called with the fraction done after each block.

    Returns
    -------
    TokenizeResult
    """
    cfg = model.config
    if getattr(traces, "ndim", None) != 2:
        raise CalmError(f"traces must be 2-D (neurons x frames), got shape {getattr(traces, 'shape', None)}")
    N, T = (int(s) for s in traces.shape)
    if N == 0 or T == 0:
        raise CalmError(f"nothing to tokenize: traces have shape {(N, T)}")
    if not (np.isfinite(fs) and fs > 0):
        raise CalmError(f"frame rate must be a positive number, got {fs}")
    P, L, W, K = cfg.patch_len, cfg.window, cfg.n_tokens, cfg.codebook_size
    Tm = model_frames(T, fs, cfg)
    n_tok = math.ceil(Tm / P)
    plan = window_plan(n_tok, W)
    tokens = np.empty((N, n_tok), np.int32) if tokens_out is None else tokens_out
    rec_arr = (np.empty((N, T), np.float32) if recon_out is None else recon_out) if recon else None
    mask = np.zeros((N, T), bool) if mask_out is None else mask_out
    for name, arr, shape in (("tokens_out", tokens, (N, n_tok)), ("recon_out", rec_arr, (N, T)),
                             ("mask_out", mask, (N, T))):
        if arr is not None and tuple(arr.shape) != shape:
            raise CalmError(f"{name} has shape {tuple(arr.shape)}, expected {shape}")
    token_mask = np.zeros((N, n_tok), bool)
    metrics = _Metrics(N, K)
    native = cfg.fs_policy == "native"
    counts = {"nan": 0, "masked": 0, "constant": 0}
    # native: blocks of rows x groups of windows; resample: blocks of whole rows
    rows_per_block = min(N, batch_windows) if native else max(1, min(N, batch_windows // len(plan)))
    group = max(1, batch_windows // rows_per_block) if native else len(plan)
    done, total = 0, N * len(plan)

    def score(rows: slice, a: int, b: int, x: np.ndarray, y: np.ndarray, constant: np.ndarray,
              mean: np.ndarray, std: np.ndarray) -> np.ndarray:
        """Metrics, masks and reconstruction of recorded frames ``[a, b)``; returns the frame mask."""
        bad = ~np.isfinite(x)
        masked = bad | constant[:, None]
        metrics.add(rows, x, y, ~masked)
        mask[rows, a:b] = masked
        counts["nan"] += int(bad.sum())
        counts["masked"] += int(masked.sum())
        if rec_arr is not None:
            out = y * std[:, None] + mean[:, None]
            out[constant] = mean[constant, None]
            rec_arr[rows, a:b] = out
        return masked

    for r0 in range(0, N, rows_per_block):
        rows = slice(r0, min(N, r0 + rows_per_block))
        n = rows.stop - rows.start
        mean, std, constant = row_stats(traces, rows, max(L, (batch_windows * L) // n))
        mean32, std32 = mean.astype(np.float32), std.astype(np.float32)
        counts["constant"] += int(constant.sum())
        if not native:  # gaps filled at the recorded rate, then the whole rows resampled
            z = (np.asarray(traces[rows], np.float32) - mean32[:, None]) / std32[:, None]
            source = to_model_rate(fill_gaps(z)[0], fs, cfg)
            rec_model = np.empty((n, n_tok * P), np.float32)
        for g0 in range(0, len(plan), group):
            part = plan[g0:g0 + group]
            f0, f1 = part[0][0] * P, part[-1][0] * P + L
            block = np.full((n, f1 - f0), np.nan, np.float32)
            stop = min(f1, T if native else Tm)
            block[:, :stop - f0] = traces[rows, f0:stop] if native else source[:, f0:stop]
            if native:
                block = (block - mean32[:, None]) / std32[:, None]
            offs = np.array([s * P - f0 for s, _ in part])
            windows = fill_gaps(block[:, offs[:, None] + np.arange(L)].reshape(-1, L))[0]
            idx, rec = _run_model(model, windows)
            idx, rec = idx.reshape(n, len(part), W), rec.reshape(n, len(part), L)
            for j, (s, keep) in enumerate(part):
                t0, t1 = s + keep, min(s + W, n_tok)
                tokens[rows, t0:t1] = idx[:, j, keep:t1 - s]
                a, b = t0 * P, t1 * P
                if native:
                    b = min(b, T)
                    x = (np.asarray(traces[rows, a:b], np.float32) - mean32[:, None]) / std32[:, None]
                    masked = score(rows, a, b, x, rec[:, j, a - s * P:b - s * P], constant, mean, std)
                    token_mask[rows, t0:t1] = _all_masked(_pad_true(masked, (t1 - t0) * P), P)
                else:
                    rec_model[:, a:b] = rec[:, j, a - s * P:b - s * P]
            done += n * len(part)
            if progress is not None:
                progress(done / total)
        if not native:
            x = (np.asarray(traces[rows], np.float32) - mean32[:, None]) / std32[:, None]
            masked = score(rows, 0, T, x, from_model_rate(rec_model, fs, T, cfg), constant, mean, std)
            frame_of = np.minimum((np.arange(n_tok * P) * (fs / model_rate(fs, cfg))).astype(int), T - 1)
            per_model_frame = masked[:, frame_of] | (np.arange(n_tok * P) >= Tm)
            token_mask[rows] = _all_masked(per_model_frame, P)
        used = ~token_mask[rows]
        metrics.codes += np.bincount(np.asarray(tokens[rows])[used].ravel(), minlength=K)
    result = metrics.result()
    result.update({
        "masked_fraction": counts["masked"] / (N * T),
        "nan_fraction": counts["nan"] / (N * T),
        "constant_neurons": counts["constant"],
        "masked_token_fraction": float(token_mask.mean()),
        "padded_frames": int(max(L, n_tok * P) - Tm),
        "short_input": bool(Tm < L),
        "n_neurons": N,
        "n_frames": T,
        "n_tokens": n_tok,
        "fs": float(fs),
        "model_fs": model_rate(fs, cfg),
        "bits_per_frame": math.log2(K) * n_tok / T,
    })
    return TokenizeResult(tokens, rec_arr, result, mask, token_mask, float(fs))
