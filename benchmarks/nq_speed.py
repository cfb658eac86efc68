"""NQ speed and memory: tokenization throughput, achieved FLOP/s vs a dense fp32 matmul, streaming.

Measured in one run on the same threads:

* dense fp32 matmul (``1024 × 1024 @ 1024 × 1024``) FLOP/s — the machine's reference rate;
* model-only throughput: ``encode`` + ``decode`` on a ready batch of windows,
  FLOPs per window counted by ``torch.utils.flop_counter.FlopCounterMode``;
  achieved FLOP/s and its fraction of the matmul rate. Matmul and model are
  timed in interleaved rounds and the best time of each is kept, so a busy
  shared CPU slows both alike;
* end-to-end ``tokenize_traces`` throughput (z-scoring, gap filling, windows,
  metrics) on an in-memory ``(N, T)`` array, in samples (neuron-frames) per second;
* streaming: a memory-mapped ``N × T`` float32 ``.npy`` tokenized with tokens,
  reconstruction and mask written to memory-mapped outputs, for growing ``T``;
  peak anonymous memory (``RssAnon``, sampled every 20 ms; file-backed pages of
  the memory maps are excluded because the kernel can drop them at any time).

Usage::

    python benchmarks/nq_speed.py [--threads 1] [--neurons 1000] [--stream-frames 10000 100000]
        [--device cpu|cuda]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def rss_anon_mb() -> float:
    """Current anonymous resident memory of this process in MB (Linux)."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("RssAnon:"):
                return int(line.split()[1]) / 1024
    return float("nan")


class PeakMemory:
    """Samples ``RssAnon`` in a background thread; ``peak`` in MB."""

    def __init__(self, interval: float = 0.02) -> None:
        self.interval = interval
        self.peak = rss_anon_mb()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_anon_mb())
            time.sleep(self.interval)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_anon_mb())


def best_time(torch, device, fn, repeats: int) -> float:
    """Shortest wall time of ``fn()`` over ``repeats`` calls (robust to other jobs on the CPU)."""
    best = float("inf")
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        t = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - t)
    return best


def write_memmap_traces(path: Path, n: int, T: int, seed: int = 0, chunk: int = 10_000) -> None:
    """A calcium-like ``(n, T)`` float32 ``.npy`` written chunk by chunk (never whole in memory)."""
    from numpy.lib.format import open_memmap
    from scipy.signal import lfilter

    rng = np.random.default_rng(seed)
    out = open_memmap(path, mode="w+", dtype=np.float32, shape=(n, T))
    state = np.zeros((n, 1))
    for t0 in range(0, T, chunk):
        k = min(chunk, T - t0)
        spikes = (rng.random((n, k)) < 0.01) * rng.uniform(1, 3, (n, k))
        calcium, state = lfilter([1.0], [1.0, -0.95], spikes, axis=1, zi=state)
        out[:, t0:t0 + k] = calcium + 0.2 * rng.standard_normal((n, k)) + 1.0
    out.flush()
    del out


def main(argv: list[str] | None = None) -> int:
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from src_models.device import resolve_device
    from src_models.nq.io import load_nq
    from src_models.nq.tokenize import tokenize_traces

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", type=Path, default=REPO / "resources" / "weights" / "nq")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--neurons", type=int, default=1000)
    parser.add_argument("--frames", type=int, default=10_000, help="frames of the in-memory throughput test")
    parser.add_argument("--stream-frames", type=int, nargs="*", default=[10_000, 100_000])
    parser.add_argument("--batch-windows", type=int, default=4096)
    parser.add_argument("--repeats", type=int, default=8, help="interleaved timing rounds")
    parser.add_argument("--tmp", type=Path, default=None, help="folder for the memory-mapped files")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    model = load_nq(args.checkpoint, device=device)
    cfg = model.config
    report: dict = {"threads": args.threads, "device": str(device), "load_average": os.getloadavg()}

    n = 1024
    a, b = torch.randn(n, n, device=device), torch.randn(n, n, device=device)
    x = torch.randn(args.batch_windows, cfg.window, device=device)
    with FlopCounterMode(display=False) as counter:
        with torch.inference_mode():
            model.decode(model.encode(x))
    flops_per_window = counter.get_total_flops() / args.batch_windows

    def run_model() -> None:
        with torch.inference_mode():
            model.decode(model.encode(x))

    # interleaved, best of several: both rates see the same machine state
    t_mm, t_model = float("inf"), float("inf")
    for _ in range(args.repeats):
        t_mm = min(t_mm, best_time(torch, device, lambda: a @ b, 5))
        t_model = min(t_model, best_time(torch, device, run_model, 1))
    peak = 2 * n**3 / t_mm
    report["matmul_gflops"] = peak / 1e9
    report["model_mflops_per_window"] = flops_per_window / 1e6
    report["model_samples_per_s"] = args.batch_windows * cfg.window / t_model
    report["model_gflops"] = flops_per_window * args.batch_windows / t_model / 1e9
    report["fraction_of_matmul"] = report["model_gflops"] * 1e9 / peak
    print(json.dumps({k: report[k] for k in ("matmul_gflops", "model_mflops_per_window", "model_samples_per_s",
                                             "model_gflops", "fraction_of_matmul")}), flush=True)

    with tempfile.TemporaryDirectory(dir=args.tmp) as tmp:
        tmp = Path(tmp)
        write_memmap_traces(tmp / "mem.npy", args.neurons, args.frames)
        traces = np.array(np.load(tmp / "mem.npy", mmap_mode="r"))
        t = time.perf_counter()
        res = tokenize_traces(model, traces, 30.0, batch_windows=args.batch_windows)
        dt = time.perf_counter() - t
        report["tokenize_samples_per_s"] = traces.size / dt
        report["tokenize_in_memory"] = {"shape": list(traces.shape), "seconds": dt,
                                        "recon_r_median": res.metrics["recon_r_median"]}
        print(json.dumps({"tokenize_samples_per_s": report["tokenize_samples_per_s"]}), flush=True)
        del traces, res
        from numpy.lib.format import open_memmap

        report["streaming"] = []
        for T in args.stream_frames:
            src = tmp / f"stream_{T}.npy"
            write_memmap_traces(src, args.neurons, T)
            mm = np.load(src, mmap_mode="r")
            n_tok = -(-T // cfg.patch_len)
            tok = open_memmap(tmp / "tok.npy", mode="w+", dtype=np.int32, shape=(args.neurons, n_tok))
            rec = open_memmap(tmp / "rec.npy", mode="w+", dtype=np.float32, shape=(args.neurons, T))
            msk = open_memmap(tmp / "msk.npy", mode="w+", dtype=bool, shape=(args.neurons, T))
            base = rss_anon_mb()
            t = time.perf_counter()
            with PeakMemory() as mem:
                tokenize_traces(model, mm, 30.0, batch_windows=args.batch_windows,
                                tokens_out=tok, recon_out=rec, mask_out=msk)
            dt = time.perf_counter() - t
            row = {"frames": T, "neurons": args.neurons, "input_mb": args.neurons * T * 4 / 2**20,
                   "seconds": dt, "samples_per_s": args.neurons * T / dt,
                   "rss_anon_before_mb": base, "peak_rss_anon_mb": mem.peak,
                   "peak_increase_mb": mem.peak - base}
            report["streaming"].append(row)
            print(json.dumps(row), flush=True)
            del mm, tok, rec, msk
            for name in (src, tmp / "tok.npy", tmp / "rec.npy", tmp / "msk.npy"):
                name.unlink()
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
