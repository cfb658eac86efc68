"""The dual-axis Transformer (DAT) over NQ token grids ``[neurons x time]``.

Each block, with pre-norm residuals::

    x = x + TemporalAttention(LN(x))   # per neuron, causal over time, RoPE on the time axis
    x = x + NeuralAttention(LN(x))     # per time step, bidirectional over neurons, padding masked
    x = x + MLP(LN(x))

Causality holds because neural attention only mixes tokens of the *same* time
step. Neural attention has no positional encoding, so the model is equivariant
to permutations of the neurons (identity enters only through the neuron
embedding). The cost is ``O(N·T² + T·N²)``, never ``(N·T)²``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from src_models.dat.config import DATConfig


def rope_tables(length: int, dim: int, base: float, device: torch.device, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """``cos, sin`` of shape ``(length, dim)`` for rotary embeddings over positions ``0..length-1``."""
    inv = 1.0 / (base ** (torch.arange(0, dim, 2, device=device, dtype=torch.float32) / dim))
    angles = torch.arange(length, device=device, dtype=torch.float32)[:, None] * inv[None, :]
    angles = torch.cat([angles, angles], dim=-1)
    return angles.cos().to(dtype), angles.sin().to(dtype)


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate ``x`` (``(..., L, dim)``) by the position tables (rotate-half convention)."""
    half = x.shape[-1] // 2
    rotated = torch.cat([-x[..., half:], x[..., :half]], dim=-1)
    return x * cos + rotated * sin


class Attention(nn.Module):
    """Multi-head self-attention over the second-to-last axis of ``(M, L, d)`` inputs."""

    def __init__(self, d_model: int, n_heads: int, dropout: float) -> None:
        super().__init__()
        self.n_heads = n_heads
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.out = nn.Linear(d_model, d_model)
        self.dropout = dropout

    def forward(
        self,
        x: torch.Tensor,
        *,
        causal: bool = False,
        rope: tuple[torch.Tensor, torch.Tensor] | None = None,
        key_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Attend along axis 1 of ``x`` (``(M, L, d)``).

        Parameters
        ----------
        causal : bool
            Position ``i`` attends to positions ``<= i`` only.
        rope : (cos, sin), optional
            Rotary tables ``(L, head_dim)`` applied to queries and keys.
        key_mask : BoolTensor, optional
            ``(M, L)``: True where a key takes part (padding is False).
        """
        M, L, d = x.shape
        q, k, v = self.project_qkv(x, rope)
        attn_mask = None if key_mask is None else key_mask[:, None, None, :]
        y = F.scaled_dot_product_attention(
            q, k, v, attn_mask=attn_mask, is_causal=causal, dropout_p=self.dropout if self.training else 0.0
        )
        return self.out(y.transpose(1, 2).reshape(M, L, d))

    def project_qkv(
        self, x: torch.Tensor, rope: tuple[torch.Tensor, torch.Tensor] | None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Queries and keys (rotated by ``rope`` when given) and values ``(M, h, L, dh)`` of ``x``."""
        M, L, d = x.shape
        q, k, v = self.qkv(x).view(M, L, 3, self.n_heads, d // self.n_heads).permute(2, 0, 3, 1, 4)
        if rope is None:
            return q, k, v
        cos, sin = rope
        return apply_rope(q, cos, sin), apply_rope(k, cos, sin), v

    def attend_cached(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """Output ``(M, Lq, d)`` of queries ``(M, h, Lq, dh)`` attending to *all* cached keys."""
        y = F.scaled_dot_product_attention(q, k, v)
        M, h, Lq, dh = y.shape
        return self.out(y.transpose(1, 2).reshape(M, Lq, h * dh))


class DATBlock(nn.Module):
    """Temporal causal attention → neural bidirectional attention → MLP, pre-norm residuals."""

    def __init__(self, cfg: DATConfig) -> None:
        super().__init__()
        d = cfg.d_model
        self.norm_t = nn.LayerNorm(d)
        self.attn_t = Attention(d, cfg.n_heads, cfg.dropout)
        self.norm_n = nn.LayerNorm(d)
        self.attn_n = Attention(d, cfg.n_heads, cfg.dropout)
        self.norm_m = nn.LayerNorm(d)
        hidden = int(round(cfg.mlp_ratio * d))
        self.mlp = nn.Sequential(nn.Linear(d, hidden), nn.GELU(), nn.Linear(hidden, d), nn.Dropout(cfg.dropout))

    def forward(
        self, x: torch.Tensor, rope: tuple[torch.Tensor, torch.Tensor], neuron_mask: torch.Tensor | None
    ) -> torch.Tensor:
        """``x``: ``(B, N, T, d)``; ``neuron_mask``: ``(B, N)`` True for real neurons."""
        B, N, T, d = x.shape
        y = self.attn_t(self.norm_t(x).reshape(B * N, T, d), causal=True, rope=rope)
        return self._across_neurons(x + y.view(B, N, T, d), neuron_mask)

    def _across_neurons(self, x: torch.Tensor, neuron_mask: torch.Tensor | None) -> torch.Tensor:
        """Neural attention within each time step, then the MLP (both residual)."""
        B, N, T, d = x.shape
        key_mask = None
        if neuron_mask is not None:
            key_mask = neuron_mask[:, None, :].expand(B, T, N).reshape(B * T, N)
        y = self.attn_n(self.norm_n(x).transpose(1, 2).reshape(B * T, N, d), key_mask=key_mask)
        x = x + y.view(B, T, N, d).transpose(1, 2)
        return x + self.mlp(self.norm_m(x))

    def forward_cached(
        self,
        x: torch.Tensor,
        rope: tuple[torch.Tensor, torch.Tensor],
        neuron_mask: torch.Tensor | None,
        cache: tuple[torch.Tensor, torch.Tensor] | None,
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """Process new time steps ``x`` ``(B, N, t, d)`` after the cached ones.

        ``rope`` holds the tables of the *new* positions; ``cache`` the
        temporal keys/values ``(B*N, h, t_past, dh)`` of earlier steps. Exactly
        equal to :meth:`forward` over the whole sequence (temporal attention is
        causal, neural attention works per time step).
        """
        B, N, t, d = x.shape
        q, k, v = self.attn_t.project_qkv(self.norm_t(x).reshape(B * N, t, d), rope)
        if cache is not None:
            k = torch.cat([cache[0], k], dim=2)
            v = torch.cat([cache[1], v], dim=2)
        if t == 1:
            y = self.attn_t.attend_cached(q, k, v)
        else:  # causal among the new steps, full view of the cached ones
            past = k.shape[2] - t
            allowed = torch.ones(t, k.shape[2], dtype=torch.bool, device=x.device).tril(diagonal=past)
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=allowed)
            y = self.attn_t.out(y.transpose(1, 2).reshape(B * N, t, d))
        return self._across_neurons(x + y.view(B, N, t, d), neuron_mask), (k, v)


@dataclass
class DATOutput:
    """Outputs of :meth:`DualAxisTransformer.forward`.

    Attributes
    ----------
    hidden : Tensor
        ``(B, N, T, d)`` final (normalised) hidden states.
    logits : Tensor
        ``(B, N, T, K)``: position ``t`` predicts the token at ``t + 1``.
    regression : Tensor or None
        ``(B, N, T, reg_patches * P)``: position ``t`` predicts the z-scored
        values of the next ``reg_patches`` patches *minus* the last frame of
        patch ``t`` (computed when anchors are given).
    """

    hidden: torch.Tensor
    logits: torch.Tensor | None
    regression: torch.Tensor | None


class DualAxisTransformer(nn.Module):
    """CalM's DAT: token + neuron + session embeddings, dual-axis blocks, next-token head.

    Parameters
    ----------
    cfg : DATConfig
        Architecture.
    code_vectors : Tensor, optional
        ``(K, code_dim)`` NQ code embeddings for ``token_embedding='nq'``
        (stored, scaled to unit standard deviation, as a frozen buffer, so the
        DAT checkpoint is self-contained).
    """

    def __init__(self, cfg: DATConfig, code_vectors: torch.Tensor | None = None) -> None:
        super().__init__()
        self.cfg = cfg
        d = cfg.d_model
        if cfg.token_embedding == "nq":
            vec = torch.zeros(cfg.codebook_size, cfg.code_dim) if code_vectors is None else code_vectors.detach().float()
            if tuple(vec.shape) != (cfg.codebook_size, cfg.code_dim):
                raise ValueError(f"code_vectors has shape {tuple(vec.shape)}, expected {(cfg.codebook_size, cfg.code_dim)}")
            std = float(vec.std()) if vec.numel() > 1 else 0.0
            self.register_buffer("code_vectors", vec / std if std > 0 else vec.clone())
            self.code_proj = nn.Linear(cfg.code_dim, d)
        self.code_table = nn.Embedding(cfg.codebook_size, d)
        self.neuron_emb = nn.Embedding(cfg.n_neurons, d)
        self.session_emb = nn.Embedding(cfg.n_sessions, d)
        self.mask_emb = nn.Parameter(torch.zeros(d)) if cfg.mask_embedding else None
        self.blocks = nn.ModuleList(DATBlock(cfg) for _ in range(cfg.n_layers))
        self.norm = nn.LayerNorm(d)
        self.head = nn.Linear(d, cfg.codebook_size)
        # light regression head: [state, last observed frame] -> change over the next reg_patches patches
        self.reg_head = nn.Linear(d + 1, cfg.reg_patches * cfg.patch_len) if cfg.reg_patches > 0 else None
        # its frame path: [state, last patch's frames - last frame] -> change, a small MLP
        self.reg_frames = None
        if cfg.reg_patches > 0 and cfg.reg_frame_hidden > 0:
            self.reg_frames = nn.Sequential(nn.Linear(d + cfg.patch_len, cfg.reg_frame_hidden), nn.GELU(),
                                            nn.Linear(cfg.reg_frame_hidden, cfg.reg_patches * cfg.patch_len))
        self._init_weights()

    def _init_weights(self) -> None:
        for name, p in self.named_parameters():
            if p.dim() >= 2:
                nn.init.normal_(p, std=0.02)
            elif name.endswith("bias"):
                nn.init.zeros_(p)
        scale = 0.02 / math.sqrt(2 * self.cfg.n_layers)
        for block in self.blocks:
            nn.init.normal_(block.attn_t.out.weight, std=scale)
            nn.init.normal_(block.attn_n.out.weight, std=scale)
            nn.init.normal_(block.mlp[2].weight, std=scale)
        if self.cfg.token_embedding == "nq":
            nn.init.zeros_(self.code_table.weight)  # starts from the NQ geometry, learns a residual
        if self.reg_frames is not None:  # starts as the linear head alone
            nn.init.zeros_(self.reg_frames[2].weight)

    def embed_tokens(self, tokens: torch.Tensor) -> torch.Tensor:
        """``(..., )`` code indices → ``(..., d)`` token embeddings."""
        e = self.code_table(tokens)
        if self.cfg.token_embedding == "nq":
            e = e + self.code_proj(self.code_vectors[tokens])
        return e

    def encode(
        self,
        tokens: torch.Tensor,
        neuron_ids: torch.Tensor,
        session_ids: torch.Tensor,
        neuron_mask: torch.Tensor | None = None,
        masked: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Final hidden states ``(B, N, T, d)`` of a batch of token grids.

        Parameters
        ----------
        tokens : LongTensor
            ``(B, N, T)`` NQ code indices.
        neuron_ids : LongTensor
            ``(B, N)`` rows of the neuron embedding table (0 = generic).
        session_ids : LongTensor
            ``(B,)`` rows of the session embedding table (0 = generic).
        neuron_mask : BoolTensor, optional
            ``(B, N)``: True for real neurons, False for padding. Padded neurons
            never influence real ones.
        masked : BoolTensor, optional
            ``(B, N)``: neurons whose tokens are replaced by the mask embedding
            at every time step (masked-neuron pretraining).
        """
        B, N, T = tokens.shape
        x = self.embed_inputs(tokens, neuron_ids, session_ids, masked)
        rope = rope_tables(T, self.cfg.d_model // self.cfg.n_heads, self.cfg.rope_base, x.device, x.dtype)
        if neuron_mask is not None and bool(neuron_mask.all()):
            neuron_mask = None
        for block in self.blocks:
            x = block(x, rope, neuron_mask)
        return self.norm(x)

    def forward(
        self,
        tokens: torch.Tensor,
        neuron_ids: torch.Tensor,
        session_ids: torch.Tensor,
        neuron_mask: torch.Tensor | None = None,
        anchors: torch.Tensor | None = None,
        *,
        with_logits: bool = True,
        masked: torch.Tensor | None = None,
    ) -> DATOutput:
        """Hidden states, next-token logits and (given ``anchors``) regression outputs.

        Parameters
        ----------
        anchors : Tensor, optional
            ``(B, N, T, P)`` z-scored frames of every patch; the last one is what the regression
            head's change is relative to (:func:`patch_anchors`).
        masked : BoolTensor, optional
            ``(B, N)`` neurons whose input tokens are masked (see :meth:`encode`).
        """
        hidden = self.encode(tokens, neuron_ids, session_ids, neuron_mask, masked)
        logits = self.head(hidden) if with_logits else None
        reg = None
        if anchors is not None and self.reg_head is not None:
            reg = self.regress(hidden, anchors)
        return DATOutput(hidden, logits, reg)

    def regress(self, hidden: torch.Tensor, anchors: torch.Tensor) -> torch.Tensor:
        """Predicted change ``(..., reg_patches * P)`` of the next patches (relative to the last
        observed frame) from ``hidden`` ``(..., d)`` and the last patch's frames ``anchors``
        ``(..., P)``."""
        if self.reg_head is None:
            raise ValueError("this model has no regression head (reg_patches = 0)")
        frames = anchors.to(hidden.dtype)
        last = frames[..., -1:]
        out = self.reg_head(torch.cat([hidden, last], dim=-1))
        if self.reg_frames is not None:
            out = out + self.reg_frames(torch.cat([hidden, frames - last], dim=-1))
        return out

    def embed_inputs(
        self, tokens: torch.Tensor, neuron_ids: torch.Tensor, session_ids: torch.Tensor,
        masked: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """``(B, N, t, d)`` sum of token (or, where ``masked``, mask), neuron and session embeddings."""
        e = self.embed_tokens(tokens)
        if masked is not None:
            if self.mask_emb is None:
                raise ValueError("this model has no mask embedding (mask_embedding = False)")
            e = torch.where(masked[:, :, None, None], self.mask_emb.to(e.dtype), e)
        x = e + self.neuron_emb(neuron_ids)[:, :, None, :]
        return x + self.session_emb(session_ids)[:, None, None, :]

    @torch.no_grad()
    def encode_cached(
        self,
        tokens: torch.Tensor,
        neuron_ids: torch.Tensor,
        session_ids: torch.Tensor,
        neuron_mask: torch.Tensor | None,
        cache: list[tuple[torch.Tensor, torch.Tensor]] | None = None,
    ) -> tuple[torch.Tensor, list[tuple[torch.Tensor, torch.Tensor]]]:
        """Hidden states of new time steps given a key/value cache of earlier ones (inference).

        Parameters
        ----------
        tokens : LongTensor
            ``(B, N, t)`` the new tokens (the whole context on the first call).
        cache : list, optional
            Per block ``(keys, values)`` returned by the previous call.

        Returns
        -------
        hidden : Tensor
            ``(B, N, t, d)`` final hidden states of the new steps.
        cache : list
            The cache extended by the new steps.
        """
        B, N, t = tokens.shape
        past = 0 if cache is None else cache[0][0].shape[2]
        x = self.embed_inputs(tokens, neuron_ids, session_ids)
        cos, sin = rope_tables(past + t, self.cfg.d_model // self.cfg.n_heads, self.cfg.rope_base, x.device, x.dtype)
        rope = (cos[past:], sin[past:])
        if neuron_mask is not None and bool(neuron_mask.all()):
            neuron_mask = None
        new_cache = []
        for i, block in enumerate(self.blocks):
            x, kv = block.forward_cached(x, rope, neuron_mask, None if cache is None else cache[i])
            new_cache.append(kv)
        return self.norm(x), new_cache

    def grow_embeddings(self, n_neurons: int, n_sessions: int) -> tuple[int, int]:
        """Append rows to the neuron / session tables, initialised from the generic row 0.

        Returns
        -------
        (int, int)
            Index of the first new neuron row and of the first new session row.
        """
        first_n, first_s = self.cfg.n_neurons, self.cfg.n_sessions
        for attr, extra in (("neuron_emb", n_neurons), ("session_emb", n_sessions)):
            old: nn.Embedding = getattr(self, attr)
            if extra <= 0:
                continue
            new = nn.Embedding(old.num_embeddings + extra, old.embedding_dim, device=old.weight.device)
            with torch.no_grad():
                new.weight[: old.num_embeddings] = old.weight
                new.weight[old.num_embeddings :] = old.weight[0]
            setattr(self, attr, new)
        self.cfg.n_neurons += max(0, n_neurons)
        self.cfg.n_sessions += max(0, n_sessions)
        return first_n, first_s


def count_parameters(module: nn.Module, *, exclude_embeddings: bool = False) -> int:
    """Trainable parameters (optionally without the per-neuron/per-session tables)."""
    skip = ("neuron_emb", "session_emb") if exclude_embeddings else ()
    return sum(p.numel() for name, p in module.named_parameters() if not name.startswith(skip))


def next_token_loss(
    logits: torch.Tensor, tokens: torch.Tensor, neuron_mask: torch.Tensor | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean cross-entropy of predicting ``tokens[..., t+1]`` from position ``t``, and its accuracy.

    Parameters
    ----------
    logits : Tensor
        ``(B, N, T, K)``.
    tokens : LongTensor
        ``(B, N, T)``.
    neuron_mask : BoolTensor, optional
        ``(B, N)``; padded neurons are left out of the mean.
    """
    pred = logits[:, :, :-1].float()
    target = tokens[:, :, 1:]
    ce = F.cross_entropy(pred.reshape(-1, pred.shape[-1]), target.reshape(-1), reduction="none").view(target.shape)
    correct = (pred.argmax(-1) == target).float()
    if neuron_mask is None:
        return ce.mean(), correct.mean()
    w = neuron_mask[:, :, None].expand_as(ce).float()
    n = w.sum().clamp_min(1.0)
    return (ce * w).sum() / n, (correct * w).sum() / n


def patch_anchors(values: torch.Tensor, patch_len: int) -> torch.Tensor:
    """``(B, N, T, P)`` frames of every patch of ``values`` ``(B, N, T * P)`` (NaN → 0)."""
    B, N, TP = values.shape
    return torch.nan_to_num(values.reshape(B, N, TP // patch_len, patch_len))


def regression_loss(
    reg: torch.Tensor, values: torch.Tensor, patch_len: int, reg_patches: int, neuron_mask: torch.Tensor | None
) -> torch.Tensor:
    """MSE of the regression head against the change of the following patches' z-scored values.

    Parameters
    ----------
    reg : Tensor
        ``(B, N, T, reg_patches * P)`` head outputs (changes relative to each
        patch's last frame).
    values : Tensor
        ``(B, N, T * P)`` z-scored values on the token grid (NaN where unknown).
    """
    B, N, T, _ = reg.shape
    P = patch_len
    n_pos = T - reg_patches
    if n_pos <= 0:
        return reg.sum() * 0.0
    # target for position t: values of patches t+1 .. t+reg_patches minus the last frame of patch t
    idx = (torch.arange(n_pos, device=reg.device)[:, None] + 1) * P + torch.arange(reg_patches * P, device=reg.device)
    anchor = values[:, :, P - 1 : n_pos * P : P]  # (B, N, n_pos)
    target = values[:, :, idx] - anchor[..., None]  # (B, N, n_pos, R*P)
    pred = reg[:, :, :n_pos].float()
    valid = torch.isfinite(target)
    if neuron_mask is not None:
        valid = valid & neuron_mask[:, :, None, None]
    diff = torch.where(valid, pred - torch.nan_to_num(target), torch.zeros_like(pred))
    return (diff * diff).sum() / valid.sum().clamp_min(1)
