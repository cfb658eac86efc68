"""Tiny CalM models and recordings for fast tests (seconds on a CPU, no shipped weights needed).

Other parts of napari-calm (docks, decoding, benchmarks) can use these to
exercise the full CalM API without training anything.
"""

from __future__ import annotations

import numpy as np
import torch

from src_models.dat.calm import CalM
from src_models.dat.config import DATConfig, TokenizerPolicy
from src_models.recording import Recording

#: NQ settings of the tiny tokenizer (untrained: its codes are arbitrary but deterministic)
TINY_NQ = dict(patch_len=4, window=16, codebook_size=16, code_dim=8, d_model=16, n_heads=2,
               enc_layers=1, dec_layers=1, conv_channels=4, conv_kernel=3)
#: DAT settings of the tiny model
TINY_DAT = dict(d_model=32, n_layers=2, n_heads=2, mlp_ratio=2.0, reg_patches=2)


def tiny_nq(seed: int = 0) -> torch.nn.Module:
    """An untrained NQ with ``P = 4``, ``K = 16``."""
    from src_models.nq.config import NQConfig
    from src_models.nq.model import NeuralQuantizer

    torch.manual_seed(seed)
    nq = NeuralQuantizer(NQConfig.from_dict(TINY_NQ)).eval()
    templates = getattr(nq.quantizer, "templates", None)
    if templates is not None:  # spread the patch templates so that an untrained NQ uses many codes
        with torch.no_grad():
            templates.normal_(0.0, 1.0)
    return nq


def tiny_calm(seed: int = 0, **policy: object) -> CalM:
    """An untrained CalM (tiny NQ + 2-block DAT) with only the generic embedding rows.

    ``policy`` overrides :class:`TokenizerPolicy` fields (default: patch-local
    causal tokens, table decoding).
    """
    nq = tiny_nq(seed)
    torch.manual_seed(seed)
    return CalM.build(nq, DATConfig.from_dict(TINY_DAT), TokenizerPolicy.from_dict(policy)).eval()


def tiny_recording(n_neurons: int = 12, n_frames: int = 400, fs: float = 10.0, seed: int = 0,
                   source: str = "tiny") -> Recording:
    """Smooth random traces (shared slow factors + noise) as a :class:`Recording`."""
    rng = np.random.default_rng(seed)
    t = np.arange(n_frames) / fs
    factors = np.stack([np.sin(2 * np.pi * f * t + rng.uniform(0, 6)) for f in (0.05, 0.13, 0.31)])
    F = rng.standard_normal((n_neurons, 3)) @ factors + 0.3 * rng.standard_normal((n_neurons, n_frames))
    return Recording(F=(F + 5).astype(np.float32), fs=fs, source=source, kind="traces")
