"""AdamW set-up, the learning-rate schedule, and optimizer state as plain tensors (no pickle)."""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch
from torch import nn


def param_groups(module: nn.Module, weight_decay: float, only: Iterable[str] | None = None) -> list[dict]:
    """AdamW groups: decay on matrices, none on biases, norms and the embedding tables.

    Parameters
    ----------
    only : iterable of str, optional
        Parameter-name prefixes to train (all trainable parameters when None).
    """
    prefixes = tuple(only) if only is not None else None
    decay, no_decay = [], []
    for name, p in module.named_parameters():
        if not p.requires_grad or (prefixes is not None and not name.startswith(prefixes)):
            continue
        table = name.startswith(("neuron_emb", "session_emb", "code_table"))
        (decay if p.dim() >= 2 and not table else no_decay).append(p)
    groups = []
    if decay:
        groups.append({"params": decay, "weight_decay": weight_decay})
    if no_decay:
        groups.append({"params": no_decay, "weight_decay": 0.0})
    return groups


def cosine_lr(step: int, total: int, base: float, warmup: int, min_ratio: float) -> float:
    """Linear warm-up over ``warmup`` steps, then cosine decay to ``base * min_ratio``."""
    if warmup > 0 and step < warmup:
        return base * (step + 1) / warmup
    span = max(1, total - warmup)
    progress = min(1.0, (step - warmup) / span)
    return base * (min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress)))


def set_lr(opt: torch.optim.Optimizer, lr: float) -> None:
    for g in opt.param_groups:
        g["lr"] = lr


def optimizer_tensors(opt: torch.optim.Optimizer) -> dict[str, torch.Tensor]:
    """AdamW moments as ``optim.<index>.<name>`` tensors (index = position in the state dict)."""
    out = {}
    for idx, state in opt.state_dict()["state"].items():
        for name, value in state.items():
            out[f"optim.{idx}.{name}"] = torch.as_tensor(value).detach().cpu()
    return out


def load_optimizer_tensors(opt: torch.optim.Optimizer, tensors: dict[str, torch.Tensor]) -> bool:
    """Restore moments written by :func:`optimizer_tensors`; False when they do not fit ``opt``."""
    sd = opt.state_dict()
    state: dict[int, dict[str, torch.Tensor]] = {}
    for key, value in tensors.items():
        _, idx, name = key.split(".", 2)
        state.setdefault(int(idx), {})[name] = value
    params = [p for g in opt.param_groups for p in g["params"]]
    if set(state) - set(range(len(params))):
        return False
    for idx, st in state.items():
        for name in ("exp_avg", "exp_avg_sq"):
            if name in st and st[name].shape != params[idx].shape:
                return False
    sd["state"] = state
    opt.load_state_dict(sd)
    return True
