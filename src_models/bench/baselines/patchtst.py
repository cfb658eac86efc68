"""PatchTST (Nie et al., ICLR 2023), channel-independent, as in Time-Series-Library.

Per neuron: instance normalisation over the context (mean / std, undone at
the output), the context padded at the end by ``stride`` replicated frames
and cut into patches of 16 frames with stride 8 (6 patches for a 48-frame
context), linear patch embedding plus sinusoidal positions, a Transformer
encoder with BatchNorm, and a flatten head ``(patches · d_model) → H``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from src_models.bench.base import TorchForecaster, multivariate, univariate
from src_models.bench.registry import register


def sinusoidal_positions(length: int, dim: int) -> torch.Tensor:
    """``(length, dim)`` fixed sine/cosine position table."""
    pos = torch.arange(length, dtype=torch.float32)[:, None]
    div = torch.exp(torch.arange(0, dim, 2, dtype=torch.float32) * (-math.log(10000.0) / dim))
    table = torch.zeros(length, dim)
    table[:, 0::2] = torch.sin(pos * div)
    table[:, 1::2] = torch.cos(pos * div)[:, : dim // 2]
    return table


class _BatchNormEncoderLayer(nn.Module):
    """Post-norm Transformer encoder layer with BatchNorm over the feature axis."""

    def __init__(self, dim: int, heads: int, ff: int, dropout: float) -> None:
        super().__init__()
        self.attn = nn.MultiheadAttention(dim, heads, dropout=dropout, batch_first=True)
        self.norm1 = nn.BatchNorm1d(dim)
        self.norm2 = nn.BatchNorm1d(dim)
        self.ff = nn.Sequential(nn.Linear(dim, ff), nn.GELU(), nn.Dropout(dropout), nn.Linear(ff, dim))
        self.drop = nn.Dropout(dropout)

    def _bn(self, norm: nn.BatchNorm1d, x: torch.Tensor) -> torch.Tensor:
        return norm(x.transpose(1, 2)).transpose(1, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self._bn(self.norm1, x + self.drop(self.attn(x, x, x, need_weights=False)[0]))
        return self._bn(self.norm2, x + self.drop(self.ff(x)))


class _PatchTSTNet(nn.Module):
    def __init__(
        self, context: int, horizon: int, patch: int, stride: int, dim: int, heads: int, layers: int,
        ff: int, dropout: float,
    ) -> None:
        super().__init__()
        self.patch, self.stride = patch, stride
        self.n_patches = (context + stride - patch) // stride + 1
        self.embed = nn.Linear(patch, dim, bias=False)
        self.register_buffer("pos", sinusoidal_positions(self.n_patches, dim), persistent=False)
        self.drop = nn.Dropout(dropout)
        self.layers = nn.ModuleList(_BatchNormEncoderLayer(dim, heads, ff, dropout) for _ in range(layers))
        self.head = nn.Sequential(nn.Flatten(1), nn.Dropout(dropout), nn.Linear(self.n_patches * dim, horizon))

    def forward(self, x: torch.Tensor, units: torch.Tensor) -> torch.Tensor:
        s = univariate(x)
        mu = s.mean(1, keepdim=True)
        sd = torch.sqrt(s.var(1, keepdim=True, unbiased=False) + 1e-5)
        s = (s - mu) / sd
        s = F.pad(s[:, None, :], (0, self.stride), mode="replicate")[:, 0]
        tokens = s.unfold(1, self.patch, self.stride)
        h = self.drop(self.embed(tokens) + self.pos)
        for layer in self.layers:
            h = layer(h)
        return multivariate(self.head(h) * sd + mu, x.shape[0])


@register("patchtst")
class PatchTST(TorchForecaster):
    """Channel-independent patch Transformer (patch 16, stride 8)."""

    label = "PatchTST"

    def __init__(
        self, *, patch: int = 16, stride: int = 8, dim: int = 64, heads: int = 4, layers: int = 2,
        ff: int = 128, dropout: float = 0.1, **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        self.cfg = dict(
            patch=min(patch, self.context), stride=stride, dim=dim, heads=heads, layers=layers, ff=ff,
            dropout=dropout,
        )

    def build(self) -> nn.Module:
        return _PatchTSTNet(self.context, self.horizon, **self.cfg)
