"""Configuration of the Neural Quantizer (architecture, quantizer, training schedule).

Every NQ design choice the CalM paper leaves open is a field here, never a
constant in the code; the defaults are the shipped tokenizer's (reasons in
``docs/nq-design.md``). Configs round-trip through JSON (``resources/configs/nq_*.json``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from src_models.errors import CalmError
from src_models.validation import JsonConfig

QUANTIZERS = ("gumbel", "vq_ema")
FS_POLICIES = ("native", "resample")


@dataclass
class NQConfig(JsonConfig):
    """Neural Quantizer configuration.

    Attributes
    ----------
    patch_len : int
        P, frames per token.
    window : int
        L, frames the encoder and decoder see at once (a multiple of P); the
        Transformer context is ``L // P`` tokens.
    codebook_size : int
        K, the vocabulary size (``log2 K`` bits per token).
    code_dim : int
        D, dimension of a code vector (``code_embedding``).
    d_model, n_heads, enc_layers, dec_layers : int
        Transformer width, attention heads, encoder and decoder depth.
    mlp_ratio : float
        Hidden width of the Transformer MLPs relative to ``d_model``.
    conv_channels, conv_kernel : int
        Width and kernel of the frame-level convolutional stem (encoder) and
        the mirror convolution that ends the decoder.
    rope_base : float
        Base of the rotary position embeddings over patch positions.
    quantizer : {'gumbel', 'vq_ema'}
        ``'gumbel'``: Gumbel-Softmax over code logits, temperature annealed,
        straight-through hard one-hot, with the orthogonality and code-usage
        regularisers (CalM's design). ``'vq_ema'``: the plain VQ-VAE ablation,
        nearest code with EMA codebook updates and a commitment loss.
    init : {'kmeans', 'random'}
        Start of the code templates: k-means centroids of training patches
        (training starts from the classical baseline), or zeros.
    distance_scale : float
        Initial weight ``a`` of the template-distance term in the Gumbel code
        logits (learned afterwards).
    fs_policy : {'native', 'resample'}
        ``'native'``: a token is always P frames at the recording's own rate
        (``fs`` is recorded, not used). ``'resample'``: traces are resampled to
        ``canonical_fs`` before tokenizing and back afterwards.
    canonical_fs : float
        Model frame rate in Hz under ``fs_policy='resample'``.
    tau_start, tau_end : float
        Gumbel-Softmax temperature, annealed exponentially from ``tau_start``
        to ``tau_end`` over ``tau_anneal_fraction`` of the training steps.
    tau_anneal_fraction : float
        Fraction of ``steps`` over which the temperature anneals.
    lambda_orth : float
        Weight of the codebook orthogonality loss.
    lambda_usage : float
        Weight of the code-usage loss ``KL(mean code probabilities || uniform)``.
    commitment : float
        Commitment-loss weight β of the ``'vq_ema'`` quantizer.
    ema_decay : float
        Codebook EMA decay of the ``'vq_ema'`` quantizer.
    steps, batch_size : int
        Training steps (length of every schedule) and windows per step.
    lr, weight_decay, warmup_steps, grad_clip : float, float, int, float
        AdamW learning rate (linear warm-up then cosine decay to ``lr / 10``),
        weight decay, warm-up length and gradient-norm clip.
    checkpoint_every : int
        Steps between resumable training checkpoints.
    recording_weighting : {'frames', 'equal'}
        How training windows are drawn across recordings: in proportion to
        their neuron-frames, or each recording equally often.
    seed : int
        Seed of initialisation, window sampling and Gumbel noise.
    """

    patch_len: int = 8
    window: int = 64
    codebook_size: int = 512
    code_dim: int = 64
    d_model: int = 128
    n_heads: int = 4
    enc_layers: int = 2
    dec_layers: int = 2
    mlp_ratio: float = 4.0
    conv_channels: int = 32
    conv_kernel: int = 5
    rope_base: float = 10000.0
    quantizer: str = "gumbel"
    init: str = "kmeans"
    distance_scale: float = 10.0
    fs_policy: str = "native"
    canonical_fs: float = 10.0
    tau_start: float = 1.0
    tau_end: float = 0.1
    tau_anneal_fraction: float = 0.8
    lambda_orth: float = 0.1
    lambda_usage: float = 0.1
    commitment: float = 0.25
    ema_decay: float = 0.99
    steps: int = 3000
    batch_size: int = 128
    lr: float = 2e-3
    weight_decay: float = 0.01
    warmup_steps: int = 100
    grad_clip: float = 1.0
    checkpoint_every: int = 200
    recording_weighting: str = "equal"
    seed: int = 0

    label = "NQ config"

    def __post_init__(self) -> None:
        positive = ("patch_len", "window", "codebook_size", "code_dim", "d_model", "n_heads",
                    "conv_channels", "conv_kernel", "steps", "batch_size", "checkpoint_every")
        for name in positive:
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if self.window % self.patch_len:
            raise ValueError(f"window ({self.window}) must be a multiple of patch_len ({self.patch_len})")
        if self.d_model % self.n_heads or (self.d_model // self.n_heads) % 2:
            raise ValueError("d_model must split into n_heads heads of even size")
        if self.conv_kernel % 2 == 0:
            raise ValueError("conv_kernel must be odd")
        if self.codebook_size < 2:
            raise ValueError("codebook_size must be at least 2")
        if self.quantizer not in QUANTIZERS:
            raise ValueError(f"quantizer must be one of {QUANTIZERS}, got {self.quantizer!r}")
        if self.init not in ("kmeans", "random"):
            raise ValueError(f"init must be 'kmeans' or 'random', got {self.init!r}")
        if self.fs_policy not in FS_POLICIES:
            raise ValueError(f"fs_policy must be one of {FS_POLICIES}, got {self.fs_policy!r}")
        if self.recording_weighting not in ("frames", "equal"):
            raise ValueError("recording_weighting must be 'frames' or 'equal'")
        if not (self.canonical_fs > 0 and self.tau_start > 0 and self.tau_end > 0 and self.distance_scale > 0):
            raise ValueError("canonical_fs, tau_start, tau_end and distance_scale must be positive")
        if not 0 < self.tau_anneal_fraction <= 1 or not 0 <= self.ema_decay < 1:
            raise ValueError("tau_anneal_fraction must be in (0, 1] and ema_decay in [0, 1)")
        if min(self.enc_layers, self.dec_layers, self.warmup_steps) < 0 or self.lr <= 0:
            raise ValueError("layer counts and warmup_steps must be >= 0 and lr > 0")

    @property
    def n_tokens(self) -> int:
        """Tokens per window, ``window // patch_len``."""
        return self.window // self.patch_len

    @property
    def bits_per_frame(self) -> float:
        """Bits per model frame, ``log2(K) / P``."""
        import math

        return math.log2(self.codebook_size) / self.patch_len

    def to_json(self, path: str | Path) -> None:
        """Write the config as JSON."""
        Path(path).write_text(json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n")

    @classmethod
    def from_json(cls, path: str | Path) -> NQConfig:
        """Read a config written by :meth:`to_json` (missing keys take their defaults)."""
        path = Path(path)
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            raise CalmError("config file not found", path) from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise CalmError(f"unreadable NQ config ({exc.__class__.__name__})", path) from None
        return cls.from_dict(data, path)
