"""The one optimiser budget rule shared by every gradient-trained model: train to convergence on validation.

For NLinear, DLinear, MLP, TCN, PatchTST, iTransformer and POCO (all on
:class:`src_models.trainer.Trainer`; CalM-from-scratch via
:func:`~src_models.dat.finetune.finetune`): AdamW (betas 0.9/0.999, weight decay 1e-4, gradient
clip 5, constant learning rate); mini-batches of ``batch_size`` windows drawn with replacement (at
most ``max_neurons`` neurons), MSE on the horizon; every ``eval_every`` steps the validation MSE
(``max_val_windows`` windows) keeps the best weights, stopping after ``patience`` evaluations
without improvement (``steps`` is only a cap); the learning rate is picked from ``lr_grid`` on the
first seed; test windows are used once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, replace

import numpy as np
import torch
from torch import nn

from src_models.bench.windows import WindowSet
from src_models.device import autocast
from src_models.trainer import Trainer


@dataclass(frozen=True)
class Budget:
    """Training budget; see the module docstring for the rule.

    Attributes
    ----------
    steps, batch_size, eval_every, patience, max_val_windows, max_neurons : int
        Step cap, windows per batch, steps between validations, validations without improvement
        before stopping, validation windows, neurons per batch.
    lr_grid : tuple of float
        Learning rates tried; the best on validation is kept.
    weight_decay, grad_clip : float
        AdamW weight decay and gradient-norm clip.
    """

    steps: int = 1000
    batch_size: int = 32
    lr_grid: tuple[float, ...] = (3e-4, 1e-3, 3e-3)
    weight_decay: float = 1e-4
    eval_every: int = 100
    patience: int = 4
    grad_clip: float = 5.0
    max_val_windows: int = 512
    max_neurons: int = 512

    def __post_init__(self) -> None:
        if not self.lr_grid or self.steps < 1 or self.batch_size < 1 or self.eval_every < 1:
            raise ValueError(f"invalid training budget {self}")

    def with_lr(self, lr: float) -> Budget:
        """The same budget with the learning rate pinned (no grid)."""
        return replace(self, lr_grid=(float(lr),))

    def describe(self) -> dict[str, object]:
        """JSON-ready form for ``results.json``."""
        return {"optimizer": "AdamW(betas=(0.9, 0.999))", **asdict(self), "lr_grid": list(self.lr_grid)}


@dataclass
class TrainResult:
    """Best network of a learning-rate grid and how it was found."""

    module: nn.Module
    lr: float
    val_mse: float
    steps: int
    best_step: int


@torch.no_grad()
def evaluate_mse(
    module: nn.Module, windows: WindowSet, device: torch.device, batch: int = 64
) -> float:
    """Mean squared error of ``module`` over ``windows`` (all neurons)."""
    module.eval()
    n = windows.n_neurons
    units = torch.arange(n, device=device)
    total, count = 0.0, 0
    for i in range(0, len(windows), batch):
        idx = np.arange(i, min(i + batch, len(windows)))
        x = torch.as_tensor(windows.contexts(idx), device=device)
        y = torch.as_tensor(windows.targets(idx), device=device)
        with autocast(device):
            pred = module(x, units).float()
        total += float(((pred - y) ** 2).sum())
        count += y.numel()
    module.train()
    return total / max(count, 1)


def train_module(
    module: nn.Module,
    train: WindowSet,
    val: WindowSet,
    budget: Budget,
    lr: float,
    seed: int,
    device: torch.device,
) -> TrainResult:
    """Train one network with one learning rate under ``budget``; keep the best-validation weights."""
    rng = np.random.default_rng(seed)
    val_sub = val.subsample(budget.max_val_windows)
    n = train.n_neurons

    def loss(step: int) -> torch.Tensor:
        idx = rng.integers(0, len(train), size=budget.batch_size)
        units = np.arange(n)
        if n > budget.max_neurons:
            units = np.sort(rng.choice(n, budget.max_neurons, replace=False))
        x = torch.as_tensor(train.contexts(idx)[:, :, units], device=device)
        y = torch.as_tensor(train.targets(idx)[:, :, units], device=device)
        return torch.mean((module(x, torch.as_tensor(units, device=device)).float() - y) ** 2)

    trainer = Trainer(module.to(device), loss, steps=budget.steps, lr=lr, weight_decay=budget.weight_decay,
                      grad_clip=budget.grad_clip, validate=lambda: evaluate_mse(module, val_sub, device),
                      val_every=budget.eval_every, patience=budget.patience, keep_best=True)
    trainer.fit()
    return TrainResult(module, lr, trainer.best, trainer.step, trainer.best_step)


def fit_lr_grid(
    build: Callable[[], nn.Module],
    train: WindowSet,
    val: WindowSet,
    budget: Budget,
    seed: int,
    device: torch.device,
) -> TrainResult:
    """Train a fresh network (seeded) for every learning rate of the grid; return the best on validation."""
    best: TrainResult | None = None
    for lr in budget.lr_grid:
        torch.manual_seed(seed)
        result = train_module(build(), train, val, budget, lr, seed, device)
        if best is None or result.val_mse < best.val_mse:
            best = result
    return best  # type: ignore[return-value]  (Budget guarantees a non-empty grid)
