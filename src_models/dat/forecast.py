"""Population forecasting with CalM: autoregressive token rollouts decoded through NQ.

For a window with ``C`` frames of context, CalM forecasts the next ``H`` frames of
every neuron in three ways (all from one pass over the context, with a
key/value cache for the generated steps):

``greedy``
    the most likely next token at each step, fed back, decoded through NQ;
``sample_mean``
    the mean of ``n_samples`` sampled rollouts (temperature ``temperature``);
    their 10th–90th percentiles give the shape of the uncertainty band, whose
    width :func:`calibrate_band` sets on the validation windows;
``regression``
    the light regression head on the last context state (no rollout);
``var``, ``ar``, ``blend_linear``, ``blend_<variant>``
    the linear skip path (:class:`~src_models.dat.linear_skip.LinearSkip`): a ridge
    VAR and a pooled ridge AR of the training split, their stack, and each variant
    stacked with them, convex weights fitted on validation.

:func:`forecast_prepared` applies the evaluation protocol to a model adapted
to the first 60 % of the frames (:meth:`src_models.engine.CalM.adapt`): pick
the variant with the lowest MSE on the windows of the next 20 %, and forecast
every window of the last 20 % (context and horizon inside it), every forecaster
reading contexts through the out-of-range guard (:mod:`~src_models.dat.range_guard`).
Metrics come from :func:`src_models.metrics.forecast_metrics` in the z-space of
the training split, next to the copy-last baseline.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from src_models.dat.calm import CalM
from src_models.dat.linear_skip import LinearSkip, evenly
from src_models.dat.range_guard import RangeGuard
from src_models.preparation import PreparedRecording
from src_models.errors import CalmError
from src_models.metrics import forecast_metrics, pooled_corr_per_neuron, window_starts
from src_models.recording import Recording

VARIANTS = ("greedy", "sample_mean", "regression")


@dataclass
class ForecastResult:
    """Forecasts of every test window, the truth, and the metrics.

    Arrays are ``(W, H, N)`` (windows × horizon frames × neurons) in the
    z-space of the training split unless said otherwise.

    Attributes
    ----------
    pred : ndarray
        The selected variant's forecasts.
    variants : dict of str to ndarray
        Forecasts of every variant (``greedy``, ``sample_mean``, ``regression``).
    lower, upper : ndarray or None
        80 % band around ``pred``: the sampled rollouts' 10th–90th percentile
        spread, widened on validation by :func:`calibrate_band`.
    true : ndarray
        Targets.
    last : ndarray
        ``(W, N)`` last context frame (the copy-last forecast).
    starts : ndarray
        ``(W,)`` first context frame of every window (recording frame index).
    selected : str
        Variant with the lowest validation MSE (reported as ``metrics``).
    metrics : dict
        ``forecast_metrics`` of the selected variant.
    variant_metrics : dict of str to dict
        Test metrics of every variant.
    val_mse : dict of str to float
        Validation MSE of every variant (what ``selected`` is chosen by).
    baseline : dict
        Metrics of the copy-last baseline.
    context, horizon : int
        Window layout in recorded frames.
    fs : float
        Frame rate in Hz.
    mean, std : ndarray
        ``(N, 1)`` training-split statistics (``raw = z * std + mean``).
    info : dict
        Adaptation, timings, sizes.
    z : ndarray, optional
        ``(N, T)`` the whole recording in the training split's z-space (what the windows show).
    """

    pred: np.ndarray
    variants: dict[str, np.ndarray]
    lower: np.ndarray | None
    upper: np.ndarray | None
    true: np.ndarray
    last: np.ndarray
    starts: np.ndarray
    selected: str
    metrics: dict[str, Any]
    variant_metrics: dict[str, dict[str, Any]]
    val_mse: dict[str, float]
    baseline: dict[str, Any]
    context: int
    horizon: int
    fs: float
    mean: np.ndarray
    std: np.ndarray
    info: dict[str, Any] = field(default_factory=dict)
    z: np.ndarray | None = None

    def window_corr(self, w: int) -> np.ndarray:
        """``(N,)`` Pearson r of every neuron's forecast and truth over test window ``w``'s horizon."""
        return pooled_corr_per_neuron(self.pred[w : w + 1], self.true[w : w + 1])

    def to_json(self) -> dict[str, Any]:
        """The object ``calm forecast --json`` prints."""
        return {
            "metrics": self.metrics,
            "baseline_copy_last": self.baseline,
            "selected": self.selected,
            "variants": self.variant_metrics,
            "val_mse": self.val_mse,
            "context": self.context,
            "horizon": self.horizon,
            "n_windows": int(len(self.starts)),
            "n_neurons": int(self.true.shape[2]),
            "fs": self.fs,
            "band": None if self.lower is None else {
                "quantiles": [0.1, 0.9],
                "coverage": float(np.mean((self.true >= self.lower) & (self.true <= self.upper))),
            },
            **self.info,
        }

    def save(self, path: str | Path) -> Path:
        """Write forecasts, truth, band and metrics (JSON under ``metrics_json``) to an ``.npz`` atomically."""
        from src_models.outputs import save_npz

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        arrays = {"pred": self.pred, "true": self.true, "last": self.last, "starts": self.starts,
                  "mean": self.mean, "std": self.std}
        arrays.update({f"pred_{k}": v for k, v in self.variants.items()})
        if self.lower is not None:
            arrays.update(lower=self.lower, upper=self.upper)
        return save_npz(path, arrays, self.to_json(), meta_key="metrics_json")


# -- rollouts ---------------------------------------------------------------------------------
@torch.no_grad()
def rollout(
    model: CalM,
    ctx_tokens: torch.Tensor,
    neuron_ids: torch.Tensor,
    session_id: int,
    n_steps: int,
    *,
    anchors: torch.Tensor | None = None,
    n_samples: int = 0,
    temperature: float = 1.0,
    generator: torch.Generator | None = None,
) -> dict[str, torch.Tensor]:
    """Generate ``n_steps`` tokens after ``ctx_tokens`` ``(W, N, n_ctx)``.

    Returns
    -------
    dict
        ``greedy`` ``(W, N, n_steps)`` tokens; ``samples`` ``(W, S, N, n_steps)``
        when ``n_samples > 0``; ``regression`` ``(W, N, reg_patches * P)``
        frames when the model has the head and ``anchors`` (``(W, N, P)``, the
        last context patch's frames) are given; ``hidden`` ``(W, N, d)`` last context state.
    """
    dat = model.dat
    W, N, _ = ctx_tokens.shape
    nid = neuron_ids[None].expand(W, N)
    sid = torch.full((W,), session_id, dtype=torch.long, device=ctx_tokens.device)
    hidden, cache = dat.encode_cached(ctx_tokens, nid, sid, None)
    last = hidden[:, :, -1:]
    out: dict[str, torch.Tensor] = {"hidden": last[:, :, 0]}
    if dat.reg_head is not None and anchors is not None:
        out["regression"] = (dat.regress(last[:, :, 0], anchors) + anchors[..., -1:]).float()
    first_logits = dat.head(last).float()  # (W, N, 1, K)

    greedy = []
    logits, c = first_logits, cache
    for i in range(n_steps):
        tok = logits.argmax(-1)
        greedy.append(tok)
        if i + 1 < n_steps:
            h, c = dat.encode_cached(tok, nid, sid, None, c)
            logits = dat.head(h).float()
    out["greedy"] = torch.cat(greedy, dim=2)

    if n_samples > 0:
        S = n_samples
        nid_s = neuron_ids[None].expand(W * S, N)
        sid_s = torch.full((W * S,), session_id, dtype=torch.long, device=ctx_tokens.device)
        # cache entries (W*N, h, t, dh) -> every window's repeated S times
        c = [tuple(x.view(W, N, *x.shape[1:]).repeat_interleave(S, 0).flatten(0, 1) for x in kv) for kv in cache]
        logits = first_logits.repeat_interleave(S, 0)
        samples = []
        for i in range(n_steps):
            probs = torch.softmax(logits[:, :, 0] / max(temperature, 1e-6), dim=-1)
            tok = torch.multinomial(probs.reshape(-1, probs.shape[-1]), 1, generator=generator).view(W * S, N, 1)
            samples.append(tok)
            if i + 1 < n_steps:
                h, c = dat.encode_cached(tok, nid_s, sid_s, None, c)
                logits = dat.head(h).float()
        out["samples"] = torch.cat(samples, dim=2).view(W, S, N, n_steps)
    return out


def decode_horizon(model: CalM, ctx_tokens: torch.Tensor, new_tokens: torch.Tensor, n_frames: int) -> np.ndarray:
    """Model-rate frames ``(M, n_frames)`` of generated tokens ``(M, n_new)`` after ``ctx_tokens`` ``(M, n_ctx)``."""
    return model.tokenizer.decode(new_tokens, context=ctx_tokens)[:, :n_frames].cpu().numpy()


# -- windows ---------------------------------------------------------------------------------
def _session_rows(model: CalM, prep: PreparedRecording) -> tuple[dict[str, Any] | None, np.ndarray, np.ndarray]:
    """Embedding rows of ``prep`` and the affine map from the model's z-space to the protocol's."""
    entry = model.find_session(prep.fingerprint)
    if entry is not None and entry["n_neurons"] == prep.n_neurons:
        mean_m, std_m = model.session_norm(entry)
    else:
        entry, mean_m, std_m = None, prep.mean, prep.std
    return entry, mean_m, std_m


def forecast_windows(
    model: CalM,
    prep: PreparedRecording,
    starts: np.ndarray,
    context: int,
    horizon: int,
    *,
    n_samples: int = 8,
    temperature: float = 1.0,
    seed: int = 0,
    batch_rows: int = 16384,
    variants: tuple[str, ...] = VARIANTS,
    skip: LinearSkip | None = None,
    guard: RangeGuard | None = None,
) -> dict[str, np.ndarray]:
    """Forecasts of the windows starting at ``starts`` (any frames of the recording).

    Parameters
    ----------
    model : CalM
        The model; uses the recording's own embeddings when it knows it
        (pretrained or adapted), the generic ones otherwise.
    prep : PreparedRecording
        The recording (:func:`~src_models.dat.data.prepare_recording`).
    starts : ndarray
        First context frame of every window; the context is
        ``starts[w] .. starts[w] + context - 1`` and the forecast covers the
        next ``horizon`` frames.
    context, horizon : int
        Window layout in recorded frames.
    n_samples : int
        Sampled rollouts per window for ``sample_mean`` and the band.
    temperature, seed : float, int
        Sampling temperature and seed.
    batch_rows : int
        Neuron-windows (times samples) per DAT call, bounding memory.
    variants : tuple of str
        Which forecasts to compute.
    skip : LinearSkip, optional
        Also its ``var`` and ``ar`` forecasts and stacks (:meth:`LinearSkip.apply`).
    guard : RangeGuard, optional
        The out-of-range guard (:mod:`~src_models.dat.range_guard`): the model reads contexts
        clipped to the training range and the excess of the last context frame is added to every
        forecast and to the band.

    Returns
    -------
    dict
        ``(W, H, N)`` arrays in the training split's z-space for each variant
        and, with samples, ``lower`` and ``upper`` (10th / 90th percentiles).
    """
    entry, mean_m, std_m = _session_rows(model, prep)
    dev = model.device
    N = prep.n_neurons
    z_in = prep.z if guard is None else guard.clip(prep.z)  # protocol z the model reads
    traces = prep.traces if guard is None else np.where(z_in == prep.z, prep.traces, z_in * prep.std + prep.mean)
    z_model = (traces - mean_m) / std_m  # the model's input space
    scale = (std_m / prep.std)[:, 0]  # model z -> protocol z
    shift = ((mean_m - prep.mean) / prep.std)[:, 0]
    tok = model.tokenizer
    fs = prep.fs
    n_ctx = tok.context_tokens(context, fs)
    n_new = tok.horizon_tokens(horizon, fs)
    hm = tok.horizon_model_frames(horizon, fs)
    if n_ctx < 1:
        raise CalmError(f"a context of {context} frames is shorter than one token ({model.patch_len} frames)")
    if entry is None:
        nids = torch.zeros(N, dtype=torch.long, device=dev)
        sid = 0
    else:
        nids = torch.arange(entry["neuron_offset"], entry["neuron_offset"] + N, device=dev)
        sid = entry["session_row"]
    gen = torch.Generator(device=dev).manual_seed(seed)
    want_samples = n_samples > 0 and ("sample_mean" in variants)
    reg_frames = 0 if model.dat.reg_head is None else model.dat.cfg.reg_patches * model.patch_len
    starts = np.asarray(starts, np.int64)
    patch_cache = None
    if tok.patch_local and tok.config.fs_policy == "native" and len(starts):
        # every window's patches, encoded once: patch p of window w starts at starts[w] + offsets[p]
        offsets = context - (n_ctx - np.arange(n_ctx)) * model.patch_len
        positions = np.unique(starts[:, None] + offsets[None, :])
        patch_cache = (positions, tok.patch_tokens(z_model, positions))
    out: dict[str, list[np.ndarray]] = {k: [] for k in variants}
    lows, highs = [], []
    per = max(1, batch_rows // max(1, N * (1 + (n_samples if want_samples else 0))))
    for i in range(0, len(starts), per):
        s = starts[i : i + per]
        ctx_tokens = _context_tokens(model, z_model, fs, s, context, n_ctx, patch_cache)  # (W, N, n_ctx)
        W = len(s)
        ctx_t = torch.from_numpy(ctx_tokens).to(dev)
        anchors = torch.from_numpy(_context_last(model, z_model, fs, s, context)).to(dev)
        r = rollout(model, ctx_t, nids, sid, n_new, anchors=anchors, n_samples=n_samples if want_samples else 0,
                    temperature=temperature, generator=gen)
        flat_ctx = ctx_t.reshape(W * N, n_ctx)

        def to_frames(model_frames: np.ndarray) -> np.ndarray:
            # (M, hm) model-rate frames -> (W, H, N) recorded frames, protocol z
            x = tok.from_model_rate(model_frames, fs, horizon).reshape(W, N, horizon)
            return (x * scale[None, :, None] + shift[None, :, None]).transpose(0, 2, 1)

        if "greedy" in variants:
            g = decode_horizon(model, flat_ctx, r["greedy"].reshape(W * N, n_new), hm)
            out["greedy"].append(to_frames(g))
        if "regression" in variants and "regression" in r and reg_frames >= hm:
            out["regression"].append(to_frames(r["regression"][:, :, :hm].reshape(W * N, hm).cpu().numpy()))
        if want_samples:
            S = n_samples
            smp = r["samples"].permute(0, 2, 1, 3).reshape(W * N * S, n_new)  # (W, N, S, n) rows
            dec = decode_horizon(model, flat_ctx.repeat_interleave(S, 0), smp, hm)
            frames = np.stack([to_frames(dec.reshape(W * N, S, hm)[:, k]) for k in range(S)])  # (S, W, H, N)
            out["sample_mean"].append(frames.mean(0))
            lows.append(np.quantile(frames, 0.1, axis=0))
            highs.append(np.quantile(frames, 0.9, axis=0))
    result = {k: np.concatenate(v).astype(np.float32) for k, v in out.items() if v}
    if lows:
        result["lower"] = np.concatenate(lows).astype(np.float32)
        result["upper"] = np.concatenate(highs).astype(np.float32)
    if guard is not None:
        excess = (prep.z - z_in)[:, starts + context - 1].T[:, None, :]  # (W, 1, N)
        result = {k: (v + excess).astype(np.float32) for k, v in result.items()}
    if skip is not None:
        result.update(skip.apply(result, skip.forecast(prep, starts)))
    return result


def _context_tokens(model: CalM, z: np.ndarray, fs: float, starts: np.ndarray, context: int, n_ctx: int,
                    patch_cache: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """Tokens ``(W, N, n_ctx)`` of every window's context, from the context frames only.

    ``patch_cache`` = ``(positions, tokens)`` from
    :meth:`FrameTokenizer.patch_tokens` (sorted patch start frames and their
    ``(N, n_positions)`` tokens) lets patch-local tokens be looked up instead
    of recomputed for overlapping windows.
    """
    tok = model.tokenizer
    P = model.patch_len
    if patch_cache is not None:
        positions, table = patch_cache
        frames = starts[:, None] + context - (n_ctx - np.arange(n_ctx))[None, :] * P  # (W, n_ctx)
        return table[:, np.searchsorted(positions, frames)].transpose(1, 0, 2)
    N, W = z.shape[0], len(starts)
    ctx = z[:, starts[:, None] + np.arange(context)[None, :]]  # (N, W, C)
    ctx = np.ascontiguousarray(ctx.transpose(1, 0, 2)).reshape(W * N, context)
    zm = tok.to_model_rate(ctx, fs)
    zm = zm[:, zm.shape[1] - n_ctx * P :]  # whole patches aligned to the end of the context
    return tok.tokenize_model_rate(zm).reshape(W, N, n_ctx)


def _context_last(model: CalM, z: np.ndarray, fs: float, starts: np.ndarray, context: int) -> np.ndarray:
    """``(W, N, P)`` last P model-rate frames of every window's context (the regression head's
    anchors; the context holds whole tokens, so at least P frames)."""
    P = model.dat.cfg.patch_len
    N, W = z.shape[0], len(starts)
    if model.nq.config.fs_policy == "native":
        idx = starts[:, None] + np.arange(context - P, context)[None, :]
        return np.ascontiguousarray(z[:, idx].transpose(1, 0, 2).astype(np.float32))
    ctx = z[:, starts[:, None] + np.arange(context)[None, :]].transpose(1, 0, 2).reshape(W * N, context)
    return model.tokenizer.to_model_rate(ctx, fs)[:, -P:].reshape(W, N, P).astype(np.float32)


# -- the evaluation protocol -------------------------------------------------------------------
def check_length(n_frames: int, context: int, horizon: int, source: str | Path | None = None) -> None:
    """Refuse recordings too short for the protocol with a :class:`CalmError`."""
    if context < 1 or horizon < 1:
        raise CalmError(f"context ({context}) and horizon ({horizon}) must be positive", source)
    need = context + horizon
    if n_frames < need:
        raise CalmError(
            f"recording has {n_frames} frames, shorter than context + horizon = {need}", source
        )
    if n_frames * 0.2 < need:
        raise CalmError(
            f"recording has {n_frames} frames; its last 20 % ({int(n_frames * 0.2)} frames) must hold "
            f"context + horizon = {need} frames (need >= {5 * need} frames)",
            source,
        )


def calibrate_band(
    val_pred: np.ndarray,
    val_lower: np.ndarray,
    val_upper: np.ndarray,
    val_true: np.ndarray,
    pred: np.ndarray,
    lower: np.ndarray,
    upper: np.ndarray,
    coverage: float = 0.8,
) -> tuple[np.ndarray, np.ndarray]:
    """A band around ``pred`` whose width is calibrated on validation windows.

    The sampled 10–90 % band of CalM is too narrow (the sampled rollouts are
    under-dispersed) and is centred on the samples, not on the selected
    forecast. This is split-conformal calibration with a normalised score: the
    half-width of the sampled band plus ``δ`` (its median on validation, so that
    collapsed samples still get a band) is scaled, per horizon step, by the
    ``coverage`` quantile of ``|y − ŷ| / (half-width + δ)`` over the validation
    windows. Test frames are never used.

    Parameters
    ----------
    val_pred, val_lower, val_upper, val_true : ndarray
        ``(W_val, H, N)`` validation forecasts, sampled band and truth.
    pred, lower, upper : ndarray
        ``(W, H, N)`` forecasts and sampled band to calibrate.
    coverage : float
        Target fraction of frames inside the band (0.8 for a 10–90 % band).

    Returns
    -------
    lower, upper : ndarray
        ``(W, H, N)`` calibrated band, float32.
    """
    half_val = 0.5 * (val_upper - val_lower)
    delta = float(np.median(half_val)) + 1e-6
    score = np.abs(val_true - val_pred) / (half_val + delta)
    scale = np.quantile(score, coverage, axis=(0, 2))[None, :, None]  # per horizon step
    width = scale * (0.5 * (upper - lower) + delta)
    return (pred - width).astype(np.float32), (pred + width).astype(np.float32)


def forecast_recording(
    model: CalM,
    recording_or_traces: Recording | np.ndarray,
    context: int = 48,
    horizon: int = 16,
    *,
    fs: float | None = None,
    n_samples: int = 8,
    adapt: bool = True,
    stride: int = 1,
    max_val_windows: int = 128,
    linear_skip: bool = True,
    **adapt_settings: Any,
) -> ForecastResult:
    """Adapt on the first 60 %, select on the next 20 %, forecast every window of the last 20 %.

    ``calm forecast`` on a loaded model: ``src_models.engine.CalM(model).adapt(...).forecast(...)``
    without the caches (``model`` is left unchanged). ``adapt_settings`` are
    :class:`~src_models.settings.AdaptSettings` fields; ``adapt=False`` uses the generic
    embeddings; the other parameters are :class:`~src_models.settings.ForecastSettings`'.

    Raises
    ------
    CalmError
        Recording shorter than ``context + horizon`` (or whose last 20 % is).
    """
    from src_models.engine import CalM as Engine

    rec = recording_or_traces
    n_frames = rec.n_frames if isinstance(rec, Recording) else int(np.asarray(rec).shape[-1])
    check_length(n_frames, context, horizon, rec.source if isinstance(rec, Recording) else None)
    if not adapt:
        adapt_settings.update(steps=0, full_steps=0)
    adapted = Engine(model).adapt_job(rec, fs=fs, cache=False, **adapt_settings).run()
    return adapted.forecast(context, horizon, samples=n_samples, stride=stride, max_val_windows=max_val_windows,
                            no_skip=not linear_skip)


def _truth(prep: PreparedRecording, starts: np.ndarray, context: int, horizon: int) -> tuple[np.ndarray, np.ndarray]:
    """``(W, H, N)`` targets and ``(W, N)`` last context frames of the windows at ``starts``."""
    rows = starts[:, None] + context + np.arange(horizon)[None, :]
    return prep.z[:, rows].transpose(1, 2, 0), prep.z[:, starts + context - 1].T


def validation_forecasts(
    model: CalM, prep: PreparedRecording, context: int, horizon: int, *, n_samples: int = 8,
    temperature: float = 1.0, max_val_windows: int = 128, seed: int = 0, linear_skip: bool = True,
    guard: RangeGuard | None = None,
) -> tuple[dict[str, float], dict[str, np.ndarray], np.ndarray | None, LinearSkip | None]:
    """Forecast MSE of every variant on (at most ``max_val_windows``, evenly spaced) validation windows.

    The variant with the lowest one is what :func:`forecast_prepared` (and ``calm bench``'s CalM
    row) reports. With ``linear_skip`` the :class:`LinearSkip` variants (``var``, ``ar``,
    ``blend_*``) compete too. Returns that MSE by variant, the validation forecasts and truth (``(W, H, N)``,
    which calibrate the band, :func:`calibrate_band`) and the skip path; without validation
    windows ``{}``, ``{}``, ``None``, ``None``. ``guard`` (:class:`RangeGuard`) applies to CalM and
    the skip path alike.
    """
    val_starts = evenly(window_starts(context, horizon, *prep.bounds[1], 1), max_val_windows)
    if not len(val_starts):
        return {}, {}, None, None
    v = forecast_windows(model, prep, val_starts, context, horizon, n_samples=n_samples,
                         temperature=temperature, seed=seed, guard=guard)
    y, _ = _truth(prep, val_starts, context, horizon)
    skip = None
    if linear_skip:
        skip = LinearSkip(prep, context, horizon, {k: v[k] for k in VARIANTS if k in v}, y, val_starts,
                          guard=guard)
    mse = {k: float(np.mean((v[k] - y) ** 2)) for k in VARIANTS if k in v}
    if skip is not None:
        v.update(skip.apply(v, skip.forecast(prep, val_starts)))
        mse.update(skip.val_mse)
    return mse, v, y, skip


def forecast_prepared(
    model: CalM,
    prep: PreparedRecording,
    context: int = 48,
    horizon: int = 16,
    *,
    n_samples: int = 8,
    temperature: float = 1.0,
    stride: int = 1,
    max_val_windows: int = 128,
    seed: int = 0,
    info: dict[str, Any] | None = None,
    t0: float | None = None,
    linear_skip: bool = True,
    range_guard: bool = True,
) -> ForecastResult:
    """Select the variant on the validation part and forecast every window of the test part.

    ``model`` is used as it is (already adapted to ``prep``, or generic); ``info`` (adaptation
    report) and ``t0`` (start time) go into the result's ``info``; ``linear_skip`` adds the
    :class:`LinearSkip` variants (its settings and stack weights go to ``info['linear_skip']``);
    ``range_guard`` forecasts through the out-of-range guard (:mod:`~src_models.dat.range_guard`;
    how much of each split lies outside the training range goes to ``info['range_guard']``).
    Other parameters as in :func:`forecast_recording`.
    """
    t0 = time.time() if t0 is None else t0
    info = dict(info or {})
    check_length(prep.n_frames, context, horizon, prep.source)
    model.eval()

    guard = RangeGuard.of(prep) if range_guard else None
    val_mse, v, y_val, skip = validation_forecasts(
        model, prep, context, horizon, n_samples=n_samples, temperature=temperature,
        max_val_windows=max_val_windows, seed=seed, linear_skip=linear_skip, guard=guard)
    test_starts = window_starts(context, horizon, *prep.bounds[2], stride)
    t2 = time.time()
    f = forecast_windows(model, prep, test_starts, context, horizon, n_samples=n_samples,
                         temperature=temperature, seed=seed + 1, skip=skip, guard=guard)
    forecast_s = time.time() - t2
    y, last = _truth(prep, test_starts, context, horizon)
    variants = {k: p for k, p in f.items() if k not in ("lower", "upper")}
    if skip is not None:
        info["linear_skip"] = skip.report
    if guard is not None:
        info["range_guard"] = {name: guard.report(prep.z, *bounds)
                               for name, bounds in zip(("validation", "test"), prep.bounds[1:])}
    selected = min(val_mse, key=val_mse.get) if val_mse else ("greedy" if "greedy" in variants else next(iter(variants)))
    variant_metrics = {k: forecast_metrics(p, y, last) for k, p in variants.items()}
    baseline = forecast_metrics(np.broadcast_to(last[:, None, :], y.shape), y, last)
    lower, upper = f.get("lower"), f.get("upper")
    if lower is not None and "lower" in v:
        lower, upper = calibrate_band(v[selected], v["lower"], v["upper"], y_val,
                                      variants[selected], lower, upper)
    info.update(seconds=round(time.time() - t0, 2), forecast_seconds=round(forecast_s, 2), n_samples=n_samples,
                splits=dict(zip(("train", "val", "test"), map(list, prep.bounds))), preparation=prep.report)
    return ForecastResult(
        pred=variants[selected], variants=variants, lower=lower, upper=upper, true=y.astype(np.float32),
        last=last.astype(np.float32), starts=test_starts, selected=selected, metrics=variant_metrics[selected],
        variant_metrics=variant_metrics, val_mse=val_mse, baseline=baseline, context=context, horizon=horizon,
        fs=prep.fs, mean=prep.mean, std=prep.std, info=info, z=prep.z)
