"""The one training loop (src_models.trainer): early stopping keeps the best weights, cancel, resume."""

from __future__ import annotations

import threading

import pytest
import torch
from torch import nn

from src_models.trainer import Trainer, load_optimizer_tensors, optimizer_tensors, param_groups, warmup_cosine


def _net() -> nn.Linear:
    torch.manual_seed(0)
    return nn.Linear(3, 1)


def _loss(net: nn.Module):
    x = torch.randn(64, 3, generator=torch.Generator().manual_seed(1))
    y = x @ torch.tensor([[1.0], [-2.0], [0.5]])
    return lambda step: ((net(x) - y) ** 2).mean()


def test_early_stopping_keeps_the_best_weights():
    net = _net()
    scores = iter([3.0, 1.0, 2.0, 2.5, 0.5])  # best at the 2nd validation, then two worse ones
    snapshots = []

    def validate() -> float:
        snapshots.append(net.weight.detach().clone())
        return next(scores)

    trainer = Trainer(net, _loss(net), steps=50, lr=1e-2, validate=validate, val_every=5, patience=2, keep_best=True)
    trainer.fit()
    assert trainer.step == 20 and trainer.stopped_early  # stopped after validations 3 and 4
    assert (trainer.best, trainer.best_step) == (1.0, 10)
    assert torch.equal(net.weight, snapshots[1]) and not torch.equal(net.weight, snapshots[-1])
    assert not net.training


def test_min_delta_and_no_patience_run_the_whole_budget():
    net = _net()
    trainer = Trainer(net, _loss(net), steps=12, lr=1e-2, validate=lambda: 1.0, val_every=4, min_delta=1e-4)
    records = list(trainer.run())
    assert [r.step for r in records] == list(range(1, 13)) and records[-1].total == 12
    assert [r.metrics.get("improved") for r in records if "val_loss" in r.metrics] == [True, False, False]
    assert trainer.best_step == 4 and not trainer.stopped_early


def test_cancel_stops_before_the_next_step():
    net = _net()
    stop = threading.Event()
    trainer = Trainer(net, _loss(net), steps=100, lr=1e-2, cancel=stop)
    for record in trainer.run():
        if record.step == 7:
            stop.set()
    assert trainer.cancelled and trainer.step == 7
    calls = iter([False, False, True])
    trainer = Trainer(_net(), _loss(net), steps=100, lr=1e-2, cancel=lambda: next(calls))
    trainer.fit()
    assert trainer.cancelled and trainer.step == 2


def test_resume_continues_the_step_count_and_matches_an_uninterrupted_run():
    schedule = warmup_cosine(1e-2, 20, 3, 0.1)
    saved = []
    net = _net()
    full = Trainer(net, _loss(net), steps=20, lr=schedule, grad_clip=1.0,
                   save=lambda step, m: saved.append(step), checkpoint_every=8)
    full.fit()
    assert saved == [8, 16, 20]

    first = _net()
    stop = threading.Event()
    part = Trainer(first, _loss(first), steps=20, lr=schedule, grad_clip=1.0, cancel=stop)
    for record in part.run():
        if record.step == 9:
            stop.set()
    weights = {k: v.clone() for k, v in first.state_dict().items()}
    moments = optimizer_tensors(part.optimizer, prefix="train.")

    second = _net()
    second.load_state_dict(weights)
    resumed = Trainer(second, _loss(second), steps=20, lr=schedule, grad_clip=1.0, start=9)
    assert load_optimizer_tensors(resumed.optimizer, moments, prefix="train.")
    steps = [r.step for r in resumed.run()]
    assert steps == list(range(10, 21))
    assert torch.equal(second.weight, net.weight) and torch.equal(second.bias, net.bias)
    assert not load_optimizer_tensors(torch.optim.AdamW(nn.Linear(2, 1).parameters()), moments, prefix="train.")


def test_schedule_starts_at_its_first_global_step():
    lr = warmup_cosine(1.0, 10, 2, 0.1, first=5)  # a phase that starts at global step 5
    assert (lr(5), lr(6)) == (0.5, 1.0) and lr(15) == pytest.approx(0.1)
    net = _net()
    records = list(Trainer(net, _loss(net), steps=8, start=5, lr=lr).run())
    assert [r.metrics["lr"] for r in records] == [lr(5), lr(6), lr(7)]


def test_param_groups_split_decay():
    net = nn.Sequential(nn.Linear(3, 2), nn.LayerNorm(2))
    groups = param_groups(net, 0.1)
    assert [len(g["params"]) for g in groups] == [1, 3]
    assert [g["weight_decay"] for g in groups] == [0.1, 0.0]
    assert [len(g["params"]) for g in param_groups(net, 0.1, no_decay=("0.",))] == [4]
    with pytest.raises(StopIteration):
        next(iter(Trainer(net, lambda s: net[0].weight.sum(), steps=1, lr=1.0, cancel=lambda: True).run()))
