"""A stable vector autoregression for the forecasting tests."""

from __future__ import annotations

import numpy as np


def var1(n: int, T: int, seed: int) -> np.ndarray:
    """``(n, T)`` float64 samples of ``x_t = A x_{t-1} + 0.3 ε`` with ``A`` 0.9 × a random rotation."""
    rng = np.random.default_rng(seed)
    A = 0.9 * np.linalg.qr(rng.standard_normal((n, n)))[0]
    x = np.zeros((n, T))
    for t in range(1, T):
        x[:, t] = A @ x[:, t - 1] + 0.3 * rng.standard_normal(n)
    return x
