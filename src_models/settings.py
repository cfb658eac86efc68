"""Settings of the engine's tasks: one dataclass per task, holding the defaults and the validation.

The command line generates its options from these fields
(:func:`napari_calm.cli.options.add_settings`) and the docks read their defaults from them, so
``calm forecast``, the forecast dock and ``CalM.adapt(...).forecast()`` cannot drift apart. Each
field's ``metadata`` carries its command-line ``help`` (and ``metavar``, ``choices``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from src_models.errors import CalmError


def _opt(default: Any, help: str, **extra: Any) -> Any:
    return field(default=default, metadata={"help": help, **extra})


@dataclass(frozen=True)
class AdaptSettings:
    """Label-free adaptation of CalM to a recording (new neuron/session embeddings).

    Attributes
    ----------
    steps : int
        Embedding steps with the backbone frozen (0: no adaptation, generic embeddings).
    full_steps : int
        Then steps of the whole DAT.
    dff : {'auto', 'yes', 'no'}
        ΔF/F policy of the preparation (:mod:`src_models.preparation`).
    seed : int
        Window sampling seed.
    """

    steps: int = _opt(150, "adaptation steps of the neuron/session embeddings, backbone frozen (default 150)",
                      metavar="N")
    full_steps: int = _opt(0, "then adapt the whole backbone for N steps (default 0)", metavar="N")
    dff: str = _opt("auto", "ΔF/F of raw fluorescence: auto (strictly positive traces), yes or no (default auto)",
                    choices=("auto", "yes", "no"))
    seed: int = _opt(0, "seed of adaptation and sampling (default 0)")

    def __post_init__(self) -> None:
        if self.steps < 0 or self.full_steps < 0:
            raise CalmError("adaptation steps must be >= 0")
        if self.dff not in ("auto", "yes", "no"):
            raise CalmError(f"unknown ΔF/F policy {self.dff!r} (use auto, yes or no)")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ForecastSettings:
    """Forecasting every test window of a recording (the evaluation protocol).

    Attributes
    ----------
    context, horizon : int
        Window layout in recorded frames.
    samples : int
        Sampled rollouts per window (uncertainty band and ``sample_mean``); 0: none.
    stride : int
        Frames between test windows.
    max_val_windows : int
        Validation windows (evenly spaced) that choose the variant.
    """

    context: int = _opt(48, "context frames (default 48)", metavar="C")
    horizon: int = _opt(16, "forecast frames (default 16)", metavar="H")
    samples: int = _opt(8, "sampled rollouts per window for the band and sample_mean (default 8; 0 = none)",
                        metavar="S")
    stride: int = _opt(1, "step between test windows (default 1)", metavar="K")
    max_val_windows: int = _opt(128, "validation windows that choose the variant (default 128)", metavar="W")

    def __post_init__(self) -> None:
        if self.context < 1 or self.horizon < 1:
            raise CalmError(f"context ({self.context}) and horizon ({self.horizon}) must be positive")
        if self.samples < 0 or self.stride < 1 or self.max_val_windows < 1:
            raise CalmError("--samples must be >= 0, --stride >= 1 and --max-val-windows >= 1")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
