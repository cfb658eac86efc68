"""The seam between decoding/embedding analyses and a representation model.

Analyses never call the DAT directly; they ask a :class:`FeatureExtractor` for

* ``frame_features(recording)`` — ``(T, D)`` features per frame, causal in time (frame ``t`` only
  depends on frames ``t − receptive_frames(fs) .. t``), obtained without labels. Decoding heads
  (linear / small MLP) are then trained on them exactly like the supervised baselines are trained
  on traces;
* ``neuron_embeddings(recording)`` — named ``(N, D)`` per-neuron embeddings.

:class:`CalmFeatures` implements it with CalM: the DAT hidden states of every neuron at every token,
read out per neuron (each neuron's state on a few shared principal axes) or pooled across neurons
(mean, std) for frame features; for neuron embeddings, :func:`state_loadings` (each neuron's
loadings on the principal components of the population's trial-aligned states — label-free, the
primary embedding), the learned neuron embeddings and the time-averaged hidden states. The model is read
as it is: an adapted one comes from ``src_models.engine.CalM.adapt`` (``Adapted.features()``),
the one adaptation every command shares; ``Adapted.features()`` reads ``state_loadings`` from the
pretrained model's states (``loadings_model``). Frame features read raw fluorescence through the
causal ΔF/F every forecast uses; ``state_loadings``, an analysis of the whole recording, read it
through the centred ΔF/F (:mod:`src_models.preparation`), whose trial responses are not blurred by a
trailing baseline.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Protocol, runtime_checkable

import numpy as np

from src_models.errors import CalmError
from src_models.recording import Recording

#: ``progress(fraction, message)`` callback used by long analyses
ProgressFn = Callable[[float, str], None]


@runtime_checkable
class FeatureExtractor(Protocol):
    """Anything that turns a recording into per-frame features and per-neuron embeddings."""

    #: short name used in result keys (``calm_frozen``, ``calm_adapted``, ...)
    name: str
    #: lag bins (frames before ``t``) a frame-level head reads, see :class:`~src_models.analysis.inputs.FrameInputs`
    lag_edges: tuple[int, ...]

    def receptive_frames(self, fs: float) -> int:
        """Most frames before ``t`` that the features of frame ``t`` can depend on."""
        ...

    def frame_features(
        self, recording: Recording, progress: ProgressFn | None = None
    ) -> np.ndarray:
        """``(T, D)`` causal features per frame."""
        ...

    def neuron_embeddings(
        self, recording: Recording, progress: ProgressFn | None = None
    ) -> dict[str, np.ndarray]:
        """Named ``(N, D)`` per-neuron embeddings."""
        ...


def no_progress(fraction: float, message: str) -> None:
    """A progress callback that does nothing."""


def sub_progress(progress: ProgressFn | None, lo: float, hi: float) -> ProgressFn:
    """Map a callback's ``[0, 1]`` onto ``[lo, hi]`` of an outer callback."""
    outer = progress or no_progress
    return lambda f, msg: outer(lo + (hi - lo) * min(max(f, 0.0), 1.0), msg)


def forward_fill(token_frames: np.ndarray, n_frames: int) -> np.ndarray:
    """For every frame, the index of the latest token whose last frame is ≤ that frame.

    Frames before the first token's last frame get token 0; they are never decoded (decoding
    samples start after a context window, and ``calm decode`` refuses a context shorter than a
    token).
    """
    idx = np.searchsorted(np.asarray(token_frames), np.arange(n_frames), side="right") - 1
    return np.maximum(idx, 0)


#: fraction of the tokens the shared principal axes are fitted on (as CalM's z-scoring statistics)
BASIS_FRACTION = 0.6


def pcs_basis(hidden: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean ``(d,)`` and top-``k`` principal axes ``(k, d)`` of the states of every neuron.

    Fitted on the first :data:`BASIS_FRACTION` of the tokens only, like CalM's normalisation, so
    later frames never change the read-out of earlier ones.
    """
    d = hidden.shape[-1]
    n_fit = max(1, int(np.ceil(BASIS_FRACTION * hidden.shape[1])))
    flat = hidden[:, :n_fit].reshape(-1, d).astype(np.float64)
    mu = flat.mean(0)
    _, _, vt = np.linalg.svd(flat[:: max(1, len(flat) // 20000)] - mu, full_matrices=False)
    return mu, vt[:k]


def neuron_pcs(hidden: np.ndarray, basis: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """Every neuron's state projected on shared principal axes, concatenated over neurons.

    ``(N, n_tokens, d)`` → ``(n_tokens, N · k)``. The axes (:func:`pcs_basis`) are shared by all
    neurons and fitted without labels; unlike a pool this keeps neuron identity, so a linear head
    can weight neurons individually (as ridge on traces does), reading each neuron through its
    DAT state.
    """
    mu, axes = basis
    N, n_tok, _ = hidden.shape
    proj = (hidden.astype(np.float64) - mu) @ axes.T  # (N, n_tok, k)
    return proj.transpose(1, 0, 2).reshape(n_tok, N * len(axes)).astype(np.float32)


#: read-outs of the DAT states, by name
POOLS = ("mean", "std", "neuron_pcs")


def pool_neurons(
    hidden: np.ndarray,
    pool: tuple[str, ...],
    basis: tuple[np.ndarray, np.ndarray] | None = None,
    k: int = 4,
) -> np.ndarray:
    """Read ``(N, n_tokens, d)`` states out as ``(n_tokens, features)``.

    ``mean`` and ``std`` (element-wise over neurons) are permutation-invariant summaries of
    the population state (``d`` features each); ``neuron_pcs`` keeps every neuron
    (:func:`neuron_pcs` on ``basis``, fitted on ``hidden`` with ``k`` axes when not given,
    ``N · k`` features). Several names concatenate.
    """
    unknown = [p for p in pool if p not in POOLS]
    if unknown or not pool:
        raise CalmError(f"unknown read-out {unknown or list(pool)}; use any of {list(POOLS)}")
    ops = {
        "mean": lambda h: h.mean(0),
        "std": lambda h: h.std(0),
        "neuron_pcs": lambda h: neuron_pcs(h, basis if basis is not None else pcs_basis(h, k)),
    }
    return np.concatenate([ops[p](hidden) for p in pool], axis=1).astype(np.float32)


def state_loadings(
    hidden: np.ndarray,
    frames: np.ndarray,
    trials: dict[str, np.ndarray] | None = None,
    k: int = 4,
    n_bins: int = 4,
    n_components: int = 16,
) -> np.ndarray:
    """``(N, n_components)`` loadings of every neuron on the top components of its DAT states.

    Each neuron's states are projected on ``k`` shared principal axes (:func:`pcs_basis`); with
    trial bounds (``start_frame``/``end_frame``, timing only — never the trial's labels) they are
    averaged in ``n_bins`` equal time bins (of tokens) of every trial, otherwise taken per token.
    The resulting ``(N, features)`` matrix is reduced like the activity reference
    (:func:`~src_models.analysis.embedding.activity_embedding`): rows z-scored, loadings on the top
    principal components. Neurons that co-vary with the same trial-to-trial population signals
    (e.g. the cue) land together, which is what makes tuning linearly readable.

    Parameters
    ----------
    hidden : ndarray
        ``(N, n_tokens, d)`` DAT states.
    frames : ndarray
        ``(n_tokens,)`` last frame of every token.
    trials : dict, optional
        Trial table; only ``start_frame`` and ``end_frame`` (exclusive) are read.
    k, n_bins, n_components : int
        Shared state axes, time bins per trial, loadings kept.
    """
    from src_models.analysis.embedding import activity_embedding
    from src_models.analysis.selectivity import trial_responses

    mu, axes = pcs_basis(hidden, k)
    proj = (hidden.astype(np.float64) - mu) @ axes.T  # (N, n_tokens, k)
    if trials and {"start_frame", "end_frame"} <= set(trials):
        # trial bounds in tokens: the first token ending at or after the trial's first frame, up
        # to (excluding) the first ending at or after its end; at least one token per trial
        n_tok = proj.shape[1]
        start = np.minimum(np.searchsorted(frames, trials["start_frame"]), n_tok - 1)
        end = np.clip(np.searchsorted(frames, trials["end_frame"]), start + 1, n_tok)
        proj = np.stack(
            [trial_responses(proj[..., j], start, end, n_bins=n_bins) for j in range(k)], -1
        )
    return activity_embedding(proj.reshape(len(proj), -1), n_components)


class CalmFeatures:
    """CalM as a :class:`FeatureExtractor`: DAT states read out per frame, neuron embeddings.

    Parameters
    ----------
    model : CalM
        A loaded model (``src_models.dat.load_calm``, or ``Adapted.model``). Not modified.
    name : str
        Prefix of the result keys (``calm_frozen``, ``calm_adapted``...).
    pool : tuple of str
        Read-out of the states for frame features (see :func:`pool_neurons`); the default
        ``neuron_pcs`` keeps every neuron.
    n_pcs : int
        Components per neuron of the ``neuron_pcs`` read-out.
    lag_edges : tuple of int
        Lag bins of the frame-level heads (:class:`~src_models.analysis.inputs.FrameInputs`, which
        always closes the last bin at ``context``): the default ``(0, 1)`` reads the current state
        and the mean of the states over the rest of the context window.
    phases : int
        Token grids per patch: ``k > 1`` also encodes the recording shifted by ``P/k, 2P/k, ...``
        frames, so the features change every ``P/k`` frames instead of every ``P`` (``k`` times the
        cost; states of all phases are kept as float16 while the recording is current).
    window_tokens : int
        Tokens per DAT pass; states have between ``window_tokens // 2`` and ``window_tokens``
        tokens of causal context.
    device : str, optional
        Torch device.
    seed : int
        Seed recorded with the extractor (the adaptation's, for an adapted model).
    loadings_model : CalM, optional
        The model whose states give ``state_loadings`` (default: ``model``), computed from the
        centred ΔF/F of raw fluorescence (the causal one blurred the trial responses; BENCHMARKS.md).
        ``Adapted.features()`` passes the pretrained model: fine-tuning the whole DAT on one
        recording's forecasting objective made the loadings' cue/choice SI probes worse on both
        tuning simulations (seeds 21, 22), while the adapted model's own rows stay the
        ``neuron_embedding``.
    """

    def __init__(
        self,
        model: object,
        *,
        name: str = "calm_frozen",
        pool: tuple[str, ...] = ("neuron_pcs",),
        n_pcs: int = 4,
        lag_edges: tuple[int, ...] = (0, 1),
        phases: int = 1,
        window_tokens: int = 16,
        device: str | None = None,
        seed: int = 0,
        loadings_model: object | None = None,
    ) -> None:
        self.model, self.name, self.window_tokens = model, name, int(window_tokens)
        self.loadings_model = model if loadings_model is None else loadings_model
        self.device, self.seed, self.phases = device, seed, max(1, int(phases))
        self._set_readout(pool, n_pcs, lag_edges)
        self._cache: dict[object, object] = {}

    def _set_readout(self, pool: tuple[str, ...], n_pcs: int, lag_edges: tuple[int, ...]) -> None:
        pool_neurons(np.zeros((1, 2, 2), np.float32), tuple(pool), k=int(n_pcs))
        self.pool, self.n_pcs, self.lag_edges = tuple(pool), int(n_pcs), tuple(lag_edges)

    def view(self, name: str, pool: tuple[str, ...]) -> CalmFeatures:
        """The same model and states (adapted once, computed once) pooled another way."""
        other = copy.copy(self)
        other.name = name
        other._set_readout(pool, self.n_pcs, self.lag_edges)
        return other

    def receptive_frames(self, fs: float) -> int:
        """Most recorded frames before ``t`` that a state at ``t`` can depend on."""
        from src_models.nq.rate import tokens_to_frames

        # the state at t is the latest token ending at or before t: up to one token older than t
        return int(np.ceil(tokens_to_frames(self.window_tokens + 1, fs, self.model.nq.config)))

    def _cached(self, key: tuple, recording: Recording, make: Callable[[], object]) -> object:
        """Cache per recording (a new recording drops everything cached for the previous one).

        The recording itself is kept in the cache, so a new recording can never be mistaken for a
        freed one that had the same ``id``.
        """
        if self._cache.get("recording") is not recording:
            self._cache.clear()
            self._cache["recording"] = recording
        if key not in self._cache:
            self._cache[key] = make()
        return self._cache[key]

    def states(self, recording: Recording, progress: ProgressFn | None = None) -> object:
        """DAT states of every neuron (``src_models.dat.NeuronStates``), cached per recording."""
        return self._states_of(self.model, recording, progress)

    def _states_of(
        self, model: object, recording: Recording, progress: ProgressFn | None, baseline: str = "causal"
    ) -> object:
        """``model``'s states of ``recording`` read through the ΔF/F ``baseline``, cached per model
        and prepared traces (traces the baseline does not change share one pass)."""
        from src_models.dat.states import neuron_states
        from src_models.preparation import prepare_recording

        report = progress or no_progress
        prep = self._cached(("prepared", baseline), recording, lambda: prepare_recording(recording, baseline=baseline))

        def make() -> object:
            report(0.0, "computing CalM states")
            return neuron_states(model, prep, window_tokens=self.window_tokens)

        st = self._cached(("states", id(model), prep.fingerprint), recording, make)
        report(1.0, "CalM states ready")
        return st

    def _phase_states(
        self, recording: Recording, progress: ProgressFn
    ) -> list[tuple[np.ndarray, np.ndarray]]:
        """``[(token_frames, hidden float16)]`` for every grid phase (phase 0 from :meth:`states`)."""
        from src_models.dat.states import dat_input, encode_states

        st = self.states(recording, sub_progress(progress, 0.0, 1.0 / self.phases))
        model = self.model
        P = int(model.patch_len)
        out = [(np.asarray(st.frames), st.hidden.astype(np.float16))]
        shifts = sorted({round(i * P / self.phases) for i in range(1, self.phases)} - {0})
        for i, shift in enumerate(shifts):
            progress((i + 1) / self.phases, f"CalM states, grid shifted by {shift} frames")
            inp = dat_input(model, recording, shift)
            out.append(
                (
                    inp.token_frames,
                    encode_states(model, inp, self.window_tokens).astype(np.float16),
                )
            )
        return out

    def frame_features(
        self, recording: Recording, progress: ProgressFn | None = None
    ) -> np.ndarray:
        """``(T, features)`` read-out states, each frame taking the latest completed token."""
        report = progress or no_progress
        if self.phases == 1:
            st = self.states(recording, report)
            feats, frames = pool_neurons(st.hidden, self.pool, k=self.n_pcs), np.asarray(st.frames)
        else:
            grids = self._cached(
                ("phases", self.phases), recording, lambda: self._phase_states(recording, report)
            )
            basis = (
                pcs_basis(grids[0][1].astype(np.float32), self.n_pcs)
                if "neuron_pcs" in self.pool
                else None
            )
            frames = np.concatenate([f for f, _ in grids])
            feats = np.concatenate(
                [pool_neurons(h.astype(np.float32), self.pool, basis) for _, h in grids]
            )
            order = np.argsort(frames, kind="stable")
            frames, feats = frames[order], feats[order]
        return feats[forward_fill(frames, recording.n_frames)]

    def neuron_embeddings(
        self, recording: Recording, progress: ProgressFn | None = None
    ) -> dict[str, np.ndarray]:
        """``state_loadings`` (:func:`state_loadings` of ``loadings_model``'s states of the centred
        ΔF/F, trial-aligned when the recording has trials), ``mean_state`` (time-averaged states)
        and, when learned, ``neuron_embedding``."""
        st = self.states(recording, sub_progress(progress, 0.0, 0.5))
        ls = self._states_of(self.loadings_model, recording, sub_progress(progress, 0.5, 1.0), "centred")
        out = {
            "state_loadings": state_loadings(
                ls.hidden, np.asarray(ls.frames), recording.trials, self.n_pcs
            ),
            "mean_state": np.asarray(st.mean, np.float32),
        }
        if st.neuron_embedding is not None:
            out["neuron_embedding"] = np.asarray(st.neuron_embedding, np.float32)
        return out
