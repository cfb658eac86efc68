"""How well could CalM forecast if it predicted every future token exactly?

For each test window of the benchmark protocol, the context *and* the true
horizon are tokenized with CalM's NQ (the same causal tokenization used for
forecasting contexts), and the true horizon tokens are decoded through the
same path as CalM's rollouts (:func:`src_models.dat.forecast.decode_horizon`).
The forecasting metrics of these *oracle-token* forecasts are the ceiling of
CalM's token rollouts: the information lost by quantising ``P`` frames into
one of ``K`` codes (tokens per frame = 1 / P). The regression head is not
bound by it.

Example::

    OMP_NUM_THREADS=1 python benchmarks/bench_token_ceiling.py --suite full
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
import torch


def oracle_forecast(model, context: np.ndarray, target: np.ndarray, fs: float) -> np.ndarray:
    """Decoded true-future tokens ``(W, H, N)`` for contexts ``(W, C, N)`` and targets ``(W, H, N)``."""
    from src_models.dat.forecast import decode_horizon

    tok = model.tokenizer
    W, C, N = context.shape
    H = target.shape[1]
    n_ctx, n_new = tok.context_tokens(C, fs), tok.horizon_tokens(H, fs)
    P = model.patch_len
    full = np.concatenate([context, target], axis=1).transpose(0, 2, 1).reshape(W * N, C + H)
    zm = tok.to_model_rate(full, fs)
    need = (n_ctx + n_new) * P
    cm = tok.horizon_model_frames(C, fs)
    zm = zm[:, cm - n_ctx * P : cm - n_ctx * P + need]
    if zm.shape[1] < need:  # horizon not a whole number of tokens: pad by repeating the last frame
        zm = np.pad(zm, ((0, 0), (0, need - zm.shape[1])), mode="edge")
    tokens = torch.from_numpy(tok.tokenize_model_rate(zm)).to(model.device)
    hm = tok.horizon_model_frames(H, fs)
    frames = decode_horizon(model, tokens[:, :n_ctx], tokens[:, n_ctx:], hm)
    out = tok.from_model_rate(frames, fs, H).reshape(W, N, H)
    return out.transpose(0, 2, 1)


def main(argv: list[str] | None = None) -> int:
    from src_models.readers import read_recording
    from src_models.bench.suites import builtin_sources
    from src_models.bench.windows import make_windows
    from src_models.dat.calm import load_calm
    from src_models.metrics import forecast_metrics

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--suite", default="full", choices=("quick", "full"))
    p.add_argument("--datasets", default="sim-poco,sim-task,triplett")
    p.add_argument("--checkpoint", default=None, help="CalM bundle (default: the shipped model)")
    p.add_argument(
        "--nq",
        default=None,
        help="NQ checkpoint instead of a CalM bundle (the default tokenizer policy is used; "
        "'shipped' = resources/weights/nq)",
    )
    p.add_argument("--context", type=int, default=48)
    p.add_argument("--horizon", type=int, default=16)
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    if args.nq:
        from src_models.dat.calm import CalM
        from src_models.dat.config import DATConfig, TokenizerPolicy
        from src_models.nq.io import load_nq

        nq = load_nq(None if args.nq == "shipped" else args.nq)
        model = CalM.build(nq, DATConfig(), TokenizerPolicy()).eval()
    else:
        model = load_calm(args.checkpoint).eval()
    cfg = model.nq.config
    print(f"NQ: P = {cfg.patch_len} frames per token, K = {cfg.codebook_size} codes, "
          f"fs policy {cfg.fs_policy}")
    print("| Dataset | Oracle-token corr ×100 | Oracle-token MSE | Oracle prediction score "
          "| Copy-last corr ×100 |")
    print("|---|---|---|---|---|")
    sources, notes = builtin_sources(args.suite, args.datasets.split(","), read_recording)
    for src in sources:
        rec = src.load()
        d = make_windows(src.traces(rec), name=src.key, fs=rec.fs, context=args.context,
                         horizon=args.horizon)
        ctx, y, last = d.test.contexts(), d.test.targets(), d.test.last()
        with torch.no_grad():
            pred = np.concatenate([oracle_forecast(model, ctx[i : i + 64], y[i : i + 64], d.fs)
                                   for i in range(0, len(ctx), 64)])
        m = forecast_metrics(pred, y, last)
        c = forecast_metrics(np.repeat(last[:, None], args.horizon, 1), y, last)
        print(f"| {src.column} | {100 * m['corr']:.2f} | {m['mse']:.4f} | "
              f"{m['prediction_score']:.3f} | {100 * c['corr']:.2f} |")
    for n in notes:
        print(f"note: {n}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
