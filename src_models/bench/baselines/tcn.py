"""Dilated causal temporal convolutional network (Bai, Kolter & Koltun 2018), channel-independent.

Each neuron's context is a one-channel sequence. Residual blocks of two
causal dilated convolutions (kernel 3, dilations 1, 2, 4, 8: a receptive
field of 61 frames covers a 48-frame context), 16 channels (kept small so
that it trains on a 2-core CPU in the benchmark budget), ReLU and dropout;
the hidden state at the last context frame is mapped to the horizon by a
linear head. This is the classic TCN, not POCO's ModernTCN.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from src_models.bench.base import TorchForecaster, multivariate, univariate
from src_models.bench.registry import register


class _CausalBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, kernel: int, dilation: int, dropout: float) -> None:
        super().__init__()
        self.pad = (kernel - 1) * dilation
        self.conv1 = nn.Conv1d(c_in, c_out, kernel, dilation=dilation, padding=self.pad)
        self.conv2 = nn.Conv1d(c_out, c_out, kernel, dilation=dilation, padding=self.pad)
        self.drop = nn.Dropout(dropout)
        self.skip = nn.Conv1d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        L = x.shape[-1]
        h = self.drop(F.relu(self.conv1(x)[..., :L]))  # symmetric padding, cropped → causal
        h = self.drop(F.relu(self.conv2(h)[..., :L]))
        return F.relu(h + self.skip(x))


class _TCNNet(nn.Module):
    def __init__(self, horizon: int, channels: int, levels: int, kernel: int, dropout: float) -> None:
        super().__init__()
        blocks = [_CausalBlock(channels if i else 1, channels, kernel, 2**i, dropout) for i in range(levels)]
        self.blocks = nn.Sequential(*blocks)
        self.head = nn.Linear(channels, horizon)

    def forward(self, x: torch.Tensor, units: torch.Tensor) -> torch.Tensor:
        s = univariate(x)[:, None, :]
        h = self.blocks(s)[:, :, -1]
        return multivariate(self.head(h), x.shape[0])


@register("tcn")
class TCN(TorchForecaster):
    """Dilated causal TCN shared across neurons; linear head on the last frame's hidden state."""

    label = "TCN"

    def __init__(
        self, *, channels: int = 16, levels: int = 4, kernel: int = 3, dropout: float = 0.1, **kwargs
    ) -> None:
        super().__init__(**kwargs)
        self.channels, self.levels, self.kernel, self.dropout = channels, levels, kernel, dropout

    def build(self) -> nn.Module:
        return _TCNNet(self.horizon, self.channels, self.levels, self.kernel, self.dropout)
