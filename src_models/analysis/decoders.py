"""Decoders trained inside each cross-validation fold: ridge, a small MLP and a small GRU.

Every decoder has ``fit(inputs, train_idx, y, frames) -> self`` and ``predict(inputs, idx)``
(``inputs``: :class:`~src_models.analysis.inputs.FrameInputs` or ``TrialInputs``; ``frames``
keeps inner validation blocks gap-separated); hyper-parameters use training samples only.
:class:`RidgeDecoder` picks its penalty by inner contiguous 3-fold CV and classifies ±1 one-hot
outputs by the nearest class mean (robust to unbalanced classes); :class:`MLPDecoder` (128
hidden) and :class:`GRUDecoder` (64 units) train with AdamW, early-stopped on the last
gap-separated training block, with class-weighted cross-entropy for discrete targets.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from src_models.analysis.cv import block_folds
from src_models.analysis.linear import centroids, estimator, fold_losses, nearest, ridge_path
from src_models.device import resolve_device
from src_models.errors import CalmError
from src_models.trainer import Trainer

#: ridge penalties tried, relative to the number of training samples
RIDGE_ALPHAS = tuple(float(a) for a in np.logspace(-5, 2, 8))


def one_hot(y: np.ndarray, n_classes: int) -> np.ndarray:
    out = -np.ones((len(y), n_classes))
    out[np.arange(len(y)), y] = 1.0
    return out


def _inner_folds(frames: np.ndarray, train_idx: np.ndarray, gap: int, n_folds: int) -> list:
    """Inner contiguous folds over the training samples (indices into ``train_idx``).

    Empty when the training samples cannot be split that way (too few for the gap, or samples
    sharing a frame); the caller then falls back to its defaults.
    """
    f = frames[train_idx]
    order = np.argsort(f, kind="stable")
    try:
        folds = block_folds(f[order], n_folds=n_folds, gap=gap, min_train=0)
    except CalmError:
        return []
    return [(order[fo.train], order[fo.test]) for fo in folds if len(fo.train) and len(fo.test)]


def early_stopping_split(
    frames: np.ndarray, train_idx: np.ndarray, gap: int, max_val: int
) -> tuple[np.ndarray, np.ndarray]:
    """Training and early-stopping samples: the last gap-separated inner block of ``train_idx``.

    At most ``max_val`` early-stopping samples (evenly subsampled); none when the training samples
    are fewer than 50 or cannot be split.
    """
    folds = _inner_folds(frames, train_idx, gap, 5) if len(train_idx) >= 50 else []
    if not folds:
        return train_idx, train_idx[:0]
    tr, va = train_idx[folds[-1][0]], train_idx[folds[-1][1]]
    return tr, va[:: max(1, len(va) // max_val)]


class TaskTarget:
    """What a torch decoder is trained on: standardised values, or classes with balanced weights.

    Parameters
    ----------
    kind : {'continuous', 'discrete'}
        Target kind.
    y, train_idx : ndarray
        ``(n_samples,)`` values or class indices; the samples whose statistics are used.
    n_classes : int
        Classes of a discrete target.
    device : torch.device
        Where the target tensor lives.
    """

    def __init__(
        self, kind: str, y: np.ndarray, train_idx: np.ndarray, n_classes: int, device: Any
    ) -> None:
        yt = np.asarray(y)
        self.kind = kind
        if kind == "continuous":
            self.mean, self.std = float(yt[train_idx].mean()), float(yt[train_idx].std() or 1.0)
            self.values = torch.as_tensor(
                (yt - self.mean) / self.std, dtype=torch.float32, device=device
            )
            self.d_out, self.class_weight = 1, None
        else:
            counts = np.bincount(yt[train_idx], minlength=n_classes)
            w = np.where(counts > 0, len(train_idx) / (n_classes * np.maximum(counts, 1)), 0.0)
            self.class_weight = torch.as_tensor(w, dtype=torch.float32, device=device)
            self.values = torch.as_tensor(yt, dtype=torch.long, device=device)
            self.d_out = n_classes

    def loss(self, out: torch.Tensor, idx: np.ndarray) -> torch.Tensor:
        """Mean squared error or class-weighted cross-entropy of outputs for samples ``idx``."""
        yb = self.values[idx]
        if self.kind == "continuous":
            return ((out[:, 0] - yb) ** 2).mean()
        return nn.functional.cross_entropy(out, yb, weight=self.class_weight)

    def outputs(self, out: np.ndarray) -> np.ndarray:
        """Raw network outputs in the target's units (de-standardised) or as class logits."""
        return out * self.std + self.mean if self.kind == "continuous" else out


class RidgeDecoder:
    """Ridge regression / ridge classifier on flat inputs (``estimator("ridge")``), penalty by
    inner contiguous CV.

    Parameters
    ----------
    kind : {'continuous', 'discrete'}
        Target type.
    n_classes : int
        Number of classes (discrete targets, labels ``0..n_classes-1``).
    gap : int
        Frames between inner train and validation blocks.
    alphas : sequence of float
        Penalties tried, multiplied by the number of training samples.
    """

    name = "ridge"

    def __init__(
        self, kind: str, n_classes: int = 0, gap: int = 0, alphas: tuple = RIDGE_ALPHAS
    ) -> None:
        self.kind = kind
        self.n_classes = n_classes
        self.gap = gap
        self.alphas = alphas
        self.alpha: float | None = None

    def fit(
        self, inputs: Any, train_idx: np.ndarray, y: np.ndarray, frames: np.ndarray
    ) -> RidgeDecoder:
        """Choose the penalty on inner folds (the middle one without them), then fit on all of ``train_idx``.

        Keeps the inner ``folds`` (index pairs into ``train_idx``) and the out-of-fold outputs ``oof``
        ``(n, k)`` of the chosen penalty on them (None without folds).
        """
        X = inputs.flat(train_idx).astype(np.float64)
        Y = y[train_idx].astype(np.float64) if self.kind == "continuous" else one_hot(y[train_idx], self.n_classes)
        n = len(train_idx)
        self.folds = _inner_folds(frames, train_idx, self.gap, 3) if n >= 30 else []
        alphas, best, self.oof = np.asarray(self.alphas) * n, len(self.alphas) // 2, None
        if self.folds:
            Y2 = Y.reshape(n, -1)
            path = ridge_path(X, Y2, self.folds, alphas)
            best = int(np.argmin(fold_losses(path, Y2, self.folds)))
            self.oof = path[best]
        self.model = estimator("ridge", alphas=(alphas[best],)).fit(X, Y)
        self.alpha = float(self.alphas[best])
        if self.kind == "discrete":
            self._centroids = centroids(self.model.predict(X), y[train_idx], self.n_classes)
        return self

    def decision(self, inputs: Any, idx: np.ndarray) -> np.ndarray:
        """Raw outputs ``(n, 1)`` or ``(n, n_classes)``."""
        return self.model.predict(inputs.flat(idx).astype(np.float64)).reshape(len(idx), -1)

    def predict(self, inputs: Any, idx: np.ndarray) -> np.ndarray:
        """Predicted values (continuous) or class indices (discrete)."""
        out = self.decision(inputs, idx)
        return out[:, 0] if self.kind == "continuous" else nearest(out, self._centroids)


class _MLP(nn.Module):
    def __init__(self, d_in: int, d_out: int, hidden: int, dropout: float) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(d_in, hidden), nn.GELU(), nn.Dropout(dropout), nn.Linear(hidden, d_out)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class _GRU(nn.Module):
    def __init__(self, d_in: int, d_out: int, hidden: int, dropout: float) -> None:
        super().__init__()
        self.inp = nn.Sequential(nn.Linear(d_in, hidden), nn.GELU(), nn.Dropout(dropout))
        self.gru = nn.GRU(hidden, hidden, batch_first=True)
        self.out = nn.Linear(hidden, d_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, _ = self.gru(self.inp(x))
        return self.out(h[:, -1])


@dataclass(eq=False)
class TorchDecoder:
    """The MLP and GRU decoders: standardised inputs, trained on :class:`~src_models.trainer.Trainer`.

    Parameters
    ----------
    kind : {'continuous', 'discrete'}
        Target type.
    n_classes : int
        Number of classes (discrete).
    gap : int
        Frames between the training samples and the early-stopping block.
    hidden : int
        Hidden units.
    dropout, lr, weight_decay : float
        Dropout probability and AdamW settings.
    max_epochs, patience, batch_size : int
        Epoch budget, early-stopping patience (epochs) and minibatch size.
    max_steps_per_epoch, max_val : int
        Minibatches per epoch and early-stopping samples kept (both subsampled evenly).
    seed : int
        Seed of initialisation and batching.
    device : str, optional
        Torch device (``None`` → CUDA when available).
    """

    name = "torch"
    sequence = False

    kind: str
    n_classes: int = 0
    gap: int = 0
    hidden: int = 128
    dropout: float = 0.2
    lr: float = 1e-3
    weight_decay: float = 1e-2
    max_epochs: int = 40
    patience: int = 6
    batch_size: int = 128
    max_steps_per_epoch: int = 40
    max_val: int = 1500
    seed: int = 0
    device: str | torch.device | None = None
    epochs_run: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        self.device = resolve_device(self.device)

    def _build(self, d_in: int, d_out: int) -> nn.Module:
        raise NotImplementedError

    def _x(self, inputs: Any, idx: np.ndarray) -> torch.Tensor:
        x = inputs.seq(idx) if self.sequence else inputs.flat(idx)
        return torch.as_tensor((x - self._mx) / self._sx, dtype=torch.float32, device=self.device)

    def fit(
        self, inputs: Any, train_idx: np.ndarray, y: np.ndarray, frames: np.ndarray
    ) -> TorchDecoder:
        """Train on ``train_idx`` with early stopping on its last gap-separated block."""
        torch.manual_seed(self.seed)
        rng = np.random.default_rng(self.seed)
        tr, va = early_stopping_split(frames, train_idx, self.gap, self.max_val)
        sample = inputs.seq(tr[:: max(1, len(tr) // 2000)]) if self.sequence else inputs.flat(tr)
        axes = tuple(range(sample.ndim - 1))
        self._mx = sample.mean(axis=axes).astype(np.float32)
        self._sx = np.where(sample.std(axis=axes) > 1e-6, sample.std(axis=axes), 1.0).astype(
            np.float32
        )
        self._target = target = TaskTarget(self.kind, y, tr, self.n_classes, self.device)
        net = self._build(inputs.dim if self.sequence else sample.shape[-1], target.d_out)
        net = net.to(self.device)
        n_batches = -(-min(len(tr), self.batch_size * self.max_steps_per_epoch) // self.batch_size)
        order = tr

        def loss(step: int) -> torch.Tensor:
            nonlocal order
            k = step % n_batches
            if k == 0:
                order = rng.permutation(tr)[: self.batch_size * self.max_steps_per_epoch]
            b = order[k * self.batch_size : (k + 1) * self.batch_size]
            return target.loss(net(self._x(inputs, b)), b)

        trainer = Trainer(
            net, loss, steps=self.max_epochs * n_batches, lr=self.lr, weight_decay=self.weight_decay,
            validate=(lambda: self._eval_loss(net, inputs, va, target)) if len(va) else None,
            val_every=n_batches, patience=self.patience, min_delta=1e-4, keep_best=True, amp=False,
        )
        self._net = trainer.fit()
        self.epochs_run = trainer.step // n_batches
        return self

    @torch.no_grad()
    def _eval_loss(self, net: nn.Module, inputs: Any, idx: np.ndarray, target: TaskTarget) -> float:
        net.eval()
        total = 0.0
        for i in range(0, len(idx), 1024):
            b = idx[i : i + 1024]
            total += float(target.loss(net(self._x(inputs, b)), b)) * len(b)
        return total / len(idx)

    @torch.no_grad()
    def decision(self, inputs: Any, idx: np.ndarray) -> np.ndarray:
        """Raw outputs: de-standardised predictions ``(n, 1)`` or class logits ``(n, n_classes)``."""
        outs = [
            self._net(self._x(inputs, idx[i : i + 1024])).float().cpu().numpy()
            for i in range(0, len(idx), 1024)
        ]
        return self._target.outputs(np.concatenate(outs) if outs else np.zeros((0, 1)))

    def predict(self, inputs: Any, idx: np.ndarray) -> np.ndarray:
        """Predicted values (continuous) or class indices (discrete)."""
        out = self.decision(inputs, idx)
        return out[:, 0] if self.kind == "continuous" else out.argmax(1)


class MLPDecoder(TorchDecoder):
    """One-hidden-layer MLP on the flat (lag-binned / trial-binned) inputs."""

    name = "mlp"
    sequence = False

    def _build(self, d_in: int, d_out: int) -> nn.Module:
        return _MLP(d_in, d_out, self.hidden, self.dropout)


@dataclass(eq=False)
class GRUDecoder(TorchDecoder):
    """GRU over the raw causal window (frame level) or the binned trial (trial level)."""

    name = "gru"
    sequence = True
    hidden: int = 64

    def _build(self, d_in: int, d_out: int) -> nn.Module:
        return _GRU(d_in, d_out, self.hidden, self.dropout)


#: baseline decoders by name
DECODERS = {"ridge": RidgeDecoder, "mlp": MLPDecoder, "gru": GRUDecoder}
