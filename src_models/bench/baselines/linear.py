"""NLinear and DLinear (Zeng et al., AAAI 2023), shared across neurons as in POCO.

* NLinear: subtract each series' last context value, one ``Linear(C → H)``,
  add the value back.
* DLinear: split the context into a moving-average trend (kernel
  ``C // 4 * 2 + 1``, edge-replicated) and the remainder, one linear map each,
  summed.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from src_models.bench.base import TorchForecaster, multivariate, univariate
from src_models.bench.registry import register


class _NLinearNet(nn.Module):
    def __init__(self, context: int, horizon: int) -> None:
        super().__init__()
        self.linear = nn.Linear(context, horizon)

    def forward(self, x: torch.Tensor, units: torch.Tensor) -> torch.Tensor:
        s = univariate(x)
        last = s[:, -1:]
        return multivariate(self.linear(s - last) + last, x.shape[0])


class _DLinearNet(nn.Module):
    def __init__(self, context: int, horizon: int) -> None:
        super().__init__()
        self.kernel = context // 4 * 2 + 1
        self.trend = nn.Linear(context, horizon)
        self.season = nn.Linear(context, horizon)

    def forward(self, x: torch.Tensor, units: torch.Tensor) -> torch.Tensor:
        s = univariate(x)
        pad = self.kernel // 2
        padded = F.pad(s[:, None, :], (pad, pad), mode="replicate")
        trend = F.avg_pool1d(padded, self.kernel, stride=1)[:, 0]
        return multivariate(self.trend(trend) + self.season(s - trend), x.shape[0])


@register("nlinear")
class NLinear(TorchForecaster):
    """Last-value-normalised linear forecaster, one map for all neurons."""

    label = "NLinear"
    family = "linear"

    def build(self) -> nn.Module:
        return _NLinearNet(self.context, self.horizon)


@register("dlinear")
class DLinear(TorchForecaster):
    """Trend/remainder linear forecaster, one pair of maps for all neurons."""

    label = "DLinear"
    family = "linear"

    def build(self) -> nn.Module:
        return _DLinearNet(self.context, self.horizon)
