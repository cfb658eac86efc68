"""How the DAT's inference cost grows with neurons N and time T, and the largest N that fits in 24 GB.

Part 1 (time): forward passes of the shipped architecture (random weights:
cost does not depend on their values) on one window of N neurons x T tokens,
single-threaded, N swept at T = 8 (the forecasting window: 6 context + 2
generated tokens) and T swept at N = 256. Each point is compared with two
cost models fitted to the measurements by least squares:

* factorised (the DAT): ``k + a·N·T + b·N·T² + c·T·N²`` (per-call overhead,
  token-wise layers, per-neuron temporal attention, per-step neural attention);
* joint attention over all ``N·T`` tokens: ``k + a·N·T + b·(N·T)²``.

The sharpest test is a set of windows with the same number of tokens
``N·T = 16,384`` (N = 2048, 1024, 256, 64 at T = 8, 16, 64, 256): joint
attention would cost the same for all of them, the factorised DAT does not.

Part 2 (memory): peak resident memory of a fresh process that runs the
forecasting prefill (T = 8) for growing N; a straight line through the
points extrapolates the largest N for 24 GB (SDPA's fused CPU kernel never
materialises the N x N attention matrix, so memory grows linearly).

Usage::

    python benchmarks/dat_scaling.py [--config resources/configs/dat_default.json] [--quick]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def build(config: Path, n_rows: int = 1):
    import torch

    from src_models.dat.config import DATConfig, read_config_file
    from src_models.dat.model import DualAxisTransformer

    cfg = DATConfig.from_dict(read_config_file(config).get("model", {}))
    cfg.n_neurons = n_rows
    torch.manual_seed(0)
    return DualAxisTransformer(cfg).eval()


def time_forward(model, N: int, T: int, repeats: int) -> float:
    """Median seconds of one no-grad forward (hidden states + next-token logits of the last step)."""
    import torch

    tok = torch.randint(0, model.cfg.codebook_size, (1, N, T))
    nid = torch.zeros(1, N, dtype=torch.long)
    sid = torch.zeros(1, dtype=torch.long)
    times = []
    with torch.no_grad():
        model.encode(tok, nid, sid)
        for _ in range(repeats):
            t = time.perf_counter()
            h = model.encode(tok, nid, sid)
            model.head(h[:, :, -1])
            times.append(time.perf_counter() - t)
    return float(np.median(times))


def fit(design: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, float]:
    """Non-negative least squares fit (relative error weighting); returns coefficients and max rel. error."""
    from scipy.optimize import nnls

    A = design / y[:, None]
    coef, _ = nnls(A, np.ones_like(y))
    pred = design @ coef
    return coef, float(np.max(np.abs(pred - y) / y))


def memory_child(config: str, N: int, T: int) -> None:
    """Run in a fresh process: prefill N x T and print the peak RSS in MB."""
    import torch

    torch.set_num_threads(2)
    model = build(Path(config))
    tok = torch.randint(0, model.cfg.codebook_size, (1, N, T))
    with torch.no_grad():
        h, _ = model.encode_cached(tok, torch.zeros(1, N, dtype=torch.long), torch.zeros(1, dtype=torch.long), None)
        model.head(h[:, :, -1])
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            print(int(line.split()[1]) / 1024)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", type=Path, default=REPO / "resources" / "configs" / "dat_default.json")
    p.add_argument("--quick", action="store_true", help="fewer points (smoke test)")
    p.add_argument("--child", nargs=2, type=int, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        memory_child(str(args.config), *args.child)
        return
    import torch

    torch.set_num_threads(1)
    model = build(args.config)
    Ns = [32, 64, 128, 256, 512, 1024, 2048] if not args.quick else [64, 256, 1024]
    Ts = [4, 8, 16, 32, 64, 128, 256] if not args.quick else [8, 32, 128]
    rows = []
    for N in Ns:
        rows.append((N, 8, time_forward(model, N, 8, 3)))
    for T in Ts:
        rows.append((256, T, time_forward(model, 256, T, 3)))
    if not args.quick:  # same N·T = 16,384 as (2048, 8) and (256, 64)
        rows += [(1024, 16, time_forward(model, 1024, 16, 3)), (64, 256, time_forward(model, 64, 256, 3))]
    arr = np.array(rows, float)
    N, T, y = arr[:, 0], arr[:, 1], arr[:, 2]

    def fact_terms(n, t):
        return np.stack([np.ones_like(n * t), n * t, n * t**2, t * n**2], -1)

    def joint_terms(n, t):
        return np.stack([np.ones_like(n * t), n * t, (n * t) ** 2], -1)

    fact, err_f = fit(fact_terms(N, T), y)
    joint, err_j = fit(joint_terms(N, T), y)
    table = [
        {"N": int(n), "T": int(t), "ms": round(1e3 * s, 2),
         "factorised_ms": round(1e3 * float(fact_terms(np.float64(n), np.float64(t)) @ fact), 2),
         "joint_ms": round(1e3 * float(joint_terms(np.float64(n), np.float64(t)) @ joint), 2)}
        for n, t, s in rows
    ]
    mem = []
    for n in ([1000, 4000, 8000, 16000] if not args.quick else [1000, 4000]):
        out = subprocess.run([sys.executable, __file__, "--config", str(args.config), "--child", str(n), "8"],
                             capture_output=True, text=True, check=True)
        mem.append((n, float(out.stdout.strip().splitlines()[-1])))
    m = np.array(mem)
    slope, intercept = np.polyfit(m[:, 0], m[:, 1], 1)
    n_max = int((24 * 1024 - intercept) / slope)
    result = {
        "config": str(args.config.relative_to(REPO) if args.config.is_relative_to(REPO) else args.config),
        "d_model": model.cfg.d_model, "n_layers": model.cfg.n_layers,
        "threads": 1,
        "points": table,
        "max_relative_error": {"factorised k + N·T + N·T² + T·N²": round(err_f, 3),
                               "joint k + N·T + (N·T)²": round(err_j, 3)},
        "same_NT_16384_ms": {f"N={int(n)} T={int(t)}": round(1e3 * s, 1) for n, t, s in rows if n * t == 16384},
        "memory_T8": [{"N": int(n), "peak_mb": round(v)} for n, v in mem],
        "memory_mb_per_neuron": round(float(slope), 4),
        "largest_N_in_24GB_T8": n_max,
    }
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
