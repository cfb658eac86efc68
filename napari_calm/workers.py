"""Background jobs of the CalM docks, as napari ``thread_worker`` generator factories.

Every job is a plain generator (``*_job``) that yields :class:`Progress`
items between units of work and returns numpy arrays or dataclasses; the
matching ``*_worker`` factory runs it in a napari :func:`thread_worker` and
attaches a ``cancel_event`` to the worker. Setting that event cancels the
job at its next yield: the job's own clean-up runs in the worker thread and
the worker ends with :class:`JobCancelled` (a fine-tune instead stops through
the engine's stop flag, saving a checkpoint to resume from, and returns
normally). Jobs never touch napari layers or Qt objects: the docks update
the GUI from the worker's ``returned`` and ``yielded`` signals.

Models are loaded inside the jobs (torch is imported there, never at module
import) and cached by checkpoint folder, its ``config.json`` modification time
and device. torch's intra-op thread pool is capped to leave a core to the GUI.

Every job first makes sure ``triton`` is never imported into the napari
process (:func:`prepare_torch`): torch imports it lazily through
``torch._dynamo`` (the first optimizer does), and loading triton's bundled
LLVM into a process whose OpenGL driver already loaded Mesa's LLVM (llvmpipe,
radeonsi) crashes it with a segmentation fault. napari-calm never compiles
with triton, so torch simply sees it as absent.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from napari_calm.state import EmbeddingCache, TokenCache

if TYPE_CHECKING:
    from src_models.recording import Recording

#: Models kept loaded, keyed by (checkpoint, mtime, device).
MODEL_CACHE_SIZE = 2
#: Validation windows a forecast uses to choose its variant (evenly spaced).
FORECAST_VAL_WINDOWS = 64


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
        Job-specific values (a fine-tune reports ``step``, ``loss``, ``val_loss``, ``phase``).
    """

    done: int
    total: int
    message: str = ""
    data: dict[str, Any] = field(default_factory=dict)


class JobCancelled(Exception):
    """A job stopped because its ``cancel_event`` was set (not an error)."""


@dataclass(frozen=True)
class FinetuneOutcome:
    """How a fine-tune ended.

    Attributes
    ----------
    checkpoint : str or None
        The checkpoint folder written (``OUT/best``), if any.
    run_dir : str
        The run folder (``best/`` and ``last/``); fine-tuning it again resumes.
    stopped : bool
        True when cancelled before the last step (resumable from ``last/``).
    step, total : int
        Steps done and planned.
    best_val : float or None
        Best validation loss.
    """

    checkpoint: str | None
    run_dir: str
    stopped: bool
    step: int
    total: int
    best_val: float | None


# -- models ----------------------------------------------------------------------------------
_MODELS: OrderedDict[tuple[str, float, str], Any] = OrderedDict()
_MODELS_LOCK = threading.Lock()


def prepare_torch() -> None:
    """Keep triton out of the GUI process, then leave one core to the GUI thread.

    ``sys.modules['triton'] = None`` (unless triton is already loaded) makes
    torch treat triton as not installed; then
    ``torch.set_num_threads(max(1, cpu_count - 1))``.
    """
    import sys

    sys.modules.setdefault("triton", None)
    import torch

    torch.set_num_threads(max(1, (os.cpu_count() or 2) - 1))


def load_model(checkpoint: str | Path, device: str) -> Any:
    """The CalM bundle in ``checkpoint`` on ``device``, loaded once and cached (read-only use).

    Parameters
    ----------
    checkpoint : str or Path
        A CalM checkpoint folder (or a training output folder with ``best/``).
    device : str
        ``'cpu'`` or ``'cuda'``.

    Returns
    -------
    CalM
        The model in eval mode. Callers must not modify it (fine-tunes load their own copy).
    """
    from src_models.dat.calm import load_calm, resolve_checkpoint

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


# -- plumbing ------------------------------------------------------------------------------------
def cancellable(
    job: Generator[Progress, None, Any], cancel: threading.Event
) -> Generator[Progress, None, Any]:
    """Run ``job``; once ``cancel`` is set, close it (clean-up runs here) and stop.

    Raises
    ------
    JobCancelled
        At the first yield after ``cancel`` was set.
    """
    try:
        while True:
            if cancel.is_set():
                raise JobCancelled("cancelled")
            try:
                item = next(job)
            except StopIteration as done:
                return done.value
            yield item
    finally:
        job.close()


def run_with_progress(
    function: Callable[..., Any],
    *args: Any,
    convert: Callable[..., Progress],
    **kwargs: Any,
) -> Generator[Progress, None, Any]:
    """Run an engine function that reports through a ``progress=`` callback as a yielding job.

    The function runs in an inner thread; this generator yields what it
    reports and returns its result (or raises its exception). Once the job is
    closed (cancelled), the function's next report raises :class:`JobCancelled`
    inside it, which ends the inner thread.

    Parameters
    ----------
    function : callable
        Called as ``function(*args, progress=callback, **kwargs)``.
    *args, **kwargs
        Passed on to ``function``.
    convert : callable
        Turns the callback's arguments into a :class:`Progress`.
    """
    import queue

    reports: queue.Queue[tuple[str, Any]] = queue.Queue()
    closed = threading.Event()

    def progress(*report: Any) -> None:
        if closed.is_set():
            raise JobCancelled("cancelled")
        reports.put(("progress", convert(*report)))

    def target() -> None:
        try:
            reports.put(("result", function(*args, progress=progress, **kwargs)))
        except BaseException as exc:  # handed over to the job's thread and re-raised there
            reports.put(("error", exc))

    thread = threading.Thread(
        target=target, name=f"calm-{getattr(function, '__name__', 'job')}", daemon=True
    )
    thread.start()
    try:
        while True:
            try:
                kind, value = reports.get(timeout=0.1)
            except queue.Empty:
                yield Progress(-1, 0)  # no news: a cancellation point only
                continue
            if kind == "progress":
                yield value
            elif kind == "error":
                raise value
            else:
                return value
    finally:
        closed.set()


def fraction_progress(fraction: float, message: str) -> Progress:
    """An analysis ``progress(fraction, message)`` report as a :class:`Progress` (per mille)."""
    return Progress(int(round(min(max(fraction, 0.0), 1.0) * 1000)), 1000, message)


def step_progress(info: dict[str, Any]) -> Progress:
    """A DAT progress dict (``step``, ``total``, ``loss``, ``phase``) as a :class:`Progress`."""
    phase = info.get("phase", "")
    step, total = int(info.get("step") or 0), int(info.get("total") or 0)
    loss = info.get("loss")
    text = f"{phase}: step {step}/{total}" + ("" if loss is None else f", loss {loss:.3f}")
    return Progress(step, total, text, dict(info))


def _worker(
    job: Callable[..., Generator[Progress, None, Any]],
    *args: Any,
    wrap: bool = True,
    **kwargs: Any,
) -> Any:
    """A not-yet-started napari generator worker running ``job``, with ``worker.cancel_event``."""
    from napari.qt.threading import thread_worker

    cancel = threading.Event()

    @thread_worker(start_thread=False, ignore_errors=True)
    def run() -> Generator[Progress, None, Any]:
        if wrap:
            return (yield from cancellable(job(*args, **kwargs), cancel))
        return (yield from job(*args, cancel=cancel, **kwargs))

    worker = run()
    worker.cancel_event = cancel
    return worker


# -- jobs ------------------------------------------------------------------------------------
def open_job(path: str | Path) -> Generator[Progress, None, Recording]:
    """Read a recording with :func:`src_models.readers.read_recording`.

    Parameters
    ----------
    path : str or Path
        Any file or folder a reader understands.

    Returns
    -------
    Recording
    """
    from src_models.readers import read_recording

    yield Progress(0, 1, f"reading {Path(path).name}")
    recording = read_recording(path)
    yield Progress(1, 1, f"read {recording.n_neurons} neurons × {recording.n_frames} frames")
    return recording


def tokenize_job(
    recording: Recording, checkpoint: str, device: str
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

    Returns
    -------
    TokenCache
        Tokens, reconstruction (in the traces' units), codebook waveforms and
        the tokenizer's metrics.
    """
    from src_models.nq import tokenize_traces

    prepare_torch()
    yield Progress(0, 0, "loading model")
    model = load_model(checkpoint, device)
    result = yield from run_with_progress(
        tokenize_traces,
        model.nq,
        recording.traces,
        recording.fs,
        convert=lambda fraction: fraction_progress(fraction, "tokenizing"),
    )
    return TokenCache(
        checkpoint=str(checkpoint),
        tokens=np.asarray(result.tokens),
        recon=np.asarray(result.recon, np.float32),
        patch_len=int(model.nq.config.patch_len),
        codebook=np.asarray(model.nq.code_waveforms(), np.float32),
        metrics=dict(result.metrics),
    )


def embed_job(
    recording: Recording, checkpoint: str, device: str, umap: bool = False
) -> Generator[Progress, None, EmbeddingCache]:
    """Per-neuron CalM embeddings, their PCA (and UMAP) maps, and cue/choice selectivity.

    Runs :func:`src_models.analysis.neuron_map.analyse_neurons` with the
    checkpoint as a :class:`~src_models.analysis.calm_features.CalmFeatures`
    extractor (the model as it is, no adaptation).

    Parameters
    ----------
    recording : Recording
        The recording.
    checkpoint : str
        CalM checkpoint folder.
    device : str
        Torch device.
    umap : bool
        Also compute the UMAP map.

    Returns
    -------
    EmbeddingCache
        Primary embedding, maps, per-neuron features (``<column>_si``, ``<column>_p``,
        ``<column>_significant``, ``tuning_strength``) and the :class:`NeuronMap`.
    """
    from src_models.analysis.calm_features import CalmFeatures
    from src_models.analysis.neuron_map import analyse_neurons

    prepare_torch()
    yield Progress(0, 0, "loading model")
    extractor = CalmFeatures(load_model(checkpoint, device), device=device)
    result = yield from run_with_progress(
        analyse_neurons, recording, extractor, method="pca", convert=fraction_progress
    )
    vectors = np.asarray(result.embeddings[result.primary], np.float32)
    coords = {"PCA": np.asarray(result.coords, np.float32)}
    if umap:
        coords["UMAP"] = yield from map_job(vectors, "UMAP")
    features: dict[str, np.ndarray] = {}
    for column, sel in result.selectivity.items():
        features[f"{column}_si"] = np.asarray(sel.si, float)
        features[f"{column}_p"] = np.asarray(sel.p, float)
        features[f"{column}_significant"] = np.asarray(sel.significant, float)
    if result.strength is not None:
        features["tuning_strength"] = np.asarray(result.strength, float)
    return EmbeddingCache(str(checkpoint), vectors, coords, features, result)


def map_job(vectors: np.ndarray, method: str) -> Generator[Progress, None, np.ndarray]:
    """A 2-D ``'PCA'`` or ``'UMAP'`` map of cached embeddings (``analysis.embedding.reduce``)."""
    from src_models.analysis.embedding import reduce

    yield Progress(0, 1, f"{method} map")
    xy = reduce(vectors, method.lower())
    yield Progress(1, 1, "done")
    return xy


def forecast_job(
    recording: Recording,
    checkpoint: str,
    device: str,
    context: int,
    horizon: int,
    *,
    n_samples: int = 8,
    adapt_steps: int = 100,
    stride: int | None = None,
) -> Generator[Progress, None, Any]:
    """Forecast every test window of ``recording`` (:func:`src_models.dat.forecast_recording`).

    Parameters
    ----------
    recording : Recording
        The recording.
    checkpoint : str
        CalM checkpoint folder.
    device : str
        Torch device.
    context, horizon : int
        Window layout in frames.
    n_samples : int
        Sampled rollouts (uncertainty band).
    adapt_steps : int
        Embedding-adaptation steps when the model does not know the recording.
    stride : int, optional
        Frames between test windows (default: ``horizon``).

    Returns
    -------
    ForecastResult
    """
    from src_models.dat.forecast import forecast_recording

    prepare_torch()
    yield Progress(0, 0, "loading model")
    model = load_model(checkpoint, device)
    return (
        yield from run_with_progress(
            forecast_recording,
            model,
            recording,
            context,
            horizon,
            convert=step_progress,
            n_samples=n_samples,
            adapt=adapt_steps > 0,
            finetune_config={"embed_steps": max(adapt_steps, 1)},
            stride=stride or horizon,
            max_val_windows=FORECAST_VAL_WINDOWS,
        )
    )


def decode_job(
    recording: Recording,
    target: str,
    *,
    checkpoint: str | None,
    device: str,
    baselines: tuple[str, ...] = ("ridge", "mlp"),
    n_folds: int = 5,
    context: int = 48,
    n_shifts: int = 20,
) -> Generator[Progress, None, Any]:
    """Decode ``target`` with CalM heads and baselines (``src_models.analysis.decoding.decode``).

    Parameters
    ----------
    recording : Recording
        Traces plus behaviour / trials.
    target : str
        Behaviour variable or trial column.
    checkpoint : str or None
        CalM checkpoint for the CalM heads (None: baselines only).
    device : str
        Torch device.
    baselines : tuple of str
        Supervised decoders on the traces.
    n_folds, context : int
        Cross-validation folds; causal window in frames.
    n_shifts : int
        Circular shifts of the chance level.

    Returns
    -------
    DecodeResult
    """
    from src_models.analysis.decoding import decode

    prepare_torch()
    extractors = []
    if checkpoint is not None:
        from src_models.analysis.calm_features import CalmFeatures

        yield Progress(0, 0, "loading model")
        extractors.append(CalmFeatures(load_model(checkpoint, device), device=device))
    return (
        yield from run_with_progress(
            decode,
            recording,
            target,
            convert=fraction_progress,
            extractors=extractors,
            baselines=baselines,
            n_folds=n_folds,
            context=context,
            n_shifts=n_shifts,
            device=device,
        )
    )


def finetune_job(
    recording: Recording | str | Path,
    checkpoint: str,
    out: str | Path,
    config: dict[str, Any],
    device: str,
    *,
    cancel: threading.Event,
) -> Generator[Progress, None, FinetuneOutcome]:
    """Adapt the checkpoint to ``recording`` into the run folder ``out`` (resumes when it exists).

    ``out`` follows the output policy (:func:`src_models.outputs.claim_output`): a new folder, or
    a fine-tune run folder this project wrote (resumed); locked while the job runs.
    The base checkpoint is loaded fresh (never the cached, shared model) and
    is never written; the engine writes ``out/last`` and ``out/best``
    atomically. Setting ``cancel`` stops between steps, saving a resumable
    checkpoint.

    Parameters
    ----------
    recording : Recording or str or Path
        Data to adapt to (a path is read with :func:`src_models.readers.read_recording`).
    checkpoint : str
        Base CalM checkpoint.
    out : str or Path
        Run folder.
    config : dict
        :class:`src_models.dat.FinetuneConfig` fields.
    device : str
        Torch device.
    cancel : threading.Event
        The stop flag.

    Returns
    -------
    FinetuneOutcome
    """
    from src_models.dat.calm import load_calm
    from src_models.dat.finetune import finetune
    from src_models.outputs import claim_output

    claim = claim_output(out, "finetune", folder=True, resume=True)
    try:
        prepare_torch()
        if not hasattr(recording, "traces"):
            recording = yield from open_job(recording)
        yield Progress(0, 0, "loading model")
        model = load_calm(checkpoint, device=device)
        last: dict[str, Any] = {}
        for info in finetune(model, recording, config=config, out=out, stop=cancel, device=device):
            last = info
            yield step_progress(info)
    finally:
        claim.release()
    return FinetuneOutcome(
        checkpoint=last.get("checkpoint"),
        run_dir=str(out),
        stopped=last.get("phase") == "stopped",
        step=int(last.get("step") or 0),
        total=int(last.get("total") or 0),
        best_val=last.get("val_loss"),
    )


# -- worker factories ---------------------------------------------------------------------------
def open_worker(path: str | Path) -> Any:
    """Worker for :func:`open_job`."""
    return _worker(open_job, path)


def tokenize_worker(recording: Recording, checkpoint: str, device: str) -> Any:
    """Worker for :func:`tokenize_job`."""
    return _worker(tokenize_job, recording, checkpoint, device)


def embed_worker(recording: Recording, checkpoint: str, device: str, umap: bool = False) -> Any:
    """Worker for :func:`embed_job`."""
    return _worker(embed_job, recording, checkpoint, device, umap=umap)


def map_worker(vectors: np.ndarray, method: str) -> Any:
    """Worker for :func:`map_job`."""
    return _worker(map_job, vectors, method)


def forecast_worker(
    recording: Recording, checkpoint: str, device: str, context: int, horizon: int, **kwargs: Any
) -> Any:
    """Worker for :func:`forecast_job`."""
    return _worker(forecast_job, recording, checkpoint, device, context, horizon, **kwargs)


def decode_worker(recording: Recording, target: str, **kwargs: Any) -> Any:
    """Worker for :func:`decode_job`."""
    return _worker(decode_job, recording, target, **kwargs)


def finetune_worker(
    recording: Recording | str | Path,
    checkpoint: str,
    out: str | Path,
    config: dict[str, Any],
    device: str,
) -> Any:
    """Worker for :func:`finetune_job` (cancelling stops through the engine's stop flag)."""
    return _worker(finetune_job, recording, checkpoint, out, config, device, wrap=False)
