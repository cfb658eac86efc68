"""iTransformer (Liu et al., ICLR 2024): every neuron is one token.

Per window: each neuron's context is normalised by its own mean and std
(non-stationary normalisation, undone at the output), embedded by one
``Linear(C → d_model)`` into a token, the tokens of all neurons attend to each
other in a Transformer encoder (post-norm, GELU), and ``Linear(d_model → H)``
reads each token out as that neuron's forecast (``thuml/iTransformer``).
"""

from __future__ import annotations

import torch
from torch import nn

from src_models.bench.base import TorchForecaster
from src_models.bench.registry import register


class _ITransformerNet(nn.Module):
    def __init__(
        self, context: int, horizon: int, dim: int, heads: int, layers: int, ff: int, dropout: float
    ) -> None:
        super().__init__()
        self.embed = nn.Linear(context, dim)
        self.drop = nn.Dropout(dropout)
        layer = nn.TransformerEncoderLayer(dim, heads, ff, dropout, activation="gelu", batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers, norm=nn.LayerNorm(dim), enable_nested_tensor=False)
        self.head = nn.Linear(dim, horizon)

    def forward(self, x: torch.Tensor, units: torch.Tensor) -> torch.Tensor:
        mu = x.mean(1, keepdim=True)
        sd = torch.sqrt(x.var(1, keepdim=True, unbiased=False) + 1e-5)
        tokens = self.drop(self.embed(((x - mu) / sd).transpose(1, 2)))
        out = self.head(self.encoder(tokens)).transpose(1, 2)
        return out * sd + mu


@register("itransformer")
class ITransformer(TorchForecaster):
    """Inverted Transformer: attention across neurons, one token per neuron."""

    label = "iTransformer"

    def __init__(
        self, *, dim: int = 128, heads: int = 4, layers: int = 2, ff: int = 256, dropout: float = 0.1, **kwargs
    ) -> None:
        super().__init__(**kwargs)
        self.cfg = {"dim": dim, "heads": heads, "layers": layers, "ff": ff, "dropout": dropout}

    def build(self) -> nn.Module:
        return _ITransformerNet(self.context, self.horizon, **self.cfg)
