"""Tiny NQ configs and traces shared by the NQ tests."""

from __future__ import annotations

import numpy as np

from src_models.nq.config import NQConfig

TINY = dict(
    patch_len=4, window=16, codebook_size=16, code_dim=8, d_model=16, n_heads=2,
    enc_layers=1, dec_layers=1, conv_channels=4, conv_kernel=3, steps=20, batch_size=16,
    checkpoint_every=5, warmup_steps=2,
)


def tiny_config(**overrides) -> NQConfig:
    """A model small enough to train for a few steps in well under a second."""
    return NQConfig(**{**TINY, **overrides})


def calcium_like(n: int = 12, T: int = 400, seed: int = 0) -> np.ndarray:
    """Sparse exponential transients plus noise, ``(n, T)`` float32."""
    rng = np.random.default_rng(seed)
    spikes = (rng.random((n, T)) < 0.03).astype(float) * rng.uniform(0.5, 2.0, (n, T))
    kernel = np.exp(-np.arange(30) / 6.0)
    calcium = np.stack([np.convolve(s, kernel)[:T] for s in spikes])
    return (calcium + 0.1 * rng.standard_normal((n, T)) + 1.0).astype(np.float32)
