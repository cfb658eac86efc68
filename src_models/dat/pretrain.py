"""Self-supervised pretraining of CalM's DAT: next-token cross-entropy over NQ token grids.

One entry point for one CPU, one GPU or many (``torchrun``): rank 0 tokenizes the sessions once
into ``OUT/corpus`` (:mod:`src_models.dat.corpus`); every step draws ``batch_size`` windows per
rank for :class:`src_models.trainer.Trainer`; with ``WORLD_SIZE > 1`` the DAT runs under
DistributedDataParallel (NCCL on GPUs, gloo on CPUs); bf16 autocast on GPU. Rank 0 validates
every ``val_every`` steps on each session's held-out tail and atomically writes ``OUT/best``
(weights) and ``OUT/last`` (weights, AdamW moments, step). Re-running resumes from ``OUT/last``;
windows are a pure function of ``(seed, rank, step)``, so resumed runs draw the same batches.
"""

from __future__ import annotations

import math
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from src_models.checkpoint import recover_checkpoint
from src_models.dat.calm import CalM, load_calm, save_calm
from src_models.dat.config import DATConfig, TokenizerPolicy, TrainConfig
from src_models.dat.corpus import Batch, TokenCorpus, WindowSampler, tokenize_sessions
from src_models.dat.data import DataSource
from src_models.dat.model import next_token_loss, patch_anchors, regression_loss
from src_models.trainer import Trainer, load_optimizer_tensors, optimizer_tensors, param_groups, warmup_cosine
from src_models.device import autocast, resolve_device
from src_models.errors import CalmError
from src_models.outputs import dumps


def _stderr(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# -- distributed ----------------------------------------------------------------------------
class DistInfo:
    """Rank, world size and device of this process (``torchrun`` sets the environment)."""

    def __init__(self, device: str | torch.device | None) -> None:
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        self.local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        dev = resolve_device(device)
        if self.world > 1 and dev.type == "cuda":
            torch.cuda.set_device(self.local_rank)
            dev = torch.device("cuda", self.local_rank)
        self.device = dev
        self.enabled, self.main = self.world > 1, self.rank == 0
        self.owns_group = False

    def init(self) -> None:
        if self.enabled and not torch.distributed.is_initialized():
            backend = "nccl" if self.device.type == "cuda" else "gloo"
            torch.distributed.init_process_group(backend=backend)
            self.owns_group = True

    def barrier(self) -> None:
        if self.enabled:
            torch.distributed.barrier(device_ids=[self.local_rank] if self.device.type == "cuda" else None)

    def close(self) -> None:
        if self.owns_group and torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()


# -- corpus ---------------------------------------------------------------------------------
def build_corpus(
    sources: Sequence[DataSource],
    tokenizer_model: CalM,
    root: Path,
    *,
    val_fraction: float,
    store_values: bool = True,
    log: Callable[[str], None] = _stderr,
) -> TokenCorpus:
    """Tokenize ``sources`` into a corpus at ``root`` (reused when it already holds the same sources)."""
    specs = [s.spec for s in sources]
    index = root / "index.json"
    if index.is_file():
        corpus = TokenCorpus(root)
        if corpus.meta.get("sources") == specs and corpus.meta.get("val_fraction") == val_fraction:
            return corpus
        raise CalmError(
            "this output folder was started with other data (delete it or choose another --out)", root
        )

    def items():
        for k, src in enumerate(sources):
            t0 = time.time()
            item = src.load()
            if item["traces"].shape[1] < 2 * tokenizer_model.patch_len:
                raise CalmError(f"only {item['traces'].shape[1]} frames in the chosen range", src.spec)
            log(f"tokenizing {k + 1}/{len(sources)} {src.spec}: {item['traces'].shape[0]} neurons x "
                f"{item['traces'].shape[1]} frames")
            yield item
            log(f"  done in {time.time() - t0:.1f} s")

    tok = tokenizer_model.tokenizer
    sessions = tokenize_sessions(items(), tok.tokenize, val_fraction=val_fraction, store_values=store_values)
    meta = {
        "sources": specs,
        "val_fraction": val_fraction,
        "tokenizer": tokenizer_model.policy.to_dict(),
        "nq": tokenizer_model.nq.config.to_dict(),
    }
    return TokenCorpus.create(
        root,
        sessions,
        patch_len=tokenizer_model.patch_len,
        codebook_size=int(tokenizer_model.nq.config.codebook_size),
        meta=meta,
    )


def model_for_corpus(nq: torch.nn.Module, dat_cfg: DATConfig, policy: TokenizerPolicy, corpus: TokenCorpus) -> CalM:
    """A fresh CalM with one embedding row per corpus neuron and session (plus the generic rows)."""
    cfg = DATConfig.from_dict(dat_cfg.to_dict())
    cfg.n_neurons = 1 + corpus.n_neurons_total
    cfg.n_sessions = 1 + len(corpus.sessions)
    model = CalM.build(nq, cfg, policy)
    means, stds = [np.zeros(1, np.float32)], [np.ones(1, np.float32)]
    sessions = []
    for i, s in enumerate(corpus.sessions):
        m, sd = corpus.norm(i)
        means.append(m)
        stds.append(sd)
        sessions.append(
            {
                "name": s.name,
                "source": s.source,
                "fs": s.fs,
                "n_neurons": s.n_neurons,
                "neuron_offset": s.neuron_offset,
                "session_row": s.session_row,
                "frames": s.frames,
                "fingerprint": s.fingerprint,
            }
        )
    model.sessions = sessions
    model.norm_mean = torch.from_numpy(np.concatenate(means))
    model.norm_std = torch.from_numpy(np.concatenate(stds))
    return model


# -- steps ----------------------------------------------------------------------------------
def batch_loss(
    dat: torch.nn.Module, batch: Batch, reg_weight: float, device: torch.device
) -> tuple[torch.Tensor, dict[str, float]]:
    """Loss ``CE + reg_weight * MSE`` of one batch and its parts."""
    b = batch.to(device)
    cfg = dat.module.cfg if hasattr(dat, "module") else dat.cfg
    use_reg = b.values is not None and reg_weight > 0 and cfg.reg_patches > 0
    anchors = patch_anchors(b.values, cfg.patch_len) if use_reg else None
    with autocast(device):
        out = dat(b.tokens, b.neuron_ids, b.session_ids, b.mask, anchors, masked=b.masked)
    ce, acc = next_token_loss(out.logits, b.tokens, b.mask)
    loss = ce
    parts = {"ce": float(ce.detach()), "acc": float(acc)}
    if out.regression is not None:
        mse = regression_loss(out.regression.float(), b.values, cfg.patch_len, cfg.reg_patches, b.mask)
        loss = loss + reg_weight * mse
        parts["mse"] = float(mse.detach())
    parts["loss"] = float(loss.detach())
    return loss, parts


@torch.no_grad()
def evaluate(dat: torch.nn.Module, batches: list[Batch], reg_weight: float, device: torch.device) -> dict[str, float]:
    """Mean loss parts over fixed batches (weighted by real neurons)."""
    was = dat.training
    dat.eval()
    sums: dict[str, float] = {}
    total = 0.0
    for b in batches:
        _, parts = batch_loss(dat, b, reg_weight, device)
        w = float(b.mask.sum())
        for k, v in parts.items():
            sums[k] = sums.get(k, 0.0) + v * w
        total += w
    dat.train(was)
    return {f"val_{k}": v / max(total, 1.0) for k, v in sums.items()}


# -- entry point ----------------------------------------------------------------------------
def pretrain(
    sources: Sequence[DataSource],
    out: str | Path,
    *,
    nq: torch.nn.Module,
    model_config: DATConfig | dict[str, Any] | None = None,
    train_config: TrainConfig | dict[str, Any] | None = None,
    tokenizer: TokenizerPolicy | dict[str, Any] | None = None,
    max_steps: int | None = None,
    seed: int = 0,
    device: str | torch.device | None = None,
    store_values: bool = True,
    log: Callable[[str], None] = _stderr,
    on_finish: Callable[[CalM, int], None] | None = None,
) -> Path:
    """Pretrain (or resume pretraining) CalM on ``sources``; returns ``OUT/best``.

    Parameters
    ----------
    sources : sequence of DataSource
        Recordings and the time range of each to use.
    out : str or Path
        Output folder: ``corpus/``, ``best/``, ``last/`` and ``history.jsonl``.
    nq : NeuralQuantizer
        The frozen tokenizer (e.g. ``load_nq()``).
    model_config, train_config, tokenizer : config or dict, optional
        Architecture, optimisation and tokenization (defaults otherwise). On
        resume the architecture and tokenizer stored in ``OUT/last`` win.
    max_steps : int, optional
        Overrides ``train_config.max_steps``.
    seed : int
        Initialisation and window-sampling seed.
    device : str, optional
        ``cpu``, ``cuda``, ``auto`` (default: CUDA when available).
    store_values : bool
        Keep z-scored frames in the corpus (the regression head needs them).
    log : callable
        Receives progress lines (rank 0 only).
    on_finish : callable, optional
        Called on every rank with ``(model, rank)`` once training ends (to
        export or inspect the in-memory weights).

    Returns
    -------
    Path
        ``OUT/best``, the checkpoint with the lowest validation loss
        (``OUT/last`` when there is no validation data).
    """
    out = Path(out)
    tcfg = train_config if isinstance(train_config, TrainConfig) else TrainConfig.from_dict(train_config)
    if max_steps is not None:
        tcfg.max_steps = int(max_steps)
    mcfg = model_config if isinstance(model_config, DATConfig) else DATConfig.from_dict(model_config)
    policy = tokenizer if isinstance(tokenizer, TokenizerPolicy) else TokenizerPolicy.from_dict(tokenizer)
    if not sources:
        raise CalmError("no training data given")
    dist = DistInfo(device)
    dist.init()
    say = log if dist.main else (lambda msg: None)
    try:
        device = dist.device
        out.mkdir(parents=True, exist_ok=True)
        last_dir, best_dir = out / "last", out / "best"
        resume = recover_checkpoint(last_dir)
        extra: dict[str, torch.Tensor] = {}
        state: dict[str, Any] = {}
        nq = nq.to("cpu").eval()

        if dist.main:
            tok_model = load_calm(last_dir) if resume else CalM.build(nq, DATConfig.from_dict(mcfg.to_dict()),
                                                                        policy)
            build_corpus(sources, tok_model, out / "corpus", val_fraction=tcfg.val_fraction,
                         store_values=store_values, log=say)
        dist.barrier()
        corpus = TokenCorpus(out / "corpus")

        torch.manual_seed(seed)
        if resume:
            model, extra, meta = load_calm(last_dir, with_extra=True)
            state = dict(meta.get("state", {}))
            say(f"resuming from {last_dir} at step {state.get('step', 0)}")
        else:
            mcfg.mask_embedding = tcfg.mask_neurons > 0
            model = model_for_corpus(nq, mcfg, policy, corpus)
        model = model.to(device)
        dat = model.dat
        n_params = sum(p.numel() for p in dat.parameters())
        say(f"corpus: {len(corpus.sessions)} sessions, {corpus.n_neurons_total} neurons; "
            f"DAT: {n_params:,} parameters; device {device}; world size {dist.world}")

        with_values = corpus.has_values and dat.reg_head is not None and tcfg.reg_weight > 0
        engine: torch.nn.Module = dat
        if dist.enabled:
            from torch.nn.parallel import DistributedDataParallel

            engine = DistributedDataParallel(
                dat,
                device_ids=[device.index] if device.type == "cuda" else None,
                find_unused_parameters=dat.reg_head is not None and not with_values,  # head idle w/o values
            )

        sampling = dict(window_tokens=tcfg.window_tokens, max_neurons=tcfg.max_neurons,
                        batch_size=tcfg.batch_size, seed=seed, with_values=with_values)
        sampler = WindowSampler(corpus, "train", rank=dist.rank, world=dist.world, id_dropout=tcfg.id_dropout,
                                mask_neurons=tcfg.mask_neurons, **sampling)
        val_batches: list[Batch] = []
        if dist.main and tcfg.val_fraction > 0:
            try:
                val_batches = WindowSampler(corpus, "val", **sampling).fixed_batches(tcfg.val_windows)
            except CalmError as exc:
                say(f"no validation: {exc}")

        trainer = Trainer(
            dat, lambda k: batch_loss(engine, sampler.batch(k), tcfg.reg_weight, device), steps=tcfg.max_steps,
            lr=warmup_cosine(tcfg.lr, tcfg.max_steps, tcfg.warmup_steps, tcfg.min_lr_ratio),
            params=param_groups(dat, tcfg.weight_decay), betas=tcfg.betas, grad_clip=tcfg.grad_clip,
            validate=(lambda: evaluate(dat, val_batches, tcfg.reg_weight, device)) if val_batches else None,
            val_every=tcfg.val_every, start=int(state.get("step", 0)),
        )
        if extra and not load_optimizer_tensors(trainer.optimizer, extra):
            say("optimizer state does not fit; restarting the optimizer moments")
        trainer.best = float(state.get("best_val", math.inf))
        history = out / "history.jsonl"
        config_record = {"model": dat.cfg.to_dict(), "train": tcfg.to_dict(),
                         "tokenizer": model.policy.to_dict(), "seed": seed, "world_size": dist.world,
                         "sources": corpus.meta.get("sources", [])}
        t_start = time.time()
        elapsed0 = float(state.get("wall_time_s", 0.0))
        running: dict[str, float] = {}
        n_running = 0

        def save(directory: Path, with_optim: bool, metrics: dict[str, float]) -> None:
            st = {"step": trainer.step, "best_val": trainer.best, "metrics": metrics, "parameters": n_params,
                  "wall_time_s": elapsed0 + time.time() - t_start, "device": str(device), "config": config_record}
            save_calm(model, directory, state=st,
                      extra_tensors=optimizer_tensors(trainer.optimizer) if with_optim else None)

        last_metrics: dict[str, float] = dict(state.get("metrics", {}))
        for record in trainer.run():
            step, m = record.step, record.metrics
            parts = {k: m[k] for k in ("ce", "acc", "mse", "loss") if k in m}
            for k, v in parts.items():
                running[k] = running.get(k, 0.0) + v
            n_running += 1
            if step % tcfg.log_every == 0 or step == tcfg.max_steps:
                rate = step / max(1e-9, elapsed0 + time.time() - t_start)
                avg = " ".join(f"{k} {v / n_running:.4f}" for k, v in running.items())
                say(f"step {step}/{tcfg.max_steps} {avg} lr {m['lr']:.2e} ({rate:.2f} steps/s)")
                running, n_running = {}, 0
            validate = step % tcfg.val_every == 0 or step == tcfg.max_steps
            checkpoint = step % tcfg.checkpoint_every == 0 or step == tcfg.max_steps
            if dist.main and validate:
                last_metrics = {"train_" + k: v for k, v in parts.items()}
                if "val_loss" in m:
                    last_metrics.update(vals := {k: v for k, v in m.items() if k.startswith("val_")})
                    say(f"validation at step {step}: " + " ".join(f"{k} {v:.4f}" for k, v in vals.items()))
                    if m["improved"]:
                        save(best_dir, False, last_metrics)
                with history.open("a") as fh:
                    fh.write(dumps({"step": step, **last_metrics}) + "\n")
            if dist.main and checkpoint:
                save(last_dir, True, last_metrics)
                if not val_batches:
                    save(best_dir, False, last_metrics)
            if checkpoint or validate:
                dist.barrier()
        if dist.main and not (best_dir / "config.json").is_file():
            save(best_dir, False, last_metrics)
        if dist.enabled:
            check_replicas_identical(dat)
        dist.barrier()
        if on_finish is not None:
            on_finish(model, dist.rank)
        return best_dir
    finally:
        dist.close()


def check_replicas_identical(module: torch.nn.Module) -> None:
    """Raise if the parameters differ between DDP ranks (element-wise max == min over ranks)."""
    flat = torch.cat([p.detach().reshape(-1).float() for p in module.parameters()])
    hi, lo = flat.clone(), flat.clone()
    torch.distributed.all_reduce(hi, op=torch.distributed.ReduceOp.MAX)
    torch.distributed.all_reduce(lo, op=torch.distributed.ReduceOp.MIN)
    if not torch.equal(hi, lo):
        raise RuntimeError(f"DDP replicas diverged (max difference {float((hi - lo).max()):.3g})")
