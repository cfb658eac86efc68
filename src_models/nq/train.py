"""Training loop of the Neural Quantizer: deterministic, resumable, atomically checkpointed.

Loss per step: ``MSE(x, x̂)`` on z-scored windows plus the quantizer's
weighted auxiliary losses (usage + orthogonality for Gumbel, commitment for
EMA VQ). AdamW with linear warm-up and cosine decay to ``lr / 10``; the
Gumbel temperature anneals exponentially from ``tau_start`` to ``tau_end``.

Checkpoints are one folder written by :func:`src_models.checkpoint.save_checkpoint`
(safetensors + ``config.json``): the model's tensors plus, while training is
unfinished, the optimizer moments under ``train.*`` names. :func:`load_nq`
ignores ``train.*`` tensors, so an unfinished checkpoint is still a usable
tokenizer. Determinism: weights are initialised from ``seed``; the batch and
the Gumbel noise of step ``s`` are drawn from generators seeded by
``(seed, s)``, so a run resumed after an interruption ends bit-identical to an
uninterrupted one on the same machine and thread count.
"""

from __future__ import annotations

import math
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
from src_models.device import autocast, resolve_device
from src_models.errors import CalmError
from src_models.nq.config import NQConfig
from src_models.nq.data import TrainingSource, WindowSampler
from src_models.nq.io import KIND, nq_meta
from src_models.nq.kmeans_vq import kmeans_centroids
from src_models.nq.model import NeuralQuantizer
from src_models.nq.quantizers import perplexity

TRAIN_PREFIX = "train."


def temperature(step: int, config: NQConfig) -> float:
    """Gumbel-Softmax temperature at ``step`` (exponential anneal, then constant)."""
    frac = min(1.0, step / max(1.0, config.tau_anneal_fraction * config.steps))
    return float(config.tau_start * (config.tau_end / config.tau_start) ** frac)


def learning_rate(step: int, config: NQConfig) -> float:
    """Learning rate at ``step``: linear warm-up, cosine decay to ``lr / 10``."""
    if step < config.warmup_steps:
        return config.lr * (step + 1) / config.warmup_steps
    span = max(1, config.steps - config.warmup_steps)
    frac = min(1.0, (step - config.warmup_steps) / span)
    return config.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * frac)))


def _step_seed(seed: int, step: int) -> int:
    return int(np.random.SeedSequence([seed, step, 7]).generate_state(1)[0])


def _optimizer_tensors(opt: torch.optim.Optimizer) -> dict[str, torch.Tensor]:
    out = {}
    for idx, state in opt.state_dict()["state"].items():
        for name, value in state.items():
            out[f"{TRAIN_PREFIX}optim.{idx}.{name}"] = torch.as_tensor(value)
    return out


def _restore_optimizer(opt: torch.optim.Optimizer, tensors: dict[str, torch.Tensor], source: Path) -> None:
    sd = opt.state_dict()
    state: dict[int, dict[str, torch.Tensor]] = {}
    for key, value in tensors.items():
        if key.startswith(f"{TRAIN_PREFIX}optim."):
            _, _, idx, name = key.split(".", 3)
            state.setdefault(int(idx), {})[name] = value
    n_params = sum(len(g["params"]) for g in sd["param_groups"])
    if state and sorted(state) != list(range(n_params)):
        raise CalmError("optimizer state in the checkpoint does not match the model", source)
    sd["state"] = state
    opt.load_state_dict(sd)


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


def _sources_summary(sources: list[TrainingSource]) -> list[dict[str, Any]]:
    return [{"name": s.name, "fs": s.fs, "neurons": int(s.traces.shape[0]),
             "model_frames": int(s.traces.shape[1])} for s in sources]


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
        Checkpoint folder; holds the resumable state while training and the
        final tokenizer afterwards.
    device : str or torch.device, optional
        ``None``/``'auto'`` picks CUDA when available.
    progress : callable, optional
        Called after every step with ``{"step", "steps", "loss", "mse",
        "perplexity", "used_fraction", "tau", "lr"}``; a ``KeyboardInterrupt``
        raised in it stops training (the last checkpoint stays valid).
    resume : bool
        Continue from the checkpoint in ``out_dir`` when it holds an
        unfinished run with the same config and data.

    Returns
    -------
    NeuralQuantizer
        The trained model in eval mode (on ``device``).
    """
    out_dir = Path(out_dir)
    dev = resolve_device(device)
    data = _sources_summary(sources)
    torch.manual_seed(config.seed)
    model = NeuralQuantizer(config).to(dev)
    decay = [p for n, p in model.named_parameters() if p.ndim >= 2 and "codebook" not in n]
    no_decay = [p for n, p in model.named_parameters() if not (p.ndim >= 2 and "codebook" not in n)]
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": config.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=config.lr,
    )
    start, history = 0, []
    check_replaceable(out_dir)
    if resume and recover_checkpoint(out_dir):
        tensors, meta = load_checkpoint(out_dir, expected_kind=KIND)
        if meta.get("config") != config.to_dict():
            raise CalmError("holds a run with a different config; choose another --out folder", out_dir)
        if meta.get("state", {}).get("data") != data:
            raise CalmError("holds a run on different training data; choose another --out folder", out_dir)
        load_state_strict(model, {k: v for k, v in tensors.items() if not k.startswith(TRAIN_PREFIX)}, out_dir)
        _restore_optimizer(opt, tensors, out_dir)
        start = int(meta["state"]["step"])
        history = list(meta["state"].get("history", []))
    sampler = WindowSampler(sources, config)
    if start == 0 and config.init == "kmeans":
        _init_templates(model, sampler, config)

    def save(step: int) -> None:
        complete = step >= config.steps
        tensors = dict(model.state_dict())
        if not complete:
            tensors.update(_optimizer_tensors(opt))
        save_checkpoint(out_dir, tensors, nq_meta(config, {"step": step, "complete": complete,
                                                          "data": data, "history": history}))

    model.train()
    t0 = time.perf_counter()
    for step in range(start, config.steps):
        tau, lr = temperature(step, config), learning_rate(step, config)
        for group in opt.param_groups:
            group["lr"] = lr
        torch.manual_seed(_step_seed(config.seed, step))
        x = torch.from_numpy(sampler.batch(step)).to(dev)
        with autocast(dev):
            out = model(x, tau)
            mse = F.mse_loss(out.recon.float(), x)
        loss = mse + out.quant.aux_loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
        opt.step()
        ppl, used = perplexity(out.quant.indices, config.codebook_size)
        info = {"step": step + 1, "steps": config.steps, "loss": float(loss.detach()), "mse": float(mse.detach()),
                "perplexity": ppl, "used_fraction": used, "tau": tau, "lr": lr,
                "elapsed_s": time.perf_counter() - t0, **out.quant.terms}
        if (step + 1) % config.checkpoint_every == 0 or step + 1 == config.steps:
            history.append({k: round(v, 6) if isinstance(v, float) else v for k, v in info.items()})
            save(step + 1)
        if progress is not None:
            progress(info)
    model.eval()
    return model
