"""Transformer block with rotary position embeddings (pre-norm, bidirectional)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from src_models.nq.rope import apply_rotary


class RotaryAttention(nn.Module):
    """Multi-head self-attention whose queries and keys carry RoPE.

    Parameters
    ----------
    d_model : int
        Width of the token features.
    n_heads : int
        Attention heads (``d_model / n_heads`` must be even).
    rope_base : float
        Base of the rotary frequencies.
    """

    def __init__(self, d_model: int, n_heads: int, rope_base: float = 10000.0) -> None:
        super().__init__()
        self.n_heads = n_heads
        self.rope_base = rope_base
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.out = nn.Linear(d_model, d_model)

    def forward(self, x: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        """Attend over ``x`` ``(B, T, d)`` at ``positions`` ``(T,)``."""
        B, T, d = x.shape
        q, k, v = self.qkv(x).view(B, T, 3, self.n_heads, d // self.n_heads).permute(2, 0, 3, 1, 4)
        q, k = apply_rotary(q, k, positions, self.rope_base)
        y = F.scaled_dot_product_attention(q, k, v)
        return self.out(y.transpose(1, 2).reshape(B, T, d))


class RotaryBlock(nn.Module):
    """Pre-norm Transformer block: RoPE self-attention then a GELU MLP, both residual.

    Parameters
    ----------
    d_model, n_heads : int
        Width and heads.
    mlp_ratio : float
        MLP hidden width relative to ``d_model``.
    rope_base : float
        Base of the rotary frequencies.
    """

    def __init__(self, d_model: int, n_heads: int, mlp_ratio: float = 4.0, rope_base: float = 10000.0) -> None:
        super().__init__()
        hidden = int(round(d_model * mlp_ratio))
        self.norm1 = nn.LayerNorm(d_model)
        self.attn = RotaryAttention(d_model, n_heads, rope_base)
        self.norm2 = nn.LayerNorm(d_model)
        self.mlp = nn.Sequential(nn.Linear(d_model, hidden), nn.GELU(), nn.Linear(hidden, d_model))

    def forward(self, x: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        """``(B, T, d)`` -> ``(B, T, d)``."""
        x = x + self.attn(self.norm1(x), positions)
        return x + self.mlp(self.norm2(x))
