"""POCO's univariate MLP: ``Linear(C → 1024) → ReLU → Linear(1024 → H)``, shared across neurons.

Each neuron's context is forecast on its own by the same network (no
population information); on a single real recording it is about as strong
as POCO itself (``yuvenduan/POCO``, ``Decoder`` with ``decoder_type='MLP'``).
"""

from __future__ import annotations

import torch
from torch import nn

from src_models.bench.base import TorchForecaster, multivariate, univariate
from src_models.bench.registry import register


class _MLPNet(nn.Module):
    def __init__(self, context: int, horizon: int, hidden: int) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(context, hidden), nn.ReLU(), nn.Linear(hidden, horizon))

    def forward(self, x: torch.Tensor, units: torch.Tensor) -> torch.Tensor:
        return multivariate(self.net(univariate(x)), x.shape[0])


@register("mlp")
class MLP(TorchForecaster):
    """Univariate MLP forecaster with ``hidden`` units (1024 as in POCO)."""

    label = "MLP (univariate)"

    def __init__(self, *, hidden: int = 1024, **kwargs) -> None:
        super().__init__(**kwargs)
        self.hidden = hidden

    def build(self) -> nn.Module:
        return _MLPNet(self.context, self.horizon, self.hidden)
