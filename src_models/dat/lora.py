"""Low-rank adapters (LoRA) on the DAT's attention and MLP layers, merged back into the weights.

:class:`LowRank` adds to every ``nn.Linear`` of the DAT blocks (temporal and neural attention
``qkv`` / ``out``, the MLP's two layers) a trainable update ``scale · B A`` of rank ``r``: the
layer computes ``W x + b + scale · B (A x)``. ``A`` starts Kaiming-uniform, ``B`` at zero, so the
adapted model starts exactly at the model it wraps. The adapters are parameters of those layers
(``lora_a``, ``lora_b``), so an optimizer over the DAT's trainable parameters trains them, but the
DAT's ``state_dict`` never shows them: while attached it reports the merged weight ``W + scale · B
A`` under the layer's own ``weight`` key, so best-state snapshots and checkpoints keep their keys
and need no adapter awareness. :meth:`LowRank.merge` folds the update into the weights and removes
the adapters (do not ``load_state_dict`` into the DAT before that).
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

#: names of the adapter parameters on a wrapped layer
ADAPTER_NAMES = ("lora_a", "lora_b")


class LowRank:
    """Rank-``rank`` adapters attached to the linear layers of ``dat.blocks``.

    Parameters
    ----------
    dat : nn.Module
        The DAT (its ``blocks`` hold the wrapped layers).
    rank : int
        Rank of each update.
    scale : float
        Multiplier of ``B A``.
    seed : int
        Seed of ``A``'s initialisation.
    """

    def __init__(self, dat: nn.Module, rank: int = 8, scale: float = 1.0, seed: int = 0) -> None:
        if rank < 1:
            raise ValueError(f"adapter rank must be >= 1, got {rank}")
        self.scale = scale
        self.layers = [m for m in dat.blocks.modules() if isinstance(m, nn.Linear)]
        self._handles: list[Any] = []
        gen = torch.Generator().manual_seed(seed)
        for layer in self.layers:
            w = layer.weight
            bound = 1.0 / math.sqrt(w.shape[1])  # Kaiming-uniform with a = sqrt(5), as nn.Linear
            a = (torch.rand(rank, w.shape[1], generator=gen) * 2 - 1) * bound
            layer.register_parameter("lora_a", nn.Parameter(a.to(device=w.device, dtype=w.dtype)))
            layer.register_parameter("lora_b", nn.Parameter(torch.zeros(w.shape[0], rank, device=w.device,
                                                                        dtype=w.dtype)))
            self._handles.append(layer.register_forward_hook(self._forward))
            self._handles.append(layer.register_state_dict_post_hook(
                lambda mod, state, prefix, _meta: self._state_dict(mod, state, prefix)))

    def _update(self, layer: nn.Linear) -> torch.Tensor:
        return self.scale * (layer.lora_b @ layer.lora_a)

    def _forward(self, layer: nn.Module, args: tuple[torch.Tensor, ...], out: torch.Tensor) -> torch.Tensor:
        return out + self.scale * F.linear(F.linear(args[0], layer.lora_a), layer.lora_b)

    def _state_dict(self, layer: nn.Module, state: dict[str, Any], prefix: str) -> None:
        for name in ADAPTER_NAMES:
            state.pop(prefix + name, None)
        state[prefix + "weight"] = (layer.weight + self._update(layer)).detach()

    @torch.no_grad()
    def merge(self) -> None:
        """Fold ``scale · B A`` into every wrapped weight and remove the adapters (idempotent)."""
        for h in self._handles:
            h.remove()
        self._handles = []
        for layer in self.layers:
            if hasattr(layer, "lora_a"):
                layer.weight += self._update(layer)
                for name in ADAPTER_NAMES:
                    delattr(layer, name)
