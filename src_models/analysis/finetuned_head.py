"""CalM fine-tuned end to end for one decoding target: the DAT plus a task head, trained per fold.

Where :mod:`~src_models.analysis.calm_features` trains heads on *frozen* DAT states, this trains
the DAT's weights and a small head together on the labels of the training fold (a fresh copy of
the DAT per fold; nothing is written back to the model):

* the recording is z-scored and tokenized exactly as :func:`src_models.dat.states.neuron_states`
  does (the model's own statistics when it knows the recording, else the first 60 % of frames);
* **frame targets** — frame ``t`` is predicted from the latest token ``j`` that ends at or before
  ``t``: the DAT reads the window of ``window_tokens`` tokens ending with ``j`` (causal), and the
  head reads ``j``'s state mean-pooled over neurons;
* **trial targets** — one window per trial ending with the trial's last token and reaching
  ``window_tokens // 2`` tokens before its first; the head reads the pooled states averaged over
  the trial's tokens.

Training: AdamW (DAT at ``lr``, head at ``head_lr``), early stopping on the last gap-separated block
of the training samples, like the other torch decoders.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import torch
from torch import nn

from src_models.analysis.calm_features import forward_fill
from src_models.analysis.decoders import TaskTarget, early_stopping_split
from src_models.analysis.targets import Target
from src_models.device import resolve_device
from src_models.recording import Recording
from src_models.trainer import Trainer


class TokenGrid:
    """A recording tokenized for the DAT, with every decoding sample mapped to its tokens.

    Parameters
    ----------
    model : CalM
        The pretrained model.
    recording : Recording
        The recording.
    target : Target
        The decoding samples (frames or trials).
    window_tokens : int
        Tokens per DAT pass.
    """

    def __init__(
        self, model: Any, recording: Recording, target: Target, window_tokens: int
    ) -> None:
        from src_models.dat.states import dat_input

        inp = dat_input(model, recording)
        self.tokens, self.token_frames = inp.tokens, inp.token_frames
        self.neuron_ids, self.session_id = inp.neuron_ids, inp.session_id
        self.window = max(2, int(window_tokens))
        self.half = self.window // 2
        self.level = target.level
        if target.level == "frame":
            self.sample_token = forward_fill(self.token_frames, recording.n_frames)[target.frames]
        else:
            first_tok = np.searchsorted(self.token_frames, target.start, side="left")
            last_tok = np.searchsorted(self.token_frames, target.end - 1, side="right") - 1
            self.trial_tokens = np.stack([first_tok, np.maximum(last_tok, first_tok)], axis=1)

    @property
    def n_tokens(self) -> int:
        return int(self.tokens.shape[1])


class FinetunedCalmDecoder:
    """DAT + head trained on one fold's labels (see the module docstring).

    Parameters
    ----------
    model : CalM
        The pretrained model (copied per fit, never modified).
    kind : {'continuous', 'discrete'}
        Target type.
    n_classes : int
        Number of classes (discrete).
    gap : int
        Frames between the training samples and the early-stopping block.
    steps : int
        Optimiser steps.
    batch_size : int
        Windows per step.
    lr, head_lr : float
        Learning rates of the DAT and of the head.
    hidden : int
        Hidden units of the head.
    eval_every : int
        Steps between early-stopping evaluations.
    seed : int
        Seed of initialisation and sampling.
    device : str, optional
        Torch device.
    """

    name = "finetuned"

    def __init__(
        self,
        model: Any,
        kind: str,
        n_classes: int = 0,
        gap: int = 0,
        steps: int = 200,
        batch_size: int = 8,
        lr: float = 3e-4,
        head_lr: float = 3e-3,
        hidden: int = 64,
        eval_every: int = 25,
        seed: int = 0,
        device: str | None = None,
    ) -> None:
        self.model, self.kind, self.n_classes, self.gap = model, kind, n_classes, gap
        self.steps, self.batch_size, self.eval_every, self.seed = steps, batch_size, eval_every, seed
        self.lr, self.head_lr, self.hidden = lr, head_lr, hidden
        self.device, self.epochs_run = resolve_device(device), 0

    # -- forward passes ---------------------------------------------------------------------------
    def _encode(self, grid: TokenGrid, starts: np.ndarray, length: int) -> torch.Tensor:
        """Pooled states ``(B, length, d)`` of windows starting at ``starts`` (clipped to the grid)."""
        idx = torch.as_tensor(starts[:, None] + np.arange(length)[None, :], dtype=torch.long)
        tok = grid.tokens[:, idx].permute(1, 0, 2).to(self.device)  # (B, N, length)
        nid = grid.neuron_ids.to(self.device)[None].expand(len(starts), -1)
        sid = torch.full((len(starts),), grid.session_id, dtype=torch.long, device=self.device)
        return self._dat.encode(tok, nid, sid).mean(1)  # (B, length, d)

    def _outputs(self, grid: TokenGrid, idx: np.ndarray) -> torch.Tensor:
        """Head outputs ``(len(idx), d_out)`` of samples ``idx``."""
        if grid.level == "frame":
            tok, back = np.unique(grid.sample_token[idx], return_inverse=True)
            length = min(grid.window, grid.n_tokens)
            start = np.clip(tok - length + 1, 0, grid.n_tokens - length)
            pooled = self._encode(grid, start, length)
            h = pooled[torch.arange(len(tok)), torch.as_tensor(tok - start)]
            return self._head(h)[torch.as_tensor(back.ravel())]
        first, last = grid.trial_tokens[idx, 0], grid.trial_tokens[idx, 1]
        length = int(min(grid.n_tokens, (last - first).max() + 1 + grid.half))
        # every trial's window starts ``half`` tokens before its first token whatever else is in
        # the batch (the DAT is causal in time, so the tokens after ``last`` change nothing)
        start = np.clip(first - grid.half, 0, grid.n_tokens - length)
        pooled = self._encode(grid, start, length)
        pos = np.arange(length)[None, :] + start[:, None]
        inside = (pos >= first[:, None]) & (pos <= last[:, None])
        mask = torch.as_tensor(inside, dtype=pooled.dtype, device=pooled.device)
        h = (pooled * mask[..., None]).sum(1) / mask.sum(1, keepdim=True).clamp(min=1)
        return self._head(h)

    # -- training ---------------------------------------------------------------------------------
    def fit(
        self, grid: TokenGrid, train_idx: np.ndarray, y: np.ndarray, frames: np.ndarray
    ) -> FinetunedCalmDecoder:
        """Fine-tune a copy of the DAT and a head on ``train_idx`` (early stopping on an inner block)."""
        torch.manual_seed(self.seed)
        rng = np.random.default_rng(self.seed)
        tr, va = early_stopping_split(frames, train_idx, self.gap, 512)
        self._target = target = TaskTarget(self.kind, y, tr, self.n_classes, self.device)
        dat, d = copy.deepcopy(self.model.dat), self.model.dat.cfg.d_model
        head = nn.Sequential(
            nn.LayerNorm(d), nn.Linear(d, self.hidden), nn.GELU(), nn.Dropout(0.1), nn.Linear(self.hidden, target.d_out)
        )
        self._net = nn.ModuleDict({"dat": dat, "head": head}).to(self.device).requires_grad_(True)
        self._dat, self._head = self._net["dat"], self._net["head"]
        params = [{"params": self._dat.parameters(), "lr": self.lr}, {"params": self._head.parameters(), "lr": self.head_lr}]

        def loss(step: int) -> torch.Tensor:
            b = rng.choice(tr, size=min(self.batch_size, len(tr)), replace=False)
            return target.loss(self._outputs(grid, b), b)

        trainer = Trainer(self._net, loss, steps=self.steps, lr=self.lr, params=params, weight_decay=1e-2,
                          grad_clip=1.0, keep_best=True, val_every=self.eval_every,
                          validate=(lambda: float(target.loss(self._raw(grid, va), va))) if len(va) else None)
        trainer.fit()
        self.epochs_run = trainer.step
        return self

    @torch.no_grad()
    def _raw(self, grid: TokenGrid, idx: np.ndarray) -> torch.Tensor:
        """Head outputs of samples ``idx`` in evaluation mode, 64 at a time."""
        self._net.eval()
        return torch.cat([self._outputs(grid, idx[i : i + 64]) for i in range(0, len(idx), 64)])

    def decision(self, grid: TokenGrid, idx: np.ndarray) -> np.ndarray:
        """De-standardised predictions ``(n, 1)`` or class logits ``(n, n_classes)``."""
        return self._target.outputs(self._raw(grid, idx).float().cpu().numpy())

    def predict(self, grid: TokenGrid, idx: np.ndarray) -> np.ndarray:
        """Predicted values (continuous) or class indices (discrete)."""
        out = self.decision(grid, idx)
        return out[:, 0] if self.kind == "continuous" else out.argmax(1)


class CalmFinetune:
    """Plugs :class:`FinetunedCalmDecoder` into :func:`~src_models.analysis.decoding.decode`.

    Parameters
    ----------
    model : CalM
        The pretrained model.
    name : str
        Result key (``calm_finetuned``).
    window_tokens : int
        Tokens per DAT pass.
    **decoder_kw
        Passed to :class:`FinetunedCalmDecoder` (``steps``, ``lr``, ...).
    """

    def __init__(
        self,
        model: Any,
        *,
        name: str = "calm_finetuned",
        window_tokens: int = 16,
        **decoder_kw: Any,
    ) -> None:
        self.model, self.name, self.window_tokens, self.decoder_kw = model, name, int(window_tokens), decoder_kw

    def receptive_frames(self, fs: float) -> int:
        """Most recorded frames before ``t`` that a prediction at ``t`` can depend on."""
        from src_models.nq.rate import tokens_to_frames

        # the state at t is the latest token ending at or before t: up to one token older than t
        return int(np.ceil(tokens_to_frames(self.window_tokens + 1, fs, self.model.nq.config)))

    def inputs(self, recording: Recording, target: Target) -> TokenGrid:
        """The token grid of ``recording`` with ``target``'s samples mapped onto it."""
        return TokenGrid(self.model, recording, target, self.window_tokens)

    def decoder(self, **kw: Any) -> FinetunedCalmDecoder:
        """A fresh decoder (``kind``, ``n_classes``, ``gap``, ``seed``, ``device``)."""
        return FinetunedCalmDecoder(self.model, **{**self.decoder_kw, **kw})
