"""Per-neuron DAT hidden states over time, for decoding and neuron embeddings.

The recording is z-scored, tokenized once and run through the DAT in windows
of ``window_tokens`` tokens overlapping by half, so every state after the first
window has at least ``window_tokens // 2`` tokens of causal context. A token's
state summarises activity up to the end of its patch, never later.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from src_models.dat.calm import CalM
from src_models.preparation import PreparedRecording, prepare_recording
from src_models.nq.rate import model_frames
from src_models.errors import CalmError
from src_models.recording import Recording


@dataclass
class NeuronStates:
    """Hidden states of every neuron.

    Attributes
    ----------
    hidden : ndarray
        ``(N, n_tokens, d)`` float32 final-layer states, one per token.
    mean : ndarray
        ``(N, d)`` time-averaged states (a per-neuron embedding of its activity).
    frames : ndarray
        ``(n_tokens,)`` last recorded frame covered by each token (align
        behaviour with ``behavior[frames]``).
    neuron_embedding : ndarray or None
        ``(N, d)`` learned per-neuron embeddings when the model knows the
        recording (pretrained or adapted), else None.
    session_embedding : ndarray or None
        ``(d,)`` learned session embedding when known.
    fs : float
        Frame rate of the recording.
    """

    hidden: np.ndarray
    mean: np.ndarray
    frames: np.ndarray
    neuron_embedding: np.ndarray | None
    session_embedding: np.ndarray | None
    fs: float


@torch.no_grad()
def neuron_states(
    model: CalM,
    traces: Recording | PreparedRecording | np.ndarray,
    *,
    fs: float | None = None,
    window_tokens: int = 16,
    baseline: str = "causal",
) -> NeuronStates:
    """DAT hidden states of every neuron at every token of ``traces``.

    Parameters
    ----------
    model : CalM
        The model (adapt it first with :func:`~src_models.dat.finetune.finetune`
        to get the recording's own neuron embeddings).
    traces : Recording or PreparedRecording or ndarray
        A recording (prepared already, or not), or raw ``(N, T)`` traces with ``fs``.
    window_tokens : int
        Tokens per DAT pass (>= 2). All neurons go through together (they
        attend to each other).
    baseline : {'causal', 'centred'}
        ΔF/F baseline of raw fluorescence (:mod:`src_models.preparation`; not for a prepared
        recording); ``centred`` makes the states depend on later frames (for analyses of the
        whole recording only).

    Returns
    -------
    NeuronStates
    """
    if window_tokens < 2:
        raise CalmError("window_tokens must be >= 2")
    inp = dat_input(model, traces, fs=fs, baseline=baseline)
    hidden = encode_states(model, inp, window_tokens)
    emb = sess = None
    if inp.known:
        dat = model.dat
        emb = dat.neuron_emb.weight[inp.neuron_ids].float().cpu().numpy()
        sess = dat.session_emb.weight[inp.session_id].float().cpu().numpy()
    return NeuronStates(hidden, hidden.mean(axis=1), inp.token_frames, emb, sess, inp.fs)


@dataclass
class DatInput:
    """One token grid.

    Attributes
    ----------
    tokens : Tensor
        ``(N, n_tokens)`` NQ codes.
    token_frames : ndarray
        ``(n_tokens,)`` last recorded frame covered by each token.
    neuron_ids : Tensor
        ``(N,)`` rows of the neuron embedding table.
    session_id : int
        Row of the session embedding table.
    fs : float
        Frame rate of the recording.
    known : bool
        Whether the model knows the recording (its own statistics and embedding rows are used).
    """

    tokens: torch.Tensor
    token_frames: np.ndarray
    neuron_ids: torch.Tensor
    session_id: int
    fs: float
    known: bool

    @property
    def n_tokens(self) -> int:
        return int(self.tokens.shape[1])


def dat_input(
    model: CalM,
    recording: Recording | PreparedRecording | np.ndarray,
    shift: int = 0,
    *,
    fs: float | None = None,
    baseline: str = "causal",
) -> DatInput:
    """Tokens of ``recording`` from frame ``shift`` on, with the model's rows for it.

    Z-scored with the model's own statistics and given its embedding rows when it knows (has been
    pretrained on or adapted to) the recording, else with the first 60 % of frames and the generic
    rows. A token spans ``P`` frames, so states on the plain grid change every ``P`` frames; grids
    shifted by ``0, P/k, 2P/k, ...`` frames give states every ``P/k`` frames, still causal.

    Parameters
    ----------
    model : CalM
        The model.
    recording : Recording or PreparedRecording or ndarray
        A recording (prepared already, or not), or raw ``(N, T)`` traces with ``fs``.
    shift : int
        Frames skipped at the start (the grid's phase).
    fs : float, optional
        Frame rate of raw traces.
    baseline : {'causal', 'centred'}
        ΔF/F baseline of raw fluorescence (:mod:`src_models.preparation`).
    """
    prep = prepare_recording(recording, fs, baseline=baseline)
    entry = model.find_session(prep.fingerprint)
    if entry is not None and entry["n_neurons"] != prep.n_neurons:
        entry = None
    if entry is None:
        mean, std = prep.mean, prep.std
        neuron_ids = torch.zeros(prep.n_neurons, dtype=torch.long)
        session_id = 0
    else:
        mean, std = model.session_norm(entry)
        first = entry["neuron_offset"]
        neuron_ids = torch.arange(first, first + prep.n_neurons)
        session_id = int(entry["session_row"])
    z = ((prep.traces - mean) / std)[:, shift:]
    tokens, _ = model.tokenize(z, prep.fs)
    n_tok = tokens.shape[1]
    if n_tok == 0:
        raise CalmError(f"recording shorter than one token ({model.patch_len} frames)", prep.source)
    n = z.shape[1]
    ratio = n / max(1, model_frames(n, prep.fs, model.nq.config))
    ends = (np.arange(n_tok) + 1) * model.patch_len - 1
    frames = shift + np.minimum(np.floor(ends * ratio).astype(int), n - 1)
    return DatInput(torch.from_numpy(tokens), frames, neuron_ids, session_id, prep.fs, entry is not None)


@torch.no_grad()
def encode_states(model: CalM, inp: DatInput, window_tokens: int) -> np.ndarray:
    """``(N, n_tokens, d)`` final DAT states in half-overlapping causal windows (module docstring)."""
    dat = model.dat.eval()
    dev = model.device
    N, n_tok = inp.tokens.shape
    hidden = np.zeros((N, n_tok, dat.cfg.d_model), np.float32)
    half = max(1, window_tokens // 2)
    tok = inp.tokens.to(dev)[None]
    nid = inp.neuron_ids.to(dev)[None]
    sid = torch.tensor([inp.session_id], device=dev)
    start = 0
    while True:
        stop = min(n_tok, start + window_tokens)
        h = dat.encode(tok[:, :, start:stop], nid, sid)[0].float().cpu().numpy()
        keep = 0 if start == 0 else half
        hidden[:, start + keep : stop] = h[:, keep:]
        if stop >= n_tok:
            return hidden
        start = stop - half
