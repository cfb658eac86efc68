"""The Neural Quantizer: a VQ-VAE over single-neuron calcium traces.

Layout (our design; the paper names the ingredients, not the sizes)::

    x (B, L) z-scored frames
      -> conv stem   Conv1d(1, C, k) GELU Conv1d(C, C, k) GELU       frame level
      -> patchify    Conv1d(C, d, P, stride P)                       (B, L/P, d)
      -> encoder     enc_layers x RotaryBlock (RoPE over patch index)
      -> quantizer   Gumbel-Softmax (or EMA VQ) -> code vectors      (B, L/P, D), indices
      -> decoder     Linear(D, d)(code) + Linear(P, d)(template), dec_layers x RotaryBlock
      -> head        Linear(d, C·P) GELU Conv1d(C, C, k) GELU Conv1d(C, 1, k)
      -> x̂ (B, L) = template of each chosen code (P frames) + head output

Each neuron is tokenized alone (channel independence); the vocabulary is
shared by every neuron, recording and animal.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from src_models.nq.config import NQConfig
from src_models.nq.layers import RotaryBlock
from src_models.nq.quantizers import EMAQuantizer, GumbelQuantizer, QuantizerOutput


@dataclass
class NQOutput:
    """Training forward pass: reconstruction plus the quantizer's result."""

    recon: torch.Tensor
    quant: QuantizerOutput


class NeuralQuantizer(nn.Module):
    """VQ-VAE tokenizer of single-neuron traces (conv stem + RoPE Transformers).

    Parameters
    ----------
    config : NQConfig
        Architecture and quantizer settings.
    """

    def __init__(self, config: NQConfig) -> None:
        super().__init__()
        self.config = config
        #: training state saved with the checkpoint (step, data, history); set by ``load_nq``
        self.checkpoint_state: dict = {}
        c = config
        C, k, d = c.conv_channels, c.conv_kernel, c.d_model
        self.stem = nn.Sequential(
            nn.Conv1d(1, C, k, padding=k // 2), nn.GELU(),
            nn.Conv1d(C, C, k, padding=k // 2), nn.GELU(),
        )
        self.patchify = nn.Conv1d(C, d, c.patch_len, stride=c.patch_len)
        self.encoder = nn.ModuleList(
            RotaryBlock(d, c.n_heads, c.mlp_ratio, c.rope_base) for _ in range(c.enc_layers)
        )
        self.enc_norm = nn.LayerNorm(d)
        if c.quantizer == "gumbel":
            self.quantizer: GumbelQuantizer | EMAQuantizer = GumbelQuantizer(
                d, c.codebook_size, c.code_dim, c.patch_len, c.lambda_orth, c.lambda_usage, c.distance_scale
            )
        else:
            self.quantizer = EMAQuantizer(d, c.codebook_size, c.code_dim, c.patch_len, c.commitment, c.ema_decay)
        self.dec_in = nn.Linear(c.code_dim, d)
        self.dec_template = nn.Linear(c.patch_len, d)
        self.decoder = nn.ModuleList(
            RotaryBlock(d, c.n_heads, c.mlp_ratio, c.rope_base) for _ in range(c.dec_layers)
        )
        self.dec_norm = nn.LayerNorm(d)
        self.unpatchify = nn.Linear(d, C * c.patch_len)
        self.head = nn.Sequential(
            nn.GELU(), nn.Conv1d(C, C, k, padding=k // 2), nn.GELU(), nn.Conv1d(C, 1, k, padding=k // 2)
        )
        # the contextual paths start silent: at initialisation a code decodes to its template
        # and the Gumbel encoder picks codes by template distance alone
        nn.init.zeros_(self.head[-1].weight)
        nn.init.zeros_(self.head[-1].bias)
        if c.quantizer == "gumbel":
            nn.init.zeros_(self.quantizer.proj.weight)
            nn.init.zeros_(self.quantizer.proj.bias)

    # -- pieces -------------------------------------------------------------
    def _check_frames(self, x: torch.Tensor) -> None:
        if x.ndim != 2 or x.shape[1] % self.config.patch_len or x.shape[1] == 0:
            raise ValueError(
                f"expected (B, L) with L a positive multiple of {self.config.patch_len}, got {tuple(x.shape)}"
            )

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Encoder features ``(B, L/P, d_model)`` of z-scored frames ``x`` ``(B, L)``."""
        self._check_frames(x)
        h = self.patchify(self.stem(x.unsqueeze(1))).transpose(1, 2)
        pos = torch.arange(h.shape[1], device=h.device)
        for block in self.encoder:
            h = block(h, pos)
        return self.enc_norm(h)

    def patches(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, L)`` frames as ``(B, L/P, P)`` patches."""
        return x.view(x.shape[0], -1, self.config.patch_len)

    def reconstruct(self, z: torch.Tensor, templates: torch.Tensor) -> torch.Tensor:
        """Frames ``(B, n·P)``: chosen templates plus the decoder's contextual correction.

        Parameters
        ----------
        z : Tensor
            ``(B, n, D)`` code vectors of the chosen codes.
        templates : Tensor
            ``(B, n, P)`` templates of the chosen codes.
        """
        B, n, _ = z.shape
        h = self.dec_in(z) + self.dec_template(templates)
        pos = torch.arange(n, device=h.device)
        for block in self.decoder:
            h = block(h, pos)
        h = self.unpatchify(self.dec_norm(h))                     # (B, n, C·P)
        C, P = self.config.conv_channels, self.config.patch_len
        h = h.view(B, n, C, P).permute(0, 2, 1, 3).reshape(B, C, n * P)
        return templates.reshape(B, n * P) + self.head(h).squeeze(1)

    # -- public API -----------------------------------------------------------
    def forward(self, x: torch.Tensor, tau: float = 1.0) -> NQOutput:
        """Training pass: encode, quantize (sampling when training), decode."""
        quant = self.quantizer(self.features(x), self.patches(x), tau)
        templates = quant.onehot @ self.quantizer.templates     # straight-through for Gumbel
        return NQOutput(self.reconstruct(quant.z, templates), quant)

    @torch.no_grad()
    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Token indices ``(B, L // P)`` of z-scored frames ``x`` ``(B, L)`` (arg-max codes)."""
        return self.quantizer.indices(self.features(x), self.patches(x))

    @torch.no_grad()
    def decode(self, idx: torch.Tensor) -> torch.Tensor:
        """Frames ``(B, n·P)`` (z-scored units) decoded from token indices ``(B, n)``."""
        if idx.ndim != 2:
            raise ValueError(f"expected (B, n) token indices, got {tuple(idx.shape)}")
        return self.reconstruct(self.code_embedding(idx), F.embedding(idx, self.quantizer.templates))

    def code_embedding(self, idx: torch.Tensor) -> torch.Tensor:
        """Code vectors ``(..., D)`` of token indices ``idx`` (any shape)."""
        return F.embedding(idx, self.quantizer.code_vectors())

    @torch.no_grad()
    def code_waveforms(self) -> np.ndarray:
        """``(K, P)`` waveform of every code decoded on its own (a one-token window)."""
        idx = torch.arange(self.config.codebook_size, device=self.quantizer.templates.device)
        return self.decode(idx[:, None]).float().cpu().numpy()
