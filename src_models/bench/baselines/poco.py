"""POCO (Duan et al. 2025): univariate MLP forecaster conditioned by a population encoder.

Re-implemented from the paper (no code copied):

1. **Population encoder** (POYO / Perceiver-IO): each neuron's context is cut into tokens of
   ``token_len`` frames, ``Linear(token_len → dim)(patch) + unit_emb[n]``; ``n_latents`` latents
   cross-attend to all tokens, ``depth`` self-attention blocks mix them, and a decoder
   cross-attention queried by the unit embeddings gives one ``e_n`` per neuron (rotary time
   embeddings, GEGLU feed-forward, pre-LayerNorm).
2. **FiLM-conditioned univariate MLP**: ``h = ReLU(Linear(C → 1024)(x_n))``, zero-initialised
   ``α, β = Linear(dim → 1024)(e_n)``, forecast ``Linear(1024 → H)(h · α + β)``.

Defaults follow POCO's (dim 128, 8 latents, depth 1, conditioning 1024, token length 16, rotary
``t_max`` 100); single session, so no session or dataset embeddings.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from src_models.bench.base import TorchForecaster
from src_models.bench.registry import register


class RotaryTime(nn.Module):
    """Rotary embedding of continuous timestamps, periods from ``t_min`` to ``t_max``."""

    def __init__(self, dim_head: int, t_min: float, t_max: float) -> None:
        super().__init__()
        half = dim_head // 2
        exponent = torch.arange(half, dtype=torch.float32) / max(half - 1, 1)
        periods = t_min * (t_max / t_min) ** exponent
        self.register_buffer("freqs", 2 * torch.pi / periods, persistent=False)

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """Rotate ``x`` ``(B, heads, L, dim_head)`` by the angles of timestamps ``t`` ``(L,)``."""
        ang = t[:, None].float() * self.freqs[None, :]
        cos, sin = ang.cos().to(x.dtype), ang.sin().to(x.dtype)
        x1, x2 = x[..., 0::2], x[..., 1::2]
        return torch.stack((x1 * cos - x2 * sin, x1 * sin + x2 * cos), dim=-1).flatten(-2)


class RotaryAttention(nn.Module):
    """Multi-head (cross- or self-) attention with rotary time embeddings on queries and keys."""

    def __init__(self, dim: int, heads: int, dim_head: int, rotary: RotaryTime, dropout: float) -> None:
        super().__init__()
        self.heads, self.dim_head, self.rotary, self.dropout = heads, dim_head, rotary, dropout
        self.norm_q = nn.LayerNorm(dim)
        self.norm_kv = nn.LayerNorm(dim)
        self.to_q = nn.Linear(dim, heads * dim_head, bias=False)
        self.to_kv = nn.Linear(dim, 2 * heads * dim_head, bias=False)
        self.out = nn.Linear(heads * dim_head, dim)

    def _split(self, x: torch.Tensor) -> torch.Tensor:
        return x.unflatten(-1, (self.heads, self.dim_head)).transpose(1, 2)

    def forward(
        self, q: torch.Tensor, kv: torch.Tensor, t_q: torch.Tensor, t_kv: torch.Tensor
    ) -> torch.Tensor:
        qh = self.rotary(self._split(self.to_q(self.norm_q(q))), t_q)
        k, v = self.to_kv(self.norm_kv(kv)).chunk(2, dim=-1)
        kh = self.rotary(self._split(k), t_kv)
        dropout = self.dropout if self.training else 0.0
        o = F.scaled_dot_product_attention(qh, kh, self._split(v), dropout_p=dropout)
        return self.out(o.transpose(1, 2).flatten(-2))


class GEGLUFeedForward(nn.Module):
    """Pre-norm GEGLU feed-forward block."""

    def __init__(self, dim: int, mult: int, dropout: float) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.proj = nn.Linear(dim, 2 * mult * dim)
        self.out = nn.Sequential(nn.Dropout(dropout), nn.Linear(mult * dim, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, g = self.proj(self.norm(x)).chunk(2, dim=-1)
        return self.out(a * F.gelu(g))


class PopulationEncoder(nn.Module):
    """Perceiver-IO over neuron tokens → one conditioning vector per neuron."""

    def __init__(
        self, n_units: int, context: int, token_len: int, dim: int, n_latents: int, depth: int,
        heads: int, dim_head: int, t_max: float, ffn_dropout: float,
    ) -> None:
        super().__init__()
        self.token_len = token_len
        self.n_tokens = context // token_len
        self.context = context
        self.unit_emb = nn.Embedding(n_units, dim)
        nn.init.normal_(self.unit_emb.weight, std=dim**-0.5)
        self.token_proj = nn.Linear(token_len, dim)
        self.latents = nn.Parameter(torch.randn(n_latents, dim) * dim**-0.5)
        self.register_buffer("t_latent", torch.linspace(0, context, n_latents), persistent=False)
        t_token = torch.arange(self.n_tokens, dtype=torch.float32) * token_len
        self.register_buffer("t_token", t_token, persistent=False)
        rotary = RotaryTime(dim_head, t_max / 1000, t_max)
        wide = 2 * dim_head  # the single-head cross-attentions
        self.enc_attn = RotaryAttention(dim, 1, wide, RotaryTime(wide, t_max / 1000, t_max), 0.0)
        self.enc_ff = GEGLUFeedForward(dim, 4, ffn_dropout)
        self.self_blocks = nn.ModuleList(
            nn.ModuleList([RotaryAttention(dim, heads, dim_head, rotary, 0.0),
                           GEGLUFeedForward(dim, 4, ffn_dropout)])
            for _ in range(depth)
        )
        self.dec_attn = RotaryAttention(dim, 1, wide, RotaryTime(wide, t_max / 1000, t_max), 0.0)
        self.dec_ff = GEGLUFeedForward(dim, 4, ffn_dropout)

    def forward(self, x: torch.Tensor, units: torch.Tensor) -> torch.Tensor:
        """``x`` ``(B, C, n)``, ``units`` ``(n,)`` → ``(B, n, dim)``."""
        B, _, n = x.shape
        used = x[:, self.context - self.n_tokens * self.token_len :, :]
        patches = used.permute(0, 2, 1).reshape(B, n, self.n_tokens, self.token_len)
        emb = self.unit_emb(units)
        tokens = (self.token_proj(patches) + emb[None, :, None, :]).reshape(B, n * self.n_tokens, -1)
        t_tok = self.t_token.repeat(n)
        lat = self.latents[None].expand(B, -1, -1)
        lat = lat + self.enc_attn(lat, tokens, self.t_latent, t_tok)
        lat = lat + self.enc_ff(lat)
        for attn, ff in self.self_blocks:
            lat = lat + attn(lat, lat, self.t_latent, self.t_latent)
            lat = lat + ff(lat)
        queries = emb[None].expand(B, -1, -1)
        t_q = torch.full((n,), float(self.context), device=x.device)
        out = queries + self.dec_attn(queries, lat, t_q, self.t_latent)
        return out + self.dec_ff(out)


class _POCONet(nn.Module):
    def __init__(self, n_units: int, context: int, horizon: int, hidden: int, dim: int, **enc) -> None:
        super().__init__()
        self.encoder = PopulationEncoder(n_units, context, dim=dim, **enc)
        self.inp = nn.Linear(context, hidden)
        self.alpha = nn.Linear(dim, hidden)
        self.beta = nn.Linear(dim, hidden)
        for layer in (self.alpha, self.beta):
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)
        self.out = nn.Linear(hidden, horizon)

    def forward(self, x: torch.Tensor, units: torch.Tensor) -> torch.Tensor:
        e = self.encoder(x, units)  # (B, n, dim)
        h = F.relu(self.inp(x.transpose(1, 2)))  # (B, n, hidden)
        return self.out(h * self.alpha(e) + self.beta(e)).transpose(1, 2)


@register("poco")
class POCO(TorchForecaster):
    """POCO: FiLM-conditioned univariate MLP + Perceiver population encoder with unit embeddings."""

    label = "POCO"

    def __init__(
        self, *, hidden: int = 1024, dim: int = 128, n_latents: int = 8, depth: int = 1, heads: int = 4,
        dim_head: int = 32, token_len: int = 16, t_max: float = 100.0, ffn_dropout: float = 0.2, **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        self.cfg = dict(
            hidden=hidden, dim=dim, n_latents=n_latents, depth=depth, heads=heads, dim_head=dim_head,
            token_len=min(token_len, self.context), t_max=t_max, ffn_dropout=ffn_dropout,
        )

    def build(self) -> nn.Module:
        return _POCONet(self.n_neurons, self.context, self.horizon, **self.cfg)
