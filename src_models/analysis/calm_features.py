"""The seam between decoding/embedding analyses and a representation model.

Analyses never call the DAT directly; they ask a :class:`FeatureExtractor` for

* ``frame_features(recording)`` — ``(T, D)`` features per frame, causal in time (frame ``t`` only
  depends on frames ``t − receptive_frames(fs) .. t``), obtained without labels. Decoding heads (linear / small MLP) are then
  trained on them exactly like the supervised baselines are trained on traces;
* ``neuron_embeddings(recording)`` — named ``(N, D)`` per-neuron embeddings.

:class:`CalmFeatures` implements it with CalM: the DAT hidden states of every neuron at every token,
pooled across neurons (mean, or mean and standard deviation) for frame features, and the learned
neuron embeddings plus time-averaged hidden states for neuron embeddings. Its ``adapt_steps``
option first adapts the model to the recording without labels (DAT's ``finetune``), giving the
"fine-tuned backbone" variant; ``adapt_steps=0`` keeps the pretrained backbone frozen.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Protocol, runtime_checkable

import numpy as np

from src_models.analysis.inputs import DEFAULT_LAG_EDGES
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

    def frame_features(self, recording: Recording, progress: ProgressFn | None = None) -> np.ndarray:
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

    Frames before the first token's last frame get token 0 (they are never decoded: decoding
    samples start after a full context window).
    """
    idx = np.searchsorted(np.asarray(token_frames), np.arange(n_frames), side="right") - 1
    return np.maximum(idx, 0)


def neuron_pcs(hidden: np.ndarray, k: int) -> np.ndarray:
    """Every neuron's state projected on the top ``k`` principal axes of all states, concatenated.

    ``(N, n_tokens, d)`` → ``(n_tokens, N · k)``. The axes are shared by all neurons and fitted
    without labels; unlike a pool this keeps neuron identity, so a linear head can weight neurons
    individually (as ridge on traces does), reading each neuron through its DAT state.
    """
    N, n_tok, d = hidden.shape
    flat = hidden.reshape(-1, d).astype(np.float64)
    mu = flat.mean(0)
    sample = flat[:: max(1, len(flat) // 20000)] - mu
    _, _, vt = np.linalg.svd(sample, full_matrices=False)
    proj = (hidden.astype(np.float64) - mu) @ vt[:k].T  # (N, n_tok, k)
    return proj.transpose(1, 0, 2).reshape(n_tok, N * min(k, len(vt))).astype(np.float32)


#: pooled readouts of the DAT states, by name (``neuron_pcs`` takes ``k`` from CalmFeatures)
POOLS = ("mean", "std", "max", "neuron_pcs")


def pool_neurons(hidden: np.ndarray, pool: tuple[str, ...], k: int = 4) -> np.ndarray:
    """Read ``(N, n_tokens, d)`` states out as ``(n_tokens, features)``.

    ``mean``, ``std`` and ``max`` (element-wise over neurons) are permutation-invariant summaries of
    the population state (``d`` features each); ``neuron_pcs`` keeps every neuron
    (:func:`neuron_pcs`, ``N · k`` features). Several names concatenate.
    """
    ops = {
        "mean": lambda h: h.mean(0),
        "std": lambda h: h.std(0),
        "max": lambda h: h.max(0),
        "neuron_pcs": lambda h: neuron_pcs(h, k),
    }
    unknown = [p for p in pool if p not in ops]
    if unknown or not pool:
        raise CalmError(f"unknown read-out {unknown or pool}; use any of {list(POOLS)}")
    return np.concatenate([ops[p](hidden) for p in pool], axis=1).astype(np.float32)


class CalmFeatures:
    """CalM as a :class:`FeatureExtractor`: pooled DAT states per frame, neuron embeddings.

    Parameters
    ----------
    model : CalM
        A loaded model (``src_models.dat.load_calm``). Not modified: adaptation works on a copy.
    name : str
        Prefix of the result keys (``calm_frozen``, ``calm_adapted``...).
    adapt : dict, optional
        ``FinetuneConfig`` fields for a label-free adaptation to the recording before the states
        are read (``{'embed_steps': 300}`` learns the recording's neuron and session embeddings
        with the backbone frozen; ``full_steps > 0`` then fine-tunes the backbone as well).
        ``None`` uses the model as it is (frozen).
    pool : tuple of str
        Read-out of the states for frame features (see :func:`pool_neurons`).
    n_pcs : int
        Components per neuron of the ``neuron_pcs`` read-out.
    lag_edges : tuple of int
        Lag bins of the frame-level heads (the traces' baselines use
        :data:`~src_models.analysis.inputs.DEFAULT_LAG_EDGES`); states already summarise their
        causal window, so ``(0, 1)`` (the current state only) is enough for wide read-outs.
    window_tokens : int
        Tokens per DAT pass; states have between ``window_tokens // 2`` and ``window_tokens``
        tokens of causal context.
    device : str, optional
        Torch device.
    seed : int
        Seed of the adaptation.
    """

    def __init__(
        self,
        model: object,
        *,
        name: str = "calm_frozen",
        adapt: dict | None = None,
        pool: tuple[str, ...] = ("mean", "std"),
        n_pcs: int = 4,
        lag_edges: tuple[int, ...] = DEFAULT_LAG_EDGES,
        window_tokens: int = 16,
        device: str | None = None,
        seed: int = 0,
    ) -> None:
        pool_neurons(np.zeros((1, 2, 2), np.float32), pool, n_pcs)
        self.model = model
        self.name = name
        self.adapt = adapt
        self.pool = tuple(pool)
        self.n_pcs = int(n_pcs)
        self.lag_edges = tuple(lag_edges)
        self.window_tokens = int(window_tokens)
        self.device = device
        self.seed = seed
        self._cache: dict[int, object] = {}
        self.adapt_log: list[dict] = []

    def view(
        self, name: str, pool: tuple[str, ...], n_pcs: int | None = None, lag_edges: tuple[int, ...] | None = None
    ) -> CalmFeatures:
        """The same model and states (adapted once, computed once) read out another way."""
        other = copy.copy(self)
        pool_neurons(np.zeros((1, 2, 2), np.float32), pool, n_pcs or self.n_pcs)
        other.name, other.pool, other.n_pcs = name, tuple(pool), int(n_pcs or self.n_pcs)
        other.lag_edges = self.lag_edges if lag_edges is None else tuple(lag_edges)
        return other

    def receptive_frames(self, fs: float) -> int:
        """Most recorded frames before ``t`` that a state at ``t`` can depend on."""
        from src_models.nq.rate import tokens_to_frames

        return int(np.ceil(tokens_to_frames(self.window_tokens, fs, self.model.nq.config)))

    def _adapted(self, recording: Recording, progress: ProgressFn) -> object:
        if not self.adapt:
            return self.model
        from src_models.dat.finetune import finetune

        model = copy.deepcopy(self.model)
        gen = finetune(model, recording, config=dict(self.adapt), seed=self.seed, device=self.device)
        try:
            while True:
                info = next(gen)
                self.adapt_log.append(info)
                if info.get("total"):
                    progress(info["step"] / info["total"], f"adapting CalM to the recording ({info['phase']})")
        except StopIteration as done:
            return done.value if done.value is not None else model

    def states(self, recording: Recording, progress: ProgressFn | None = None) -> object:
        """DAT states of every neuron (``src_models.dat.NeuronStates``), cached per recording."""
        if id(recording) in self._cache:
            return self._cache[id(recording)]
        from src_models.dat.states import neuron_states

        report = progress or no_progress
        model = self._adapted(recording, sub_progress(report, 0.0, 0.8 if self.adapt else 0.0))
        report(0.8 if self.adapt else 0.0, "computing CalM states")
        st = neuron_states(model, recording, window_tokens=self.window_tokens)
        report(1.0, "CalM states ready")
        self._cache.clear()
        self._cache[id(recording)] = st
        return st

    def frame_features(self, recording: Recording, progress: ProgressFn | None = None) -> np.ndarray:
        """``(T, features)`` read-out states, each frame taking the latest completed token."""
        st = self.states(recording, progress)
        pooled = pool_neurons(st.hidden, self.pool, self.n_pcs)
        return pooled[forward_fill(st.frames, recording.n_frames)]

    def neuron_embeddings(
        self, recording: Recording, progress: ProgressFn | None = None
    ) -> dict[str, np.ndarray]:
        """``mean_state`` (time-averaged states) and, when learned, ``neuron_embedding``."""
        st = self.states(recording, progress)
        out = {"mean_state": np.asarray(st.mean, np.float32)}
        if st.neuron_embedding is not None:
            out["neuron_embedding"] = np.asarray(st.neuron_embedding, np.float32)
        return out
