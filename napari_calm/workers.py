"""Background jobs of the CalM docks, as napari ``thread_worker`` generator factories.

Every job is a plain generator (``*_job``) that yields :class:`Progress`
items between units of work and returns numpy arrays or dataclasses; the
matching ``*_worker`` factory wraps it in a napari :func:`thread_worker`, so
``worker.quit()`` stops it at the next yield. Jobs never touch napari layers
or Qt objects: the docks update the GUI from the worker's ``returned`` and
``yielded`` signals on the GUI thread.

Models are loaded inside the jobs (torch is imported there, never at module
import) and kept in a small cache keyed by checkpoint folder, its
``config.json`` modification time and the device. torch's intra-op thread
pool is capped to leave one core to the GUI.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Generator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from napari_calm.state import EmbeddingCache, TokenCache

if TYPE_CHECKING:
    from src_models.recording import Recording

#: Neurons tokenized per progress step.
TOKENIZE_BATCH = 64
#: Models kept loaded (checkpoint, mtime, device) -> model.
MODEL_CACHE_SIZE = 2


@dataclass(frozen=True)
class Progress:
    """One progress report of a job.

    Attributes
    ----------
    done, total : int
        Units finished and expected (``total == 0``: unknown). ``done < 0``
        marks a heartbeat with no news, yielded only so the job can be cancelled.
    message : str
        Short status line.
    data : dict
        Job-specific values (a fine-tune reports ``step``, ``loss``, ``val_loss``).
    """

    done: int
    total: int
    message: str = ""
    data: dict[str, Any] = field(default_factory=dict)


# -- shared helpers ----------------------------------------------------------------------------
_MODELS: OrderedDict[tuple[str, float, str], Any] = OrderedDict()
_MODELS_LOCK = threading.Lock()


def cap_torch_threads() -> None:
    """Leave one core to the GUI thread: ``torch.set_num_threads(max(1, cpu_count - 1))``."""
    import torch

    torch.set_num_threads(max(1, (os.cpu_count() or 2) - 1))


def load_model(checkpoint: str | Path, device: str) -> Any:
    """The CalM bundle in ``checkpoint`` on ``device``, loaded once and cached.

    Parameters
    ----------
    checkpoint : str or Path
        A CalM checkpoint folder (or a training output folder with ``best/``).
    device : str
        ``'cpu'`` or ``'cuda'``.

    Returns
    -------
    CalM
        The model in eval mode.
    """
    from src_models.dat import load_calm
    from src_models.dat.calm import resolve_checkpoint

    folder = resolve_checkpoint(checkpoint)
    key = (str(folder.resolve()), (folder / "config.json").stat().st_mtime, str(device))
    with _MODELS_LOCK:
        if key in _MODELS:
            _MODELS.move_to_end(key)
            return _MODELS[key]
    model = load_calm(folder, device=device)
    model.eval()
    with _MODELS_LOCK:
        _MODELS[key] = model
        while len(_MODELS) > MODEL_CACHE_SIZE:
            _MODELS.popitem(last=False)
    return model


def forget_models() -> None:
    """Drop every cached model (after a fine-tune rewrote a checkpoint, or to free memory)."""
    with _MODELS_LOCK:
        _MODELS.clear()


# -- jobs ------------------------------------------------------------------------------------
def open_job(path: str | Path) -> Generator[Progress, None, Recording]:
    """Read a recording with :func:`napari_calm.readers.read_recording`.

    Parameters
    ----------
    path : str or Path
        Any file or folder a reader understands.

    Returns
    -------
    Recording
    """
    from napari_calm.readers import read_recording

    yield Progress(0, 1, f"reading {Path(path).name}")
    recording = read_recording(path)
    yield Progress(1, 1, f"read {recording.n_neurons} neurons × {recording.n_frames} frames")
    return recording


def tokenize_job(
    recording: Recording, checkpoint: str, device: str, batch: int = TOKENIZE_BATCH
) -> Generator[Progress, None, TokenCache]:
    """Tokenize every neuron of ``recording`` with the checkpoint's NQ tokenizer.

    Parameters
    ----------
    recording : Recording
        The recording (its neuropil-corrected traces are tokenized).
    checkpoint : str
        CalM checkpoint folder.
    device : str
        Torch device.
    batch : int
        Neurons per progress step.

    Returns
    -------
    TokenCache
        Tokens, reconstruction and codebook waveforms.
    """
    from src_models.nq import tokenize_traces

    cap_torch_threads()
    yield Progress(0, 0, "loading model")
    model = load_model(checkpoint, device)
    traces = recording.traces
    n = traces.shape[0]
    tokens, recon, metrics = [], [], []
    for start in range(0, n, batch):
        result = tokenize_traces(model.nq, traces[start : start + batch], recording.fs)
        tokens.append(np.asarray(result.tokens))
        recon.append(np.asarray(result.recon, np.float32))
        metrics.append((min(batch, n - start), result.metrics))
        yield Progress(min(start + batch, n), n, f"tokenized {min(start + batch, n)}/{n} neurons")
    return TokenCache(
        checkpoint=str(checkpoint),
        tokens=np.concatenate(tokens, axis=0),
        recon=np.concatenate(recon, axis=0),
        patch_len=int(model.nq.config.patch_len),
        codebook=np.asarray(model.nq.code_waveforms(), np.float32),
        metrics=_weighted_metrics(metrics),
    )


def _weighted_metrics(parts: list[tuple[int, dict[str, Any]]]) -> dict[str, float]:
    """Neuron-weighted mean of the numeric metrics of every batch."""
    total = sum(n for n, _ in parts) or 1
    keys = {k for _, m in parts for k, v in m.items() if isinstance(v, int | float)}
    return {k: float(sum(n * m.get(k, 0.0) for n, m in parts) / total) for k in sorted(keys)}


class JobCancelled(Exception):
    """Raised inside a callback-driven engine function when its job was cancelled."""


def run_with_progress(
    function: Any, *args: Any, total: int = 1000, **kwargs: Any
) -> Generator[Progress, None, Any]:
    """Run an engine function that reports ``progress(fraction, message)`` as a yielding job.

    The function runs in an inner thread; this generator yields a
    :class:`Progress` whenever it reports, and returns its result (or raises
    its exception). When the job is closed (``worker.quit()``), the next
    progress report inside the function raises :class:`JobCancelled`, which
    ends the inner thread.

    Parameters
    ----------
    function : callable
        Called as ``function(*args, progress=callback, **kwargs)``.
    total : int
        Progress units the fraction is scaled to.
    """
    import queue

    reports: queue.Queue[tuple[str, Any]] = queue.Queue()
    stop = threading.Event()

    def progress(fraction: float, message: str) -> None:
        if stop.is_set():
            raise JobCancelled(message)
        reports.put(("progress", (fraction, message)))

    def target() -> None:
        try:
            reports.put(("result", function(*args, progress=progress, **kwargs)))
        except BaseException as exc:  # handed to the job's thread and re-raised there
            reports.put(("error", exc))

    thread = threading.Thread(target=target, name=f"calm-{getattr(function, '__name__', 'job')}", daemon=True)
    thread.start()
    try:
        while True:
            try:
                kind, value = reports.get(timeout=0.1)
            except queue.Empty:
                yield Progress(-1, total)  # no news: a cancellation point only
                continue
            if kind == "progress":
                fraction, message = value
                yield Progress(int(round(min(max(fraction, 0.0), 1.0) * total)), total, message)
            elif kind == "error":
                raise value
            else:
                return value
    finally:
        stop.set()
