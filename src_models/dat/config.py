"""Configuration of the dual-axis Transformer, its pretraining and its adaptation.

Every design choice the CalM paper leaves open (depth, width, window length,
learning rates, ...) is a field here, never a constant in the code. Configs
round-trip through JSON (``resources/configs/dat_*.json``).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from src_models.errors import CalmError
from src_models.validation import JsonConfig


@dataclass
class DATConfig(JsonConfig):
    """Architecture of the dual-axis Transformer.

    Attributes
    ----------
    codebook_size : int
        K, the NQ vocabulary size (number of classes of the next-token head).
    code_dim : int
        Dimension of NQ's code embeddings (used when ``token_embedding='nq'``).
    patch_len : int
        Frames per token P (the regression head predicts ``reg_patches * P`` values).
    d_model, n_layers, n_heads, mlp_ratio : int, int, int, float
        Width, depth, attention heads and MLP expansion of the blocks.
    dropout : float
        Dropout on attention outputs and MLP.
    rope_base : float
        Base of the rotary position embedding on the time axis.
    token_embedding : {'nq', 'learned'}
        ``'nq'``: a trainable projection of NQ's (frozen) code vectors plus a
        learned residual table; ``'learned'``: a plain learned table over K codes.
    n_neurons, n_sessions : int
        Rows of the neuron and session embedding tables. Row 0 of each is the
        *generic* embedding used for unseen neurons/sessions and as the
        initialisation of new rows when adapting to a new recording.
    reg_patches : int
        Patches ahead the light regression head predicts (0 disables it).
    mask_embedding : bool
        Learn a mask embedding that replaces the token input of masked neurons
        (set by pretraining with ``train.mask_neurons > 0``).
    reg_frame_hidden : int
        Width of the regression head's frame path, a small MLP from the state and the last patch's
        P frames (relative to its last frame) to the change, added to the linear head: the
        frame-resolution, nonlinear read-out of a neuron's own recent trace that tokens blur
        (0: none; its output layer starts at zero, so adding it to a trained model changes nothing
        until it is trained).
    """

    codebook_size: int = 512
    code_dim: int = 64
    patch_len: int = 8
    d_model: int = 128
    n_layers: int = 4
    n_heads: int = 4
    mlp_ratio: float = 4.0
    dropout: float = 0.0
    rope_base: float = 10000.0
    token_embedding: str = "nq"
    n_neurons: int = 1
    n_sessions: int = 1
    reg_patches: int = 2
    mask_embedding: bool = False
    reg_frame_hidden: int = 0

    def __post_init__(self) -> None:
        if self.d_model % self.n_heads or (self.d_model // self.n_heads) % 2:
            raise ValueError("d_model must split into n_heads heads of even size")
        if self.token_embedding not in ("nq", "learned"):
            raise ValueError("token_embedding must be 'nq' or 'learned'")
        if min(self.codebook_size, self.patch_len, self.n_layers, self.n_neurons, self.n_sessions) < 1:
            raise ValueError("codebook_size, patch_len, n_layers, n_neurons, n_sessions must be >= 1")



@dataclass
class TokenizerPolicy(JsonConfig):
    """How CalM turns z-scored frames into the DAT's tokens with NQ, and tokens back into frames.

    Attributes
    ----------
    mode : {'causal', 'window'}
        ``'causal'``: token ``j`` is the last token of NQ's encoding of the
        ``causal_frames`` frames that *end* with patch ``j``, so a token never
        depends on later frames (as in a forecasting context). ``'window'``:
        non-overlapping ``NQ.window`` chunks encoded at once.
    causal_frames : int
        Model-rate frames of left context per causal token; 0 means one patch
        (``P``): every token is then the code of its own ``P`` frames alone.
    decode : {'table', 'context'}
        ``'table'``: a token decodes to its code's waveform (NQ's decoder on
        that token alone, :meth:`code_waveforms`), so a frame depends on its
        own token only; ``'context'``: NQ's decoder runs over the context and
        generated tokens together.
    batch_windows : int
        Windows per NQ call (bounds memory when tokenizing long recordings).

    Notes
    -----
    The defaults reconstruct held-out frames best, at 4x the speed of 32-frame
    causal tokens (measurements in ``docs/model-card.md``).
    """

    mode: str = "causal"
    causal_frames: int = 0
    decode: str = "table"
    batch_windows: int = 8192

    def __post_init__(self) -> None:
        if self.mode not in ("causal", "window"):
            raise ValueError("tokenizer mode must be 'causal' or 'window'")
        if self.decode not in ("table", "context"):
            raise ValueError("tokenizer decode must be 'table' or 'context'")
        if self.causal_frames < 0 or self.batch_windows < 1:
            raise ValueError("causal_frames must be >= 0 and batch_windows >= 1")



@dataclass
class TrainConfig(JsonConfig):
    """Self-supervised pretraining of the DAT (next-token cross-entropy).

    Attributes
    ----------
    max_steps : int
        Optimizer steps (``--max-steps`` overrides).
    batch_size : int
        Population windows per step *per rank*.
    window_tokens : int
        Tokens per window on the time axis.
    max_neurons : int
        Neurons subsampled per window (without replacement).
    lr, weight_decay, betas, warmup_steps, min_lr_ratio, grad_clip
        AdamW with linear warm-up then cosine decay to ``lr * min_lr_ratio``.
    reg_weight : float
        Weight of the regression head's MSE (z-scored values) in the loss.
    id_dropout : float
        Probability of replacing a neuron's / a window's session id by the
        generic row 0, so the generic embeddings stay usable for new data.
    mask_neurons : float
        Masked-neuron prediction: fraction of each training window's neurons whose
        input tokens are replaced by a learned mask embedding at every time step,
        so their next-token and regression targets must come from the other
        neurons (0 = plain next-token pretraining).
    val_fraction : float
        Last fraction of every session's frames held out for validation.
    val_every, val_windows : int
        Validation period (steps) and number of fixed validation windows.
    checkpoint_every : int
        Steps between ``last/`` checkpoints (also written at the end).
    log_every : int
        Steps between progress lines.
    """

    max_steps: int = 2000
    batch_size: int = 16
    window_tokens: int = 16
    max_neurons: int = 64
    lr: float = 1e-3
    weight_decay: float = 0.05
    betas: tuple[float, float] = (0.9, 0.95)
    warmup_steps: int = 100
    min_lr_ratio: float = 0.05
    grad_clip: float = 1.0
    reg_weight: float = 1.0
    id_dropout: float = 0.1
    mask_neurons: float = 0.0
    val_fraction: float = 0.1
    val_every: int = 200
    val_windows: int = 64
    checkpoint_every: int = 200
    log_every: int = 20

    def __post_init__(self) -> None:
        self.betas = tuple(float(b) for b in self.betas)  # type: ignore[assignment]
        if self.window_tokens < 2:
            raise ValueError("window_tokens must be >= 2 (next-token targets)")
        if min(self.batch_size, self.max_neurons, self.max_steps, self.val_every, self.checkpoint_every) < 1:
            raise ValueError("batch_size, max_neurons, max_steps, val_every, checkpoint_every must be >= 1")
        if not 0 <= self.val_fraction < 1:
            raise ValueError("val_fraction must lie in [0, 1)")
        if not 0 <= self.mask_neurons < 1:
            raise ValueError("mask_neurons must lie in [0, 1)")


    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["betas"] = list(self.betas)
        return d


@dataclass
class FinetuneConfig(JsonConfig):
    """Adaptation to a new recording (the default budget of ``calm forecast``).

    Phase ``embeddings`` trains only the recording's new neuron and session
    embeddings (and the light regression head) with the backbone frozen;
    phase ``lora`` (``lora_steps > 0``) then only low-rank adapters of the
    blocks' linear layers (:mod:`src_models.dat.lora`, merged into the weights
    at the end of the phase); phase ``full`` (``full_steps > 0``) then trains
    everything at ``full_lr``.

    Attributes
    ----------
    embed_steps, lora_steps, full_steps : int
        Optimizer steps of the three phases.
    embed_lr, lora_lr, full_lr : float
        Learning rates of the three phases (cosine after a short warm-up).
    lora_rank : int
        Rank of the low-rank adapters.
    batch_size, window_tokens, max_neurons : int
        Window sampling, as in pretraining.
    reg_weight : float
        Weight of the regression head's MSE.
    train_head : bool
        Also train the regression head in the ``embeddings`` phase.
    val_every : int
        Steps between validation passes (the best state by validation loss is kept).
    val_windows : int
        Fixed validation windows.
    train_fraction, val_fraction : float
        Time split of the recording: first ``train_fraction`` for training, the
        next ``val_fraction`` for selection; the rest is never touched.
    """

    embed_steps: int = 150
    full_steps: int = 0
    embed_lr: float = 1e-2
    full_lr: float = 2e-4
    lora_steps: int = 0
    lora_lr: float = 1e-3
    lora_rank: int = 8
    batch_size: int = 4
    window_tokens: int = 16
    max_neurons: int = 64
    reg_weight: float = 1.0
    train_head: bool = True
    val_every: int = 25
    val_windows: int = 16
    train_fraction: float = 0.6
    val_fraction: float = 0.2

    def __post_init__(self) -> None:
        if min(self.embed_steps, self.lora_steps, self.full_steps) < 0:
            raise ValueError("embed_steps, lora_steps and full_steps must be >= 0")
        if self.lora_rank < 1:
            raise ValueError(f"lora_rank must be >= 1, got {self.lora_rank}")
        if not (0 < self.train_fraction and 0 < self.val_fraction and self.train_fraction + self.val_fraction <= 1):
            raise ValueError("train_fraction and val_fraction must be positive and add up to <= 1")

    @property
    def total_steps(self) -> int:
        return self.embed_steps + self.lora_steps + self.full_steps



def read_config_file(path: str | Path) -> dict[str, Any]:
    """Read a ``dat_*.json`` file.

    Sections: ``model`` (:class:`DATConfig`), ``tokenizer``
    (:class:`TokenizerPolicy`), ``train`` (:class:`TrainConfig`), ``finetune``
    (:class:`FinetuneConfig`), ``data`` (sources, see
    :func:`src_models.dat.data.parse_source`) and a free-text ``comment``.
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise CalmError("config file not found", path) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CalmError(f"unreadable config ({exc.__class__.__name__}: {exc})", path) from None
    if not isinstance(data, dict):
        raise CalmError("config must be a JSON object", path)
    unknown = sorted(set(data) - {"model", "tokenizer", "train", "finetune", "data", "comment"})
    if unknown:
        raise CalmError(f"unknown config sections {unknown} (use model, tokenizer, train, finetune, data)", path)
    sections = {"model": DATConfig, "tokenizer": TokenizerPolicy, "train": TrainConfig, "finetune": FinetuneConfig}
    for name, cls in sections.items():
        if name in data:   # every value checked here, so errors name this file
            if not isinstance(data[name], dict):
                raise CalmError(f"section {name!r} must be a JSON object", path)
            cls.from_dict(data[name], path)
    return data
