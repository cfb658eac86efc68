"""A recording as DAT input (tokens, neuron and session rows), optionally shifted in time.

:func:`dat_input` z-scores and tokenizes a recording the way
:func:`src_models.dat.states.neuron_states` does — the model's own statistics and embedding rows
when it knows (has adapted to) the recording, else the first 60 % of frames and the generic rows —
but can start the token grid ``shift`` frames later. A token spans ``P`` frames, so states on the
plain grid change only every ``P`` frames; grids shifted by ``0, P/k, 2P/k, ...`` frames give states
every ``P/k`` frames, still causal. :func:`encode_states` runs the DAT over a grid in half-overlapping
windows exactly as ``neuron_states`` does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from src_models.errors import CalmError
from src_models.recording import Recording


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
    """

    tokens: torch.Tensor
    token_frames: np.ndarray
    neuron_ids: torch.Tensor
    session_id: int

    @property
    def n_tokens(self) -> int:
        return int(self.tokens.shape[1])


def dat_input(model: Any, recording: Recording, shift: int = 0) -> DatInput:
    """Tokens of ``recording`` from frame ``shift`` on, with the model's rows for it.

    Parameters
    ----------
    model : CalM
        The model.
    recording : Recording
        The recording.
    shift : int
        Frames skipped at the start (the grid's phase).
    """
    from src_models.dat.data import prepare_recording
    from src_models.nq.rate import model_frames

    prep = prepare_recording(recording)
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
        raise CalmError(
            f"recording shorter than one token ({model.patch_len} frames)", recording.source
        )
    n = z.shape[1]
    ratio = n / max(1, model_frames(n, prep.fs, model.nq.config))
    ends = (np.arange(n_tok) + 1) * model.patch_len - 1
    frames = shift + np.minimum(np.floor(ends * ratio).astype(int), n - 1)
    return DatInput(torch.from_numpy(tokens), frames, neuron_ids, session_id)


@torch.no_grad()
def encode_states(model: Any, inp: DatInput, window_tokens: int) -> np.ndarray:
    """``(N, n_tokens, d)`` final DAT states in half-overlapping causal windows.

    Every state after the first window comes from a window position with at least
    ``window_tokens // 2`` tokens of context, as in ``neuron_states``.
    """
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
