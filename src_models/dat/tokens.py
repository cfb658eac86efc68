"""Recorded frames ↔ DAT tokens through NQ (rate policy, causal tokenization, decoding).

NQ's frame-rate policy (``src_models.nq.rate``) maps a recording's frames to
model-rate frames; a token is ``P`` model-rate frames. A forecasting context
of ``C`` recorded frames becomes the last ``floor(C_m / P)`` whole patches
(``C_m`` model-rate frames), a horizon of ``H`` frames becomes
``ceil(H_m / P)`` tokens whose decoded frames are mapped back to the
recording's rate and cut to ``H``.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from src_models.dat.config import TokenizerPolicy
from src_models.nq import rate


class FrameTokenizer:
    """NQ plus a :class:`TokenizerPolicy`.

    Parameters
    ----------
    nq : NeuralQuantizer
        The tokenizer (used in inference mode only).
    policy : TokenizerPolicy
        ``causal`` or ``window`` tokenization.
    """

    def __init__(self, nq: nn.Module, policy: TokenizerPolicy) -> None:
        self.nq = nq
        self.policy = policy
        self.config = nq.config
        self._waveforms: torch.Tensor | None = None

    @property
    def patch_len(self) -> int:
        return int(self.config.patch_len)

    @property
    def causal_frames(self) -> int:
        """Frames each causal token sees (a multiple of P, at least P)."""
        P = self.patch_len
        return P if self.policy.causal_frames <= 0 else max(P, (self.policy.causal_frames // P) * P)

    @property
    def patch_local(self) -> bool:
        """True when a token depends on its own ``P`` frames only (causal, one patch)."""
        return self.policy.mode == "causal" and self.causal_frames == self.patch_len

    def waveforms(self) -> torch.Tensor:
        """``(K, P)`` decoded single codes (cached)."""
        if self._waveforms is None:
            self._waveforms = torch.from_numpy(self.nq.code_waveforms()).float().to(self.device)
        return self._waveforms

    @property
    def device(self) -> torch.device:
        return next(self.nq.parameters()).device

    # -- rates ----------------------------------------------------------------------------
    def to_model_rate(self, traces: np.ndarray, fs: float) -> np.ndarray:
        """``(N, T)`` frames at ``fs`` → frames at NQ's model rate."""
        return rate.to_model_rate(traces, fs, self.config)

    def from_model_rate(self, traces: np.ndarray, fs: float, n_frames: int) -> np.ndarray:
        """Model-rate frames → ``n_frames`` frames at ``fs``."""
        return rate.from_model_rate(traces, fs, n_frames, self.config)

    def context_tokens(self, n_frames: int, fs: float) -> int:
        """Whole tokens inside a context of ``n_frames`` recorded frames."""
        return rate.model_frames(n_frames, fs, self.config) // self.patch_len

    def horizon_tokens(self, n_frames: int, fs: float) -> int:
        """Tokens to generate for a horizon of ``n_frames`` recorded frames (rounded up)."""
        return rate.frames_to_tokens(n_frames, fs, self.config)

    def horizon_model_frames(self, n_frames: int, fs: float) -> int:
        """Model-rate frames covering a horizon of ``n_frames`` recorded frames."""
        return rate.model_frames(n_frames, fs, self.config)

    # -- tokens ---------------------------------------------------------------------------
    @torch.no_grad()
    def tokenize_model_rate(self, z: np.ndarray) -> np.ndarray:
        """Tokens ``(M, T_m // P)`` of z-scored model-rate frames ``(M, T_m)``.

        Trailing frames that do not fill a patch are dropped. Under the
        ``causal`` policy token ``j`` depends only on frames ``< (j + 1) * P``
        (the first tokens see the first frame repeated as left padding).
        """
        z = np.asarray(z, np.float32)
        P = self.patch_len
        M, T = z.shape
        n_tok = T // P
        if n_tok == 0 or M == 0:
            return np.zeros((M, n_tok), np.int64)
        z = z[:, : n_tok * P]
        if self.policy.mode == "window":
            L = int(self.config.window)
            n_win = -(-n_tok * P // L)
            pad = n_win * L - n_tok * P
            x = np.concatenate([z, np.repeat(z[:, -1:], pad, axis=1)], axis=1) if pad else z
            out = self._encode(x.reshape(M * n_win, L), last_only=False)
            return out.reshape(M, n_win * (L // P))[:, :n_tok]
        Lc = self.causal_frames
        pad = Lc - P
        x = np.concatenate([np.repeat(z[:, :1], pad, axis=1), z], axis=1) if pad else z
        idx = np.arange(n_tok)[:, None] * P + np.arange(Lc)[None, :]  # window j ends with patch j
        out = np.empty((M, n_tok), np.int64)
        rows = max(1, self.policy.batch_windows // n_tok)
        for i in range(0, M, rows):
            windows = x[i : i + rows][:, idx].reshape(-1, Lc)
            out[i : i + rows] = self._encode(windows, last_only=True).reshape(-1, n_tok)
        return out

    def _encode(self, x: np.ndarray, last_only: bool) -> np.ndarray:
        step = max(1, self.policy.batch_windows)
        dev = self.device
        parts = []
        for i in range(0, len(x), step):
            idx = self.nq.encode(torch.from_numpy(np.ascontiguousarray(x[i : i + step])).to(dev))
            parts.append((idx[:, -1] if last_only else idx).cpu().numpy())
        return np.concatenate(parts, axis=0).astype(np.int64)

    def tokenize(self, z: np.ndarray, fs: float) -> tuple[np.ndarray, np.ndarray]:
        """Tokens and the matching model-rate values of z-scored frames ``(N, T)`` at ``fs``.

        Returns
        -------
        tokens : ndarray
            ``(N, n_tok)`` int64.
        values : ndarray
            ``(N, n_tok * P)`` float32 z-scored model-rate frames on the token grid.
        """
        zm = self.to_model_rate(z, fs)
        tokens = self.tokenize_model_rate(zm)
        return tokens, zm[:, : tokens.shape[1] * self.patch_len]

    @torch.no_grad()
    def patch_tokens(self, z: np.ndarray, starts: np.ndarray) -> np.ndarray:
        """Patch-local tokens of the ``P``-frame patches of ``z`` ``(M, T)`` starting at frames ``starts``.

        Returns ``(M, len(starts))``. With :attr:`patch_local` tokens a
        context's tokens are those of its patches alone, so overlapping
        forecasting windows share them and each patch is encoded once.
        """
        if not self.patch_local:
            raise ValueError("patch_tokens needs patch-local causal tokens")
        z = np.asarray(z, np.float32)
        starts = np.asarray(starts, np.int64)
        P = self.patch_len
        M, n = z.shape[0], len(starts)
        out = np.empty((M, n), np.int64)
        if n == 0 or M == 0:
            return out
        idx = starts[:, None] + np.arange(P)[None, :]  # (n, P)
        rows = max(1, self.policy.batch_windows // n)
        for i in range(0, M, rows):
            windows = z[i : i + rows][:, idx].reshape(-1, P)
            out[i : i + rows] = self._encode(windows, last_only=True).reshape(-1, n)
        return out

    @torch.no_grad()
    def decode(self, tokens: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        """Model-rate z-scored frames ``(M, n * P)`` of tokens ``(M, n)``.

        With ``decode='context'`` NQ's decoder also sees ``context`` tokens
        ``(M, n_ctx)`` (the frames of the context are dropped from the output).
        """
        tokens = tokens.to(self.device)
        M, n = tokens.shape
        P = self.patch_len
        if self.policy.decode == "table":
            return self.waveforms()[tokens].reshape(M, n * P)
        keep = 0
        if context is not None:
            keep = min(context.shape[1], max(0, int(self.config.window) // P - n))
            tokens = torch.cat([context.to(self.device)[:, context.shape[1] - keep :], tokens], dim=1)
        return self.nq.decode(tokens).float()[:, keep * P :]
