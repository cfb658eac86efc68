"""The one training loop of CalM: NQ, DAT pretraining and fine-tuning, the baselines, the decoders.

A caller supplies its module, a ``loss(step)`` closure (→ loss tensor, or ``(loss, parts)`` with
a dict of floats) and optionally ``validate()`` (→ a score, a dict holding ``"val_loss"``, or
None). :class:`Trainer` owns AdamW (:func:`param_groups`), the learning rate (constant or
``lr(step)``, :func:`warmup_cosine`), bf16 autocast on CUDA, gradient clipping (``grad_clip >
0``), validation every ``val_every`` steps and at the last (``best``, ``best_step``,
``best_state`` with ``keep_best``; early stopping after ``patience`` validations not improving
by ``min_delta``), global steps ``start .. steps``, one :class:`src_models.jobs.Progress` per
step from :meth:`Trainer.run` (loss parts, ``lr``, validation metrics, ``improved``),
``cancel`` (Event or callable, checked before every step; sets ``cancelled``) and
``save(step, metrics)`` every ``checkpoint_every`` steps and at the last.
:func:`optimizer_tensors` / :func:`load_optimizer_tensors` carry the AdamW moments as tensors.

Example::

    trainer = Trainer(net, lambda step: loss_of(batch(step)), steps=1000, lr=1e-3,
                      validate=lambda: val_loss(net), val_every=100, patience=4)
    trainer.fit()  # best weights loaded, module in eval mode; or: for record in trainer.run(): ...
"""

from __future__ import annotations

import contextlib
import math
import threading
from collections.abc import Callable, Generator, Iterable
from typing import Any

import torch
from torch import nn

from src_models.device import autocast
from src_models.jobs import Progress

def param_groups(
    module: nn.Module,
    weight_decay: float,
    only: Iterable[str] | None = None,
    no_decay: tuple[str, ...] = ("neuron_emb", "session_emb", "code_table"),
) -> list[dict]:
    """AdamW groups: decay on matrices, none on biases, norms and parameters named in ``no_decay``.

    Parameters
    ----------
    only : iterable of str, optional
        Parameter-name prefixes to train (all trainable parameters when None).
    no_decay : tuple of str
        Name parts of matrices without decay (the DAT's embedding tables by default).
    """
    prefixes = tuple(only) if only is not None else None
    decay, rest = [], []
    for name, p in module.named_parameters():
        if not p.requires_grad or (prefixes is not None and not name.startswith(prefixes)):
            continue
        (decay if p.dim() >= 2 and not any(t in name for t in no_decay) else rest).append(p)
    return [{"params": ps, "weight_decay": wd} for ps, wd in ((decay, weight_decay), (rest, 0.0)) if ps]


def cosine_lr(step: int, total: int, base: float, warmup: int, min_ratio: float) -> float:
    """Linear warm-up over ``warmup`` steps, then cosine decay to ``base * min_ratio``."""
    if warmup > 0 and step < warmup:
        return base * (step + 1) / warmup
    span = max(1, total - warmup)
    progress = min(1.0, (step - warmup) / span)
    return base * (min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress)))


def warmup_cosine(
    base: float, total: int, warmup: int, min_ratio: float, first: int = 0
) -> Callable[[int], float]:
    """``lr(step)`` of :func:`cosine_lr` for a schedule that starts at global step ``first``."""
    return lambda step: cosine_lr(step - first, total, base, warmup, min_ratio)


def optimizer_tensors(opt: torch.optim.Optimizer, prefix: str = "") -> dict[str, torch.Tensor]:
    """AdamW moments as ``<prefix>optim.<index>.<name>`` tensors (index = position in the state dict)."""
    return {f"{prefix}optim.{idx}.{name}": torch.as_tensor(value).detach().cpu()
            for idx, state in opt.state_dict()["state"].items() for name, value in state.items()}


def load_optimizer_tensors(
    opt: torch.optim.Optimizer, tensors: dict[str, torch.Tensor], prefix: str = ""
) -> bool:
    """Restore moments written by :func:`optimizer_tensors`; False when they do not fit ``opt``.

    Tensors whose names do not start with ``<prefix>optim.`` are ignored.
    """
    sd = opt.state_dict()
    state: dict[int, dict[str, torch.Tensor]] = {}
    for key, value in tensors.items():
        if key.startswith(f"{prefix}optim."):
            idx, name = key[len(prefix) + 6 :].split(".", 1)
            state.setdefault(int(idx), {})[name] = value
    params = [p for g in opt.param_groups for p in g["params"]]
    if set(state) - set(range(len(params))) or any(
        v.shape != params[i].shape for i, st in state.items() for k, v in st.items() if k.startswith("exp_avg")
    ):
        return False
    sd["state"] = state
    opt.load_state_dict(sd)
    return True


class Trainer:
    """AdamW training of ``module`` on a ``loss(step)`` closure; the module docstring explains each part.

    Parameters
    ----------
    module : nn.Module
        The network (in train mode while stepping, also after each validation).
    loss, validate : callable
        ``loss(step) -> loss | (loss, parts)``; ``validate() -> float | dict | None`` (optional).
    steps, start : int
        The global steps run are ``start .. steps - 1``.
    lr : float or callable
        Constant learning rate, or ``lr(step)``.
    params, weight_decay, betas
        AdamW parameters or groups (default: the trainable parameters of ``module``) and settings.
    grad_clip, val_every, patience, min_delta, keep_best, cancel, save, checkpoint_every, amp
        See the module docstring (0 / None switch clipping, periodic validation, early stopping,
        periodic saves off; ``amp`` enables the bf16 autocast).
    """

    def __init__(
        self,
        module: nn.Module,
        loss: Callable[[int], torch.Tensor | tuple[torch.Tensor, dict[str, Any]]],
        *,
        steps: int,
        lr: float | Callable[[int], float],
        params: Iterable[Any] | None = None,
        weight_decay: float = 0.01,
        betas: tuple[float, float] = (0.9, 0.999),
        grad_clip: float = 0.0,
        validate: Callable[[], float | dict[str, float] | None] | None = None,
        val_every: int = 0,
        patience: int | None = None,
        min_delta: float = 0.0,
        keep_best: bool = False,
        start: int = 0,
        cancel: threading.Event | Callable[[], bool] | None = None,
        save: Callable[[int, dict[str, Any]], None] | None = None,
        checkpoint_every: int = 0,
        amp: bool = True,
    ) -> None:
        self.module, self.loss, self.steps, self.lr = module, loss, steps, lr
        self.validate, self.val_every, self.patience = validate, val_every, patience
        self.min_delta, self.keep_best = min_delta, keep_best
        self.grad_clip, self.amp = grad_clip, amp
        self.save, self.checkpoint_every = save, checkpoint_every
        self.cancel = cancel.is_set if isinstance(cancel, threading.Event) else cancel
        params = [p for p in module.parameters() if p.requires_grad] if params is None else list(params)
        self.optimizer = torch.optim.AdamW(
            params, lr=lr(start) if callable(lr) else lr, weight_decay=weight_decay, betas=betas
        )
        self.step = start
        self.best, self.best_step, self.bad = math.inf, 0, 0
        self.best_state: dict[str, torch.Tensor] | None = None
        self.cancelled = self.stopped_early = False
        self.metrics: dict[str, Any] = {}

    def run(self) -> Generator[Progress, None, None]:
        """Train from ``step`` to ``steps`` (or an early stop / cancel), yielding a record per step."""
        device = next(self.module.parameters()).device
        trained = [p for p in self.module.parameters() if p.requires_grad]
        self.module.train()
        while self.step < self.steps:
            if self.cancel is not None and self.cancel():
                self.cancelled = True
                return
            if callable(self.lr):
                for g in self.optimizer.param_groups:
                    g["lr"] = self.lr(self.step)
            with autocast(device) if self.amp else contextlib.nullcontext():
                out = self.loss(self.step)
            loss, parts = out if isinstance(out, tuple) else (out, {})
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if self.grad_clip > 0:
                nn.utils.clip_grad_norm_(trained, self.grad_clip)
            self.optimizer.step()
            self.step += 1
            self.metrics = {**parts, "loss": parts.get("loss", float(loss.detach()))}
            self.metrics["lr"] = self.optimizer.param_groups[0]["lr"]
            if self.validate is not None and (
                self.step == self.steps or (self.val_every and self.step % self.val_every == 0)
            ):
                self._validate()
            if self.save is not None and self.checkpoint_every and (
                self.step % self.checkpoint_every == 0 or self.step == self.steps
            ):
                self.save(self.step, self.metrics)
            yield Progress(self.step, self.steps, f"loss {self.metrics['loss']:.4f}", self.metrics)
            if self.stopped_early:
                return

    def _validate(self) -> None:
        result = self.validate()  # type: ignore[misc]
        self.module.train()
        if result is None:
            return
        values = result if isinstance(result, dict) else {"val_loss": float(result)}
        improved = values["val_loss"] < self.best - self.min_delta
        self.metrics.update(values, improved=improved)
        if improved:
            self.best, self.best_step, self.bad = values["val_loss"], self.step, 0
            if self.keep_best:
                self.best_state = {k: v.detach().clone() for k, v in self.module.state_dict().items()}
        else:
            self.bad += 1
            self.stopped_early = self.patience is not None and self.bad >= self.patience

    def fit(self) -> nn.Module:
        """Run to the end, load the best weights (when kept) and return the module in eval mode."""
        for _ in self.run():
            pass
        if self.best_state is not None:
            self.module.load_state_dict(self.best_state)
        return self.module.eval()

