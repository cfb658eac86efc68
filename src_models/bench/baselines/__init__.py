"""Every benchmarked model; importing this package registers them in table order."""

from __future__ import annotations

from src_models.bench.baselines import (  # noqa: F401  (registration side effects)
    naive,
    linear,
    ridge,
    mlp,
    tcn,
    patchtst,
    itransformer,
    poco,
    calm,
)

