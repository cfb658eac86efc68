"""Behaviour decoding: CalM task heads against supervised decoders on identical folds.

Protocol (:func:`decode`):

1. the target is resolved from the recording (:func:`~src_models.analysis.targets.resolve_target`):
   a behaviour variable per frame, or a trial column per trial (or per frame);
2. every model sees the same samples and the same folds — contiguous blocks of frames or runs of
   whole trials, with ``gap`` ≥ ``context`` frames between training and test samples
   (:mod:`~src_models.analysis.cv`);
3. supervised baselines (ridge, MLP, GRU) read the recording's traces z-scored per neuron over the
   whole recording (label-free); frame-level samples see the causal window of ``context`` frames
   ending at the decoded frame, trial-level samples the frames of their trial;
4. CalM heads read a :class:`FeatureExtractor`'s per-frame features (DAT states) laid out the
   same way: ``linear`` (ridge), ``mlp``, and the default ``hybrid`` (:class:`HybridHead`: ridge
   on the frame-resolution traces the 8-frame tokens lose, then a ridge of the states on its
   inner out-of-fold residuals, kept only where it lowers the inner error, its continuous outputs
   shrunk toward the training mean and/or clipped to the training range where the same inner
   folds say so); fine-tuned CalM decoders
   (:mod:`~src_models.analysis.finetuned_head`) train the DAT itself with a head on each fold;
5. scores are computed on the out-of-fold predictions of each fold and averaged over folds
   (R² and Pearson r for continuous targets, balanced accuracy for discrete ones);
6. chance: the ridge decoder on the traces, refitted on circularly shifted labels (the penalty of
   each fold fixed to the one chosen for the real labels), averaged over shifts.

The CalM score reported as ``calm`` is the best CalM variant and each baseline's score is reported
separately, so "CalM vs the best baseline" compares two maxima taken the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from src_models.analysis.calm_features import FeatureExtractor, ProgressFn, sub_progress
from src_models.analysis.cv import Fold, block_folds, circular_shifts, trial_folds
from src_models.analysis.decoders import DECODERS, RIDGE_ALPHAS, MLPDecoder, RidgeDecoder, one_hot
from src_models.analysis.linear import centroids, estimator, fold_losses, nearest, ridge_path
from src_models.analysis.inputs import DEFAULT_LAG_EDGES, FrameInputs, TrialInputs
from src_models.analysis.scores import headline_metric, score
from src_models.analysis.targets import Target, resolve_target
from src_models.errors import CalmError
from src_models.preprocessing import ZScore
from src_models.recording import Recording
from src_models.settings import DecodeSettings, split_names

#: shrink factors toward the training target mean that the hybrid head tries (1: unchanged)
SHRINKS = (1.0, 0.75, 0.5, 0.25, 0.0)


def guard(out: np.ndarray, y_train: np.ndarray, shrink: float, clip: bool) -> np.ndarray:
    """Outputs ``(n, k)`` shrunk toward the mean of the training targets ``y_train`` ``(m, k)`` by
    ``shrink`` (1: ``out`` itself), then clipped to their range if ``clip``."""
    if shrink != 1.0:
        mean = y_train.mean(0)
        out = mean + shrink * (out - mean)
    return np.clip(out, y_train.min(0), y_train.max(0)) if clip else out


def choose_guard(oof: np.ndarray, Y: np.ndarray, folds: list) -> tuple[float, bool]:
    """The ``(shrink, clip)`` of :func:`guard` with the least squared error on inner ``folds``.

    Parameters
    ----------
    oof : ndarray
        ``(n, k)`` out-of-fold outputs on ``folds`` (``(train, test)`` index pairs into ``Y``).
    Y : ndarray
        ``(n, k)`` targets; each fold is guarded with the statistics of its own training rows.
    folds : list of tuple of ndarray
        The inner folds that produced ``oof``.

    Returns
    -------
    shrink : float
        Among :data:`SHRINKS`; ties go to the larger factor and to no clipping (the output as it is).
    clip : bool
        Whether to clip to the training range.
    """
    candidates = [(s, c) for c in (False, True) for s in SHRINKS]
    out = np.zeros((len(candidates), *Y.shape))
    for tr, va in folds:
        for i, (s, c) in enumerate(candidates):
            out[i, va] = guard(oof[va], Y[tr], s, c)
    return candidates[int(np.argmin(fold_losses(out, Y, folds)))]


class HybridHead:
    """CalM's default head: ridge on the frame-resolution traces, then the DAT states on its residuals.

    A :class:`RidgeDecoder` on the z-scored traces lag-binned at frame resolution (what 8-frame
    tokens cannot resolve), then a ridge on the CalM states (per-neuron read-out) fitted to the
    traces ridge's out-of-fold residuals on its 3 contiguous, gap-separated inner folds of the
    training samples (residual stacking). The states' penalty, and whether they are used at all
    (``weight`` 1 or 0), are chosen by the squared error of out-of-fold outputs on those inner folds
    (never the test fold). With the states off it is ridge on the traces, so it is never worse than
    ridge on the inner folds, and it uses the states only where they predict what the traces miss.

    Continuous targets then get two safeguards against extrapolating the target, chosen by the same
    inner folds' out-of-fold outputs (:func:`choose_guard`): a ``shrink`` factor toward the training
    target mean (1: unchanged, 0: the mean) and ``clip`` to the training target's range. Ties keep
    ``shrink`` 1 and no clipping, so both are identity-or-better on the inner folds (``None`` for
    discrete targets, which are unchanged).

    Parameters
    ----------
    kind : {'continuous', 'discrete'}
        Target type.
    n_classes : int
        Classes of a discrete target.
    gap : int
        Frames between inner training and validation samples.
    """

    name = "hybrid"

    def __init__(self, kind: str, n_classes: int = 0, gap: int = 0) -> None:
        self.kind, self.n_classes, self.gap = kind, n_classes, gap

    def _outputs(self, inputs: tuple, idx: np.ndarray) -> np.ndarray:
        out = self._traces.decision(inputs[1], idx)
        if self.weight:
            out = out + self._states.predict(inputs[0].flat(idx).astype(np.float64)).reshape(len(idx), -1)
        return out

    def fit(self, inputs: tuple, train_idx: np.ndarray, y: np.ndarray, frames: np.ndarray) -> HybridHead:
        """Fit the traces ridge, then the states ridge on its residuals (``inputs``: states, traces)."""
        self._traces = ridge = RidgeDecoder(self.kind, self.n_classes, self.gap).fit(inputs[1], train_idx, y, frames)
        self.weight, a_states = 0.0, None
        continuous = self.kind == "continuous"
        Y = y[train_idx, None].astype(np.float64) if continuous else one_hot(
            y[train_idx], self.n_classes
        )
        self.shrink, self.clip = (1.0, False) if continuous else (None, None)
        if ridge.folds:
            resid, alphas = Y - ridge.oof, np.asarray(RIDGE_ALPHAS) * len(train_idx)
            X = inputs[0].flat(train_idx).astype(np.float64)
            path = ridge_path(X, resid, ridge.folds, alphas)
            loss = fold_losses(path, resid, ridge.folds)
            oof = ridge.oof
            if loss.min() < fold_losses(np.zeros_like(resid), resid, ridge.folds):
                best = int(np.argmin(loss))
                self.weight, a_states, oof = 1.0, alphas[best], oof + path[best]
                seen = np.unique(np.concatenate([va for _, va in ridge.folds]))
                self._states = estimator("ridge", alphas=(a_states,)).fit(X[seen], resid[seen])
            if continuous:
                self.shrink, self.clip = choose_guard(oof, Y, ridge.folds)
        self.alpha = [None if a_states is None else float(a_states) / len(train_idx), ridge.alpha]
        if continuous:
            self._y_train = Y
        else:
            self._centroids = centroids(self._outputs(inputs, train_idx), y[train_idx], self.n_classes)
        return self

    def predict(self, inputs: tuple, idx: np.ndarray) -> np.ndarray:
        """Predicted values (continuous) or class indices (discrete)."""
        out = self._outputs(inputs, idx)
        if self.kind == "discrete":
            return nearest(out, self._centroids)
        return guard(out, self._y_train, self.shrink, self.clip)[:, 0]


#: CalM heads trained on frozen features: name -> decoder class
CALM_HEADS = {"hybrid": HybridHead, "linear": RidgeDecoder, "mlp": MLPDecoder}


@dataclass
class DecodeResult:
    """Everything one decoding run produced (plain arrays, ready for plots and JSON).

    Attributes
    ----------
    target, kind, level, metric : str
        Target name, ``continuous``/``discrete``, ``frame``/``trial``, headline metric name.
    frames : ndarray
        ``(n,)`` frame of each sample (trial level: trial start).
    times : ndarray
        ``(n,)`` the same in seconds.
    true : ndarray
        ``(n,)`` targets (values, or class indices into ``classes``).
    predictions : dict of str to ndarray
        Out-of-fold predictions of every model, aligned with ``true``.
    fold_of : ndarray
        ``(n,)`` index of the fold that tested each sample.
    scores : dict
        ``model -> {metric: mean over folds}``.
    fold_scores : dict
        ``model -> [per-fold metric dicts]``.
    chance : dict
        ``metric -> mean`` over circular shifts; ``chance_scores`` the per-shift values.
    classes : list or None
        Class labels (discrete).
    calm_models, baseline_models : list of str
        Which entries of ``scores`` are CalM variants and which are supervised baselines.
    settings : dict
        Folds, gap, context, shifts, seed, sample count, chosen hyper-parameters.
    """

    target: str
    kind: str
    level: str
    metric: str
    frames: np.ndarray
    times: np.ndarray
    true: np.ndarray
    predictions: dict[str, np.ndarray]
    fold_of: np.ndarray
    scores: dict[str, dict[str, float]]
    fold_scores: dict[str, list[dict[str, float]]]
    chance: dict[str, float]
    chance_scores: list[dict[str, float]] = field(default_factory=list)
    classes: list | None = None
    calm_models: list[str] = field(default_factory=list)
    baseline_models: list[str] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)

    def headline(self, model: str) -> float:
        """The headline metric of one model."""
        return self.scores[model][self.metric]

    @property
    def baselines(self) -> dict[str, float]:
        """``{baseline: headline score}``."""
        return {m: self.headline(m) for m in self.baseline_models}

    @property
    def best_calm(self) -> str | None:
        """Name of the best CalM variant (None without CalM)."""
        if not self.calm_models:
            return None
        return max(self.calm_models, key=lambda m: np.nan_to_num(self.headline(m), nan=-np.inf))

    @property
    def best_baseline(self) -> str | None:
        """Name of the best supervised baseline."""
        if not self.baseline_models:
            return None
        return max(self.baseline_models, key=lambda m: np.nan_to_num(self.headline(m), nan=-np.inf))

    def to_json(self) -> dict[str, Any]:
        """The object ``calm decode --json`` prints."""
        best = self.best_calm
        return {
            "target": self.target,
            "kind": self.kind,
            "level": self.level,
            "metric": self.metric,
            "calm": None if best is None else self.headline(best),
            "calm_model": best,
            "calm_variants": {m: self.headline(m) for m in self.calm_models},
            "baselines": self.baselines,
            "best_baseline": self.best_baseline,
            "chance": self.chance[self.metric],
            "scores": self.scores,
            "chance_all": self.chance,
            "classes": None if self.classes is None else [str(c) for c in self.classes],
            "n_samples": len(self.true),
            **self.settings,
        }


def make_folds(target: Target, n_folds: int, gap: int) -> list[Fold]:
    """Contiguous frame blocks (frame level) or runs of whole trials (trial level)."""
    if target.level == "trial":
        labels = target.y if target.kind == "discrete" else None
        return trial_folds(target.start, target.end, n_folds=n_folds, gap=gap, labels=labels)
    folds = block_folds(target.frames, n_folds=n_folds, gap=gap, min_train=10)
    if target.kind == "discrete":
        for k, f in enumerate(folds):
            missing = set(range(len(target.classes))) - set(np.unique(target.y[f.train]))
            if missing:
                names = sorted(str(target.classes[c]) for c in missing)
                raise CalmError(
                    f"fold {k + 1} of {n_folds} has no training samples of class {names} of "
                    f"{target.name!r}; use fewer folds (counts: {target.class_counts()})"
                )
    return folds


def cross_validate(
    decoder_factory: Any,
    inputs: FrameInputs | TrialInputs,
    target: Target,
    folds: list[Fold],
) -> tuple[np.ndarray, list[dict[str, float]], list[Any]]:
    """Out-of-fold predictions, per-fold scores and the fitted decoders."""
    pred = np.zeros(len(target), np.float64 if target.kind == "continuous" else np.int64)
    fold_scores, fitted = [], []
    for fold in folds:
        dec = decoder_factory().fit(inputs, fold.train, target.y, target.frames)
        pred[fold.test] = dec.predict(inputs, fold.test)
        fold_scores.append(score(target.kind, target.y[fold.test], pred[fold.test]))
        fitted.append(dec)
    return pred, fold_scores, fitted


def _mean_scores(fold_scores: list[dict[str, float]]) -> dict[str, float]:
    keys = fold_scores[0].keys()
    return {k: float(np.nanmean([s[k] for s in fold_scores])) for k in keys}


def shift_null(
    inputs: FrameInputs | TrialInputs,
    target: Target,
    folds: list[Fold],
    alphas: list[float],
    n_shifts: int,
    seed: int,
) -> list[dict[str, float]]:
    """Scores of the ridge decoder on circularly shifted labels, one dict per shift.

    Every shift reuses the fold's factorisation of the training inputs (all shifts are solved as
    extra target columns), with the fold's penalty fixed to the one chosen on the real labels.
    """
    if n_shifts <= 0:
        return []
    rng = np.random.default_rng(seed)
    shifts = circular_shifts(len(target), n_shifts, rng)
    ys = np.stack([np.roll(target.y, s) for s in shifts], axis=1)
    K = len(target.classes) if target.kind == "discrete" else 1
    preds = np.zeros(ys.shape, ys.dtype)
    for fold, alpha in zip(folds, alphas):
        X = inputs.flat(fold.train).astype(np.float64)
        Ytr = ys[fold.train]
        if target.kind == "discrete":
            Y = np.concatenate([one_hot(Ytr[:, j], K) for j in range(len(shifts))], axis=1)
        else:
            Y = Ytr.astype(np.float64)
        model = estimator("ridge", alphas=(alpha * len(X),)).fit(X, Y)
        out_te = model.predict(inputs.flat(fold.test).astype(np.float64))
        if target.kind == "continuous":
            preds[fold.test] = out_te
            continue
        out_tr = model.predict(X)
        for j in range(len(shifts)):
            cols = slice(j * K, (j + 1) * K)
            preds[fold.test, j] = nearest(out_te[:, cols], centroids(out_tr[:, cols], Ytr[:, j], K))
    return [
        _mean_scores([score(target.kind, ys[f.test, j], preds[f.test, j]) for f in folds])
        for j in range(len(shifts))
    ]


def zscored_traces(recording: Recording) -> np.ndarray:
    """``(T, N)`` neuropil-corrected traces z-scored per neuron over the recording."""
    x = recording.traces
    return ZScore.fit(x).transform(x).T


def decode(
    recording: Recording,
    target: str,
    *,
    extractors: list[FeatureExtractor] | tuple = (),
    finetuned: list[Any] | tuple = (),
    baselines: tuple[str, ...] = ("ridge", "mlp", "gru"),
    heads: tuple[str, ...] = split_names(DecodeSettings.heads),
    level: str | None = None,
    context: int = 48,
    gap: int | None = None,
    n_folds: int = 5,
    n_shifts: int = 20,
    min_per_class: int = 5,
    seed: int = 0,
    device: str | None = None,
    progress: ProgressFn | None = None,
) -> DecodeResult:
    """Decode one target with CalM heads and supervised baselines on identical folds.

    Parameters
    ----------
    recording : Recording
        Traces plus behaviour variables and/or a trial table.
    target : str
        Behaviour variable or trial column.
    extractors : sequence of FeatureExtractor
        Representation models (e.g. frozen and adapted CalM); each adds one model per head,
        named ``<extractor>_<head>``.
    finetuned : sequence of CalmFinetune
        End-to-end fine-tuned CalM decoders (:mod:`~src_models.analysis.finetuned_head`), one model
        each, named by their ``name``.
    baselines : tuple of str
        Supervised decoders on the traces: any of ``ridge``, ``mlp``, ``gru``.
    heads : tuple of str
        CalM heads: ``hybrid`` (:class:`HybridHead`), ``linear`` (ridge) and/or ``mlp`` (default:
        :class:`~src_models.settings.DecodeSettings`, as ``calm decode`` and the Decoding dock).
    level : {'frame', 'trial'}, optional
        Decoding level (default: per frame for behaviour, per trial for trial columns).
    context : int
        Causal window of frame-level decoders in frames.
    gap : int, optional
        Frames between training and test samples (default and minimum: the longest causal reach of
        any decoder — ``context``, ``context − 1`` plus an extractor's ``receptive_frames``, or a
        fine-tuned model's ``receptive_frames``).
    n_folds : int
        Cross-validation folds.
    n_shifts : int
        Circular shifts for the chance level.
    min_per_class : int
        Minimum trials per class of a discrete target.
    seed : int
        Seed of every decoder and of the shifts.
    device : str, optional
        Torch device of the MLP / GRU decoders.
    progress : callable, optional
        ``progress(fraction, message)``.

    Returns
    -------
    DecodeResult
    """
    report = progress or (lambda f, m: None)
    # a CalM head at frame t reads states of frames t - context + 1 .. t (its lag bins), and each of
    # those states depends on receptive_frames earlier frames; a fine-tuned DAT reads one state
    reach = max(
        [context]
        + [context - 1 + m.receptive_frames(recording.fs) for m in extractors]
        + [m.receptive_frames(recording.fs) for m in finetuned]
    )
    gap = reach if gap is None else int(gap)
    if gap < reach:
        raise CalmError(
            f"the train/test gap ({gap} frames) must be at least the decoders' context ({reach} frames)"
        )
    unknown = [b for b in baselines if b not in DECODERS] + [
        h for h in heads if h not in CALM_HEADS
    ]
    if unknown:
        raise CalmError(
            f"unknown decoders {unknown}; baselines: {sorted(DECODERS)}, heads: {sorted(CALM_HEADS)}"
        )
    tgt = resolve_target(
        recording, target, level=level, context=context, min_per_class=min_per_class
    )
    folds = make_folds(tgt, n_folds, gap)
    n_classes = len(tgt.classes) if tgt.classes else 0
    fold_of = np.zeros(len(tgt), np.int64)
    for k, f in enumerate(folds):
        fold_of[f.test] = k
    kw = dict(kind=tgt.kind, n_classes=n_classes, gap=gap)
    torch_kw = {**kw, "seed": seed, "device": device}

    def make(cls: type) -> Any:
        return lambda: cls(**kw) if cls in (RidgeDecoder, HybridHead) else cls(**torch_kw)

    def make_inputs(series: np.ndarray, lags: tuple[int, ...] = DEFAULT_LAG_EDGES) -> Any:
        if tgt.level == "trial":
            return TrialInputs(series, tgt.start, tgt.end)
        return FrameInputs(series, tgt.frames, context, lags)

    trace_inputs = make_inputs(zscored_traces(recording))
    jobs: list[tuple[str, Any, Any]] = [(b, trace_inputs, make(DECODERS[b])) for b in baselines]
    n_ext = len(extractors)
    for i, ex in enumerate(extractors):
        feats = ex.frame_features(recording, sub_progress(report, 0.5 * i / n_ext, 0.5 * (i + 1) / n_ext))
        inputs = make_inputs(feats, ex.lag_edges)
        for h in heads:
            both = CALM_HEADS[h] is HybridHead
            jobs.append((f"{ex.name}_{h}", (inputs, trace_inputs) if both else inputs, make(CALM_HEADS[h])))
    for ft in finetuned:
        jobs.append((ft.name, ft.inputs(recording, tgt), lambda ft=ft: ft.decoder(**torch_kw)))
    start = 0.5 if n_ext else 0.0
    predictions, scores, fold_scores, chosen = {}, {}, {}, {}
    ridge_alphas = None
    for j, (name, inputs, factory) in enumerate(jobs):
        report(start + (0.95 - start) * j / len(jobs), f"decoding {tgt.name} with {name}")
        pred, fs, fitted = cross_validate(factory, inputs, tgt, folds)
        predictions[name] = pred
        fold_scores[name] = fs
        scores[name] = _mean_scores(fs)
        keys = {"alpha": "alpha", "weight": "weight", "shrink": "shrink", "clip": "clip",
                "epochs": "epochs_run"}
        chosen[name] = {k: [getattr(d, a) for d in fitted] for k, a in keys.items() if hasattr(fitted[0], a)}
        if isinstance(fitted[0], RidgeDecoder) and inputs is trace_inputs and ridge_alphas is None:
            ridge_alphas = chosen[name]["alpha"]
    report(0.95, "chance level (circularly shifted labels)")
    if ridge_alphas is None:
        ridge_alphas = [
            RidgeDecoder(**kw).fit(trace_inputs, f.train, tgt.y, tgt.frames).alpha for f in folds
        ]
    null = shift_null(trace_inputs, tgt, folds, ridge_alphas, n_shifts, seed)
    chance = (
        _mean_scores(null) if null else {k: float("nan") for k in score(tgt.kind, tgt.y, tgt.y)}
    )
    report(1.0, "done")
    return DecodeResult(
        target=tgt.name,
        kind=tgt.kind,
        level=tgt.level,
        metric=headline_metric(tgt.kind),
        frames=tgt.frames,
        times=tgt.frames / float(recording.fs),
        true=tgt.y,
        predictions=predictions,
        fold_of=fold_of,
        scores=scores,
        fold_scores=fold_scores,
        chance=chance,
        chance_scores=null,
        classes=tgt.classes,
        calm_models=[name for name, *_ in jobs if name not in baselines],
        baseline_models=[b for b in baselines],
        settings={
            "n_folds": n_folds,
            "gap": gap,
            "context": context,
            "n_shifts": n_shifts,
            "seed": seed,
            "hyperparameters": chosen,
        },
    )
