"""Loader throughput and peak memory of the DAT token corpus at the CalM paper's scale.

The paper pretrains on ~286 sessions and ~274,000 neurons. This script writes a
corpus of that shape — 300 sessions, neuron counts drawn around 900
(270,000 in total), ``--tokens`` tokens per session, uint16, time-major,
memory-mapped — and measures how many training windows per second
:class:`src_models.dat.corpus.WindowSampler` delivers (windows of
``--window`` tokens, ``--max-neurons`` neurons subsampled per window, batches
of ``--batch``), with the resident memory of the process before and after.
No model is trained: the loader's cost does not depend on what the tokens
say, so their values are random codes below K; the sessions' sizes,
layout and the sampler are the real ones.

The corpus files are first evicted from the page cache (``posix_fadvise``),
so the first pass reads from disk ("cold"); the second pass repeats the same
windows from the page cache. Memory is reported as anonymous (the process's
own arrays) and file-backed (mapped page cache, reclaimable by the kernel).
It also measures a DDP rank's view (rank 0 of ``--world`` ranks samples only
its shard of the sessions).

Usage::

    python benchmarks/dat_loader.py --root /tmp/calm-paper-corpus [--keep]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def memory_mb() -> dict[str, int]:
    """Resident memory of this process in MB (Linux /proc/self/status).

    ``rss`` = ``anon`` (private memory: arrays, the model) + ``file`` (pages of
    memory-mapped files, i.e. the page cache, which the kernel can drop);
    ``peak`` is the high-water mark of ``rss``.
    """
    keys = {"VmRSS": "rss", "RssAnon": "anon", "RssFile": "file", "VmHWM": "peak"}
    out = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key = line.split(":")[0]
        if key in keys:
            out[keys[key]] = int(line.split()[1]) // 1024
    return out


def write_corpus(root: Path, n_sessions: int, n_neurons: int, n_tokens: int, K: int, seed: int):
    """A paper-scale corpus of random codes (one session in memory at a time)."""
    from src_models.dat.corpus import TokenCorpus

    rng = np.random.default_rng(seed)
    sizes = rng.normal(1.0, 0.35, n_sessions).clip(0.2, 2.5)
    sizes = np.maximum(50, np.round(sizes / sizes.sum() * n_neurons)).astype(int)
    sizes[-1] += n_neurons - sizes.sum()

    def sessions():
        for i, n in enumerate(sizes):
            yield {"name": f"sim{i:03d}", "source": f"simulated session {i}", "fs": 30.0,
                   "tokens": rng.integers(0, K, size=(int(n), n_tokens), dtype=np.uint16),
                   "val_fraction": 0.1, "frames": [0, n_tokens * 8]}

    return TokenCorpus.create(root, sessions(), patch_len=8, codebook_size=K)


def evict(root: Path) -> None:
    """Drop the corpus files from the page cache (``posix_fadvise(DONTNEED)``; only these files)."""
    import os

    for f in root.iterdir():
        fd = os.open(f, os.O_RDONLY)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


def measure(sampler, n_batches: int) -> float:
    """Windows per second over ``n_batches`` batches (steps ``0 .. n_batches - 1``)."""
    t = time.perf_counter()
    for s in range(n_batches):
        sampler.batch(s)
    return n_batches * sampler.batch_size / (time.perf_counter() - t)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--root", type=Path, default=Path("/tmp/calm-paper-corpus"))
    p.add_argument("--sessions", type=int, default=300)
    p.add_argument("--neurons", type=int, default=270_000)
    p.add_argument("--tokens", type=int, default=4096, help="tokens per session (x8 frames)")
    p.add_argument("--codebook", type=int, default=512)
    p.add_argument("--window", type=int, default=16)
    p.add_argument("--max-neurons", type=int, default=256)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--batches", type=int, default=200)
    p.add_argument("--world", type=int, default=8)
    p.add_argument("--keep", action="store_true", help="keep the corpus on disk afterwards")
    args = p.parse_args()

    import torch

    torch.set_num_threads(1)
    from src_models.dat.corpus import TokenCorpus, WindowSampler

    mem0 = memory_mb()
    t = time.perf_counter()
    if not (args.root / "index.json").is_file():
        write_corpus(args.root, args.sessions, args.neurons, args.tokens, args.codebook, 0)
    write_s = time.perf_counter() - t
    disk = sum(f.stat().st_size for f in args.root.iterdir())
    evict(args.root)
    corpus = TokenCorpus(args.root)
    mem_open = memory_mb()
    common = dict(window_tokens=args.window, max_neurons=args.max_neurons, batch_size=args.batch, seed=0,
                  with_values=False)
    full = WindowSampler(corpus, "train", **common)
    w_cold = measure(full, args.batches)  # pages come from disk
    mem_after = memory_mb()
    w_full = measure(full, args.batches)  # same windows again: from the page cache
    shard = WindowSampler(corpus, "train", rank=0, world=args.world, **common)
    w_shard = measure(shard, args.batches)
    result = {
        "sessions": len(corpus.sessions),
        "neurons": corpus.n_neurons_total,
        "tokens_per_session": args.tokens,
        "frames_per_session": args.tokens * corpus.patch_len,
        "disk_gb": round(disk / 1e9, 3),
        "write_seconds": round(write_s, 1),
        "window": [args.max_neurons, args.window],
        "batch": args.batch,
        "windows_per_s_cold_cache": round(w_cold, 1),
        "windows_per_s": round(w_full, 1),
        "windows_per_s_rank0_of_world": [args.world, round(w_shard, 1)],
        "tokens_per_s": round(w_full * args.window * args.max_neurons),
        "memory_mb": {"start": mem0, "corpus_open": mem_open, "after_sampling": mem_after},
    }
    print(json.dumps(result, indent=1))
    if not args.keep:
        shutil.rmtree(args.root, ignore_errors=True)


if __name__ == "__main__":
    main()
