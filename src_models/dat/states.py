"""Per-neuron DAT hidden states over time, for decoding and neuron embeddings.

The recording is z-scored (training-split statistics, or the model's own
statistics when it knows the recording), tokenized once, and run through the
DAT in windows of ``window_tokens`` tokens that overlap by half: every state
after the first window is taken from a window position with at least
``window_tokens // 2`` tokens of causal context. Token ``j`` covers model-rate
frames ``j*P .. (j+1)*P - 1``; its state summarises activity up to the end of
that patch (never later: the DAT is causal in time).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from src_models.dat.calm import CalM
from src_models.dat.data import prepare_recording
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
    traces: Recording | np.ndarray,
    *,
    fs: float | None = None,
    window_tokens: int = 16,
) -> NeuronStates:
    """DAT hidden states of every neuron at every token of ``traces``.

    Parameters
    ----------
    model : CalM
        The model (adapt it first with :func:`~src_models.dat.finetune.finetune`
        to get the recording's own neuron embeddings).
    traces : Recording or ndarray
        A recording or raw ``(N, T)`` traces with ``fs``.
    window_tokens : int
        Tokens per DAT pass (>= 2). All neurons go through together (they
        attend to each other).

    Returns
    -------
    NeuronStates
    """
    if window_tokens < 2:
        raise CalmError("window_tokens must be >= 2")
    prep = prepare_recording(traces, fs)
    entry = model.find_session(prep.fingerprint)
    if entry is not None and entry["n_neurons"] != prep.n_neurons:
        entry = None
    if entry is None:
        mean, std = prep.mean, prep.std
        nids = torch.zeros(prep.n_neurons, dtype=torch.long)
        sid = 0
    else:
        mean, std = model.session_norm(entry)
        nids = torch.arange(entry["neuron_offset"], entry["neuron_offset"] + prep.n_neurons)
        sid = int(entry["session_row"])
    z = (prep.traces - mean) / std
    tokens, _ = model.tokenize(z, prep.fs)
    N, n_tok = tokens.shape
    if n_tok == 0:
        raise CalmError(f"recording shorter than one token ({model.patch_len} frames)", prep.source)
    dev = model.device
    dat = model.dat.eval()
    d = dat.cfg.d_model
    hidden = np.zeros((N, n_tok, d), np.float32)
    half = max(1, window_tokens // 2)
    tok_t = torch.from_numpy(tokens).to(dev)
    nid = nids.to(dev)[None]
    sid_t = torch.tensor([sid], device=dev)
    start = 0
    while True:
        stop = min(n_tok, start + window_tokens)
        h = dat.encode(tok_t[None, :, start:stop], nid, sid_t)[0].float().cpu().numpy()
        keep_from = 0 if start == 0 else half
        hidden[:, start + keep_from : stop] = h[:, keep_from:]
        if stop >= n_tok:
            break
        start = stop - half
    P = model.patch_len
    ends_model = (np.arange(n_tok) + 1) * P - 1
    from src_models.nq.rate import model_frames

    ratio = prep.n_frames / max(1, model_frames(prep.n_frames, prep.fs, model.nq.config))
    frames = np.minimum(np.floor(ends_model * ratio).astype(int), prep.n_frames - 1)
    emb = sess = None
    if entry is not None:
        a = entry["neuron_offset"]
        emb = dat.neuron_emb.weight[a : a + N].float().cpu().numpy()
        sess = dat.session_emb.weight[sid].float().cpu().numpy()
    return NeuronStates(hidden, hidden.mean(axis=1), frames, emb, sess, prep.fs)
