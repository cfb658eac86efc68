"""Rotary position embeddings (RoPE, Su et al. 2021), generic over tensor layout.

``apply_rotary(q, k, positions)`` rotates queries and keys ``(..., T, head_dim)``
so their dot product depends on the relative position only ("rotate half":
channel ``i`` pairs with ``i + head_dim // 2``). Used by NQ and the DAT's time axis.
"""

from __future__ import annotations

import torch


def rotary_angles(positions: torch.Tensor, head_dim: int, base: float = 10000.0) -> tuple[torch.Tensor, torch.Tensor]:
    """Cosines and sines of the rotation angles.

    Parameters
    ----------
    positions : Tensor
        ``(..., T)`` positions (integer or float).
    head_dim : int
        Channels per attention head; must be even.
    base : float
        Wavelength base: channel pair ``j`` turns at frequency ``base**(-2j/head_dim)``.

    Returns
    -------
    cos, sin : Tensor
        ``(..., T, head_dim)`` float32 tensors (each angle repeated for both halves).
    """
    if head_dim % 2:
        raise ValueError(f"rotary embeddings need an even head dimension, got {head_dim}")
    half = head_dim // 2
    inv_freq = base ** (-torch.arange(half, dtype=torch.float32, device=positions.device) / half)
    angles = positions.to(torch.float32).unsqueeze(-1) * inv_freq
    angles = torch.cat((angles, angles), dim=-1)
    return angles.cos(), angles.sin()


def _rotate_half(x: torch.Tensor) -> torch.Tensor:
    a, b = x.chunk(2, dim=-1)
    return torch.cat((-b, a), dim=-1)


def apply_rotary(
    q: torch.Tensor, k: torch.Tensor, positions: torch.Tensor, base: float = 10000.0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Rotate queries and keys by their positions.

    Parameters
    ----------
    q, k : Tensor
        ``(..., T, head_dim)``, e.g. ``(B, H, T, head_dim)``.
    positions : Tensor
        Positions broadcastable to the leading dims of ``q`` without the
        channel axis: ``(T,)``, or ``(B, 1, T)`` for per-sample positions
        with ``(B, H, T, head_dim)`` inputs.
    base : float
        Wavelength base of the rotation frequencies.

    Returns
    -------
    q, k : Tensor
        Rotated tensors, same shape and dtype as the inputs.
    """
    cos, sin = rotary_angles(positions, q.shape[-1], base)
    cos, sin = cos.to(q.dtype), sin.to(q.dtype)
    return q * cos + _rotate_half(q) * sin, k * cos + _rotate_half(k) * sin
