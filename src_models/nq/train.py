"""Training of the Neural Quantizer (on :class:`src_models.trainer.Trainer`): deterministic, resumable.

Loss: ``MSE(x, x̂)`` on z-scored windows plus the quantizer's weighted auxiliary losses. AdamW
with warm-up and cosine decay to ``lr / 10``; the Gumbel temperature anneals exponentially from
``tau_start`` to ``tau_end``. Checkpoints (:func:`src_models.checkpoint.save_checkpoint`) hold
the optimizer moments as ``train.*`` tensors while unfinished (:func:`load_nq` ignores them).
Batches and Gumbel noise of step ``s`` are seeded by ``(seed, s)``, so a resumed run ends
bit-identical to an uninterrupted one on the same machine and thread count.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from src_models.checkpoint import (
    check_replaceable,
    load_checkpoint,
    load_state_strict,
    recover_checkpoint,
    save_checkpoint,
)
from src_models.device import resolve_device
from src_models.errors import CalmError
from src_models.nq.config import NQConfig
from src_models.nq.data import TrainingSource, WindowSampler
from src_models.nq.io import KIND, nq_meta
from src_models.nq.kmeans_vq import kmeans_centroids
from src_models.nq.model import NeuralQuantizer
from src_models.nq.quantizers import perplexity
from src_models.trainer import Trainer, cosine_lr, load_optimizer_tensors, optimizer_tensors, param_groups

TRAIN_PREFIX = "train."


def temperature(step: int, config: NQConfig) -> float:
    """Gumbel-Softmax temperature at ``step`` (exponential anneal, then constant)."""
    frac = min(1.0, step / max(1.0, config.tau_anneal_fraction * config.steps))
    return float(config.tau_start * (config.tau_end / config.tau_start) ** frac)


def learning_rate(step: int, config: NQConfig) -> float:
    """Learning rate at ``step``: linear warm-up, cosine decay to ``lr / 10``."""
    return cosine_lr(step, config.steps, config.lr, config.warmup_steps, 0.1)


def _step_seed(seed: int, step: int) -> int:
    return int(np.random.SeedSequence([seed, step, 7]).generate_state(1)[0])


#: training patches drawn per code (and at most in all) for the k-means initialisation
INIT_PATCHES_PER_CODE, INIT_PATCHES = 200, 100_000


def _init_templates(model: NeuralQuantizer, sampler: WindowSampler, config: NQConfig) -> None:
    """Start the code templates at k-means centroids of training patches."""
    n_patches = min(INIT_PATCHES, INIT_PATCHES_PER_CODE * config.codebook_size)
    n_windows = max(1, -(-n_patches // config.n_tokens))
    windows = sampler.sample(np.random.default_rng([config.seed, 0, 1]), n_windows)
    patches = windows.reshape(-1, config.patch_len)
    if len(patches) < config.codebook_size:
        raise CalmError(f"k-means initialisation needs at least {config.codebook_size} patches")
    centroids = kmeans_centroids(patches, config.codebook_size, config.seed)
    with torch.no_grad():
        model.quantizer.set_templates(torch.from_numpy(centroids))


def train_nq(
    sources: list[TrainingSource],
    config: NQConfig,
    out_dir: str | Path,
    *,
    device: str | torch.device | None = None,
    progress: Callable[[dict[str, Any]], None] | None = None,
    resume: bool = True,
) -> NeuralQuantizer:
    """Train (or resume training) a Neural Quantizer and save it to ``out_dir``.

    Parameters
    ----------
    sources : list of TrainingSource
        Prepared training recordings (:func:`src_models.nq.data.prepare_source`).
    config : NQConfig
        Architecture and schedule; ``config.steps`` is the run length.
    out_dir : str or Path
        Checkpoint folder (resumable state while training, the tokenizer afterwards).
    device : str or torch.device, optional
        ``None``/``'auto'`` picks CUDA when available.
    progress : callable, optional
        Called after every step with ``{"step", "steps", "loss", "mse", "perplexity",
        "used_fraction", "tau", "lr"}``; a ``KeyboardInterrupt`` in it stops training.
    resume : bool
        Continue an unfinished run in ``out_dir`` with the same config and data.

    Returns
    -------
    NeuralQuantizer
        The trained model in eval mode (on ``device``).
    """
    out_dir = Path(out_dir)
    dev = resolve_device(device)
    data = [{"name": s.name, "fs": s.fs, "neurons": int(s.traces.shape[0]), "model_frames": int(s.traces.shape[1])}
            for s in sources]
    torch.manual_seed(config.seed)
    model = NeuralQuantizer(config).to(dev)
    start, history, resume_tensors = 0, [], {}
    check_replaceable(out_dir)
    if resume and recover_checkpoint(out_dir):
        tensors, meta = load_checkpoint(out_dir, expected_kind=KIND)
        if meta.get("config") != config.to_dict():
            raise CalmError("holds a run with a different config; choose another --out folder", out_dir)
        if meta.get("state", {}).get("data") != data:
            raise CalmError("holds a run on different training data; choose another --out folder", out_dir)
        load_state_strict(model, {k: v for k, v in tensors.items() if not k.startswith(TRAIN_PREFIX)}, out_dir)
        resume_tensors = tensors
        start = int(meta["state"]["step"])
        history = list(meta["state"].get("history", []))
    sampler = WindowSampler(sources, config)
    if start == 0 and config.init == "kmeans":
        _init_templates(model, sampler, config)

    def loss(step: int) -> tuple[torch.Tensor, dict[str, Any]]:
        torch.manual_seed(_step_seed(config.seed, step))
        x = torch.from_numpy(sampler.batch(step)).to(dev)
        tau = temperature(step, config)
        out = model(x, tau)
        mse = F.mse_loss(out.recon.float(), x)
        total = mse + out.quant.aux_loss
        ppl, used = perplexity(out.quant.indices, config.codebook_size)
        return total, {"loss": float(total.detach()), "mse": float(mse.detach()), "perplexity": ppl,
                       "used_fraction": used, "tau": tau, "lr": learning_rate(step, config),
                       "elapsed_s": time.perf_counter() - t0, **out.quant.terms}

    def save(step: int, metrics: dict[str, Any]) -> None:
        complete = step >= config.steps
        history.append({k: round(v, 6) if isinstance(v, float) else v
                        for k, v in {"step": step, "steps": config.steps, **metrics}.items()})
        tensors = dict(model.state_dict())
        if not complete:
            tensors.update(optimizer_tensors(trainer.optimizer, TRAIN_PREFIX))
        save_checkpoint(out_dir, tensors, nq_meta(config, {"step": step, "complete": complete,
                                                          "data": data, "history": history}))

    groups = param_groups(model, config.weight_decay, no_decay=("codebook",))
    trainer = Trainer(model, loss, steps=config.steps, lr=lambda step: learning_rate(step, config),
                      params=groups, grad_clip=config.grad_clip, start=start, save=save,
                      checkpoint_every=config.checkpoint_every)
    if resume_tensors and not load_optimizer_tensors(trainer.optimizer, resume_tensors, TRAIN_PREFIX):
        raise CalmError("optimizer state in the checkpoint does not match the model", out_dir)
    t0 = time.perf_counter()
    for record in trainer.run():
        if progress is not None:
            progress({"step": record.step, "steps": config.steps, **record.metrics})
    model.eval()
    return model
