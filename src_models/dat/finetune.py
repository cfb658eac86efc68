"""Adapting CalM to a new recording: new embeddings with a frozen backbone, then optionally everything.

:func:`finetune` is a generator yielding one progress dict per step::

    {"step": 12, "total": 300, "loss": 3.91, "val_loss": 4.02 or None, "phase": "embeddings"}

and a final one with ``phase`` ``"done"`` or ``"stopped"`` and ``checkpoint``. Stopping (``stop``
or closing the generator) atomically writes ``OUT/last`` (resumable) and ``OUT/best``; re-running
with the same ``OUT`` resumes. The first 60 % of frames train, the next 20 % validate, the rest
stays for ``calm forecast``. The recording gets new neuron and session rows (from the generic
ones): phase ``embeddings`` trains only those (and the regression head, ``train_head``), phase
``lora`` only low-rank adapters of the blocks' linear layers (:class:`~src_models.dat.lora.LowRank`,
merged into the weights when the phase ends, so checkpoints never hold adapters), phase ``full``
the whole DAT except other recordings' rows.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Generator
from pathlib import Path
from typing import Any

import numpy as np
import torch

from src_models.checkpoint import recover_checkpoint
from src_models.dat.calm import CalM, load_calm, save_calm
from src_models.dat.config import FinetuneConfig
from src_models.dat.corpus import ArrayCorpus, Batch, SessionEntry, WindowSampler
from src_models.dat.lora import ADAPTER_NAMES, LowRank
from src_models.preparation import PreparedRecording, prepare_recording
from src_models.trainer import Trainer, load_optimizer_tensors, optimizer_tensors, param_groups, warmup_cosine
from src_models.dat.pretrain import batch_loss, evaluate
from src_models.device import resolve_device
from src_models.errors import CalmError
from src_models.recording import Recording

def ensure_session(model: CalM, prep: PreparedRecording) -> tuple[dict[str, Any], bool]:
    """The model's session entry for ``prep`` (added with new rows when unknown); True if added."""
    entry = model.find_session(prep.fingerprint)
    if entry is not None and entry["n_neurons"] == prep.n_neurons:
        return entry, False
    entry = model.add_session(
        name=prep.name,
        source=prep.source,
        fs=prep.fs,
        mean=prep.mean[:, 0],
        std=prep.std[:, 0],
        fingerprint=prep.fingerprint,
        frames=[0, prep.bounds[0][1]],
    )
    return entry, True


def session_corpus(model: CalM, prep: PreparedRecording, entry: dict[str, Any], *, with_values: bool) -> ArrayCorpus:
    """Tokens (and values) of the training and validation parts, in the model's z-space."""
    mean_m, std_m = model.session_norm(entry)
    z = (prep.traces - mean_m) / std_m
    tok = model.tokenizer
    (a, b), (c, d) = prep.bounds[0], prep.bounds[1]
    tr_tokens, tr_values = tok.tokenize(z[:, a:b], prep.fs)
    va_tokens, va_values = tok.tokenize(z[:, c:d], prep.fs)
    se = SessionEntry(
        name=prep.name, source=prep.source, n_neurons=prep.n_neurons, n_tokens=0, fs=prep.fs,
        neuron_offset=entry["neuron_offset"], session_row=entry["session_row"], val_start=0,
        frames=[a, d], fingerprint=prep.fingerprint,
    )
    return ArrayCorpus(
        tr_tokens, va_tokens, tr_values if with_values else None, va_values if with_values else None,
        model.patch_len, se,
    )


def _row_mask_hook(n_rows: int, first: int, count: int, device: torch.device) -> Callable[[torch.Tensor], torch.Tensor]:
    mask = torch.zeros(n_rows, 1, device=device)
    mask[first : first + count] = 1.0
    return lambda g: g * mask


def _trainable(model: CalM, phase: str, train_head: bool) -> list[str]:
    """Parameter-name prefixes of the DAT that train in ``phase``."""
    if phase == "full":
        return [n for n, _ in model.dat.named_parameters()]
    if phase == "lora":
        return [n for n, _ in model.dat.named_parameters() if n.endswith(ADAPTER_NAMES)]
    names = ["neuron_emb", "session_emb"]
    if train_head and model.dat.reg_head is not None:
        names.append("reg_head")
        if model.dat.reg_frames is not None:
            names.append("reg_frames")
    return names


def finetune(
    model: CalM,
    recording: Recording | np.ndarray | PreparedRecording,
    *,
    fs: float | None = None,
    config: FinetuneConfig | dict[str, Any] | None = None,
    out: str | Path | None = None,
    stop: threading.Event | Callable[[], bool] | None = None,
    seed: int = 0,
    device: str | torch.device | None = None,
    name: str | None = None,
    patience: int | None = None,
) -> Generator[dict[str, Any], None, CalM]:
    """Adapt ``model`` to ``recording``; a generator of progress dicts (see the module docstring).

    Parameters
    ----------
    model : CalM
        The pretrained model; adapted **in place** (new rows appended) unless ``OUT/last`` exists,
        in which case that run is resumed and the returned model is the resumed one.
    recording : Recording or ndarray or PreparedRecording
        The recording, ``(N, T)`` traces with ``fs``, or a prepared recording.
    config : FinetuneConfig or dict, optional
        Steps, learning rates, window sampling (defaults: the ``calm forecast`` budget).
    out : str or Path, optional
        Checkpoint folder (``best/``, ``last/``); nothing is written when None.
    stop : threading.Event or callable, optional
        Checked between steps; when set the run saves and ends with phase ``"stopped"``.
    seed : int
        Window sampling seed.
    device : str, optional
        ``cpu``/``cuda``/``auto``.
    name : str, optional
        Name of the recording (default: from the recording).
    patience : int, optional
        Validations without improvement after which a phase ends early (default: never).

    Returns
    -------
    CalM
        (the generator's return value) the adapted model, in its best validation state.
    """
    cfg = config if isinstance(config, FinetuneConfig) else FinetuneConfig.from_dict(config)
    dev = resolve_device(device)
    prep = prepare_recording(recording, fs, train_fraction=cfg.train_fraction, val_fraction=cfg.val_fraction, name=name)
    out = None if out is None else Path(out)
    state: dict[str, Any] = {}
    extra: dict[str, torch.Tensor] = {}
    if out is not None and recover_checkpoint(out / "last"):
        model, extra, meta = load_calm(out / "last", device=dev, with_extra=True)
        state = dict(meta.get("state", {}))
        if state.get("fingerprint") != prep.fingerprint:
            raise CalmError("this output folder holds a fine-tune of another recording", out)
    model = model.to(dev)
    entry, _ = ensure_session(model, prep)
    dat = model.dat
    with_values = dat.reg_head is not None and cfg.reg_weight > 0
    corpus = session_corpus(model, prep, entry, with_values=with_values)
    se = corpus.sessions[0]
    window = min(cfg.window_tokens, se.val_start, se.n_tokens - se.val_start)
    if window < 2:
        raise CalmError(
            f"{prep.n_frames} frames are too few to adapt (need >= 2 tokens of {model.patch_len} frames "
            "in both the training and the validation part)",
            prep.source,
        )
    sampling = dict(window_tokens=window, max_neurons=cfg.max_neurons, batch_size=cfg.batch_size, seed=seed,
                    with_values=with_values)
    sampler = WindowSampler(corpus, "train", **sampling)
    val_batches = WindowSampler(corpus, "val", **sampling).fixed_batches(cfg.val_windows)

    phases = [("embeddings", cfg.embed_steps, cfg.embed_lr), ("lora", cfg.lora_steps, cfg.lora_lr),
              ("full", cfg.full_steps, cfg.full_lr)]
    phases = [p for p in phases if p[1] > 0]
    total = sum(p[1] for p in phases)
    step = int(state.get("step", 0))
    best_val = float(state.get("best_val", math.inf))
    best_state: dict[str, torch.Tensor] | None = None
    if out is not None and (out / "best" / "config.json").is_file() and state:
        best_state = {k: v.clone() for k, v in load_calm(out / "best", device=dev).dat.state_dict().items()}
    last_val: float | None = state.get("val_loss")
    t0 = time.time()

    hooks = [
        dat.neuron_emb.weight.register_hook(
            _row_mask_hook(dat.cfg.n_neurons, entry["neuron_offset"], entry["n_neurons"], dev)),
        dat.session_emb.weight.register_hook(_row_mask_hook(dat.cfg.n_sessions, entry["session_row"], 1, dev)),
    ]

    def save(opt: torch.optim.Optimizer | None, phase: str) -> str | None:
        if out is None:
            return None
        st = {"step": step, "total": total, "phase": phase, "best_val": best_val, "val_loss": last_val,
              "fingerprint": prep.fingerprint, "config": cfg.to_dict(), "seed": seed,
              "wall_time_s": float(state.get("wall_time_s", 0.0)) + time.time() - t0}
        save_calm(model, out / "last", state=st, extra_tensors=None if opt is None else optimizer_tensors(opt))
        if best_state is not None:
            current = {k: v.clone() for k, v in dat.state_dict().items()}
            dat.load_state_dict(best_state)
            save_calm(model, out / "best", state={**st, "selected": "lowest validation loss"})
            dat.load_state_dict(current)
        else:
            save_calm(model, out / "best", state=st)
        return str(out / "best")

    trainer: Trainer | None = None
    phase = phases[0][0] if phases else "embeddings"
    try:
        start = 0
        for phase, n_steps, lr in phases:
            end = start + n_steps
            if step < end:
                adapters = LowRank(dat, cfg.lora_rank, seed=seed) if phase == "lora" else None
                try:  # the DAT's state_dict (best states, checkpoints) shows merged weights throughout
                    prefixes = _trainable(model, phase, cfg.train_head)
                    for n, p in dat.named_parameters():
                        p.requires_grad_(n.startswith(tuple(prefixes)))
                    trainer = Trainer(
                        dat, lambda k: batch_loss(dat, sampler.batch(k), cfg.reg_weight, dev), steps=end,
                        start=step, lr=warmup_cosine(lr, n_steps, min(20, n_steps // 10), 0.1, first=start),
                        params=param_groups(dat, 0.0), grad_clip=1.0, cancel=stop, keep_best=True,
                        validate=lambda: evaluate(dat, val_batches, cfg.reg_weight, dev), val_every=cfg.val_every,
                        patience=patience,
                    )
                    if extra and state.get("phase") == phase:
                        load_optimizer_tensors(trainer.optimizer, extra)
                    extra = {}
                    trainer.best, trainer.best_state = best_val, best_state
                    for record in trainer.run():
                        step, best_val, best_state = record.step, trainer.best, trainer.best_state
                        last_val = record.metrics.get("val_loss", last_val)
                        yield {"step": step, "total": total, "loss": record.metrics["loss"], "val_loss": last_val,
                               "phase": phase}
                finally:
                    if adapters is not None:
                        adapters.merge()
                if trainer.cancelled:
                    checkpoint = save(trainer.optimizer, phase)
                    if best_state is not None:  # the returned model holds the best state, as when done
                        dat.load_state_dict(best_state)
                    yield {"step": step, "total": total, "loss": None, "val_loss": last_val,
                           "phase": "stopped", "checkpoint": checkpoint}
                    return model
            start = end
        if best_state is not None:
            dat.load_state_dict(best_state)
        yield {"step": step, "total": total, "loss": None, "val_loss": best_val if math.isfinite(best_val) else None,
               "phase": "done", "checkpoint": save(None, "done")}
        return model
    except GeneratorExit:
        save(None if trainer is None else trainer.optimizer, phase)
        raise
    finally:
        for h in hooks:
            h.remove()
        for p in dat.parameters():
            p.requires_grad_(True)
        dat.eval()

