"""Background jobs of the CalM docks: engine :class:`~src_models.jobs.Job` objects in napari thread workers.

Every ``*_job`` is a generator of :class:`~src_models.jobs.Progress` records; its ``*_worker``
factory runs it as a :class:`~src_models.jobs.Job` in a napari :func:`thread_worker` whose
``cancel_event`` cancels the job at its next record (:class:`JobCancelled`; a fine-tune instead
stops through the engine's stop flag and saves a resumable checkpoint). Jobs never touch napari
or Qt: the docks update the GUI from the worker's signals. Forecast, decode, embed and tokens
share one cached :class:`~src_models.engine.Adapted` per recording, with the CLI's defaults.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Generator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from napari_calm.state import EmbeddingCache, TokenCache
from src_models.jobs import Job, JobCancelled, Progress
from src_models.settings import AdaptSettings, DecodeSettings

if TYPE_CHECKING:
    from src_models.engine import Adapted
    from src_models.recording import Recording

#: Models kept loaded, keyed by (checkpoint, mtime, device).
MODEL_CACHE_SIZE = 2
#: torch threads of a dock's job: one core is left to the GUI.
JOB_THREADS = max(1, (os.cpu_count() or 2) - 1)

__all__ = ["FinetuneOutcome", "JobCancelled", "Progress"]


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


def load_model(checkpoint: str | Path, device: str) -> Any:
    """The shared :class:`src_models.engine.CalM` of ``checkpoint`` on ``device`` (LRU-cached)."""
    from src_models.dat.calm import resolve_checkpoint
    from src_models.engine import CalM

    folder = resolve_checkpoint(checkpoint)
    key = (str(folder.resolve()), (folder / "config.json").stat().st_mtime, str(device))
    with _MODELS_LOCK:
        if key in _MODELS:
            _MODELS.move_to_end(key)
            return _MODELS[key]
    model = CalM.load(folder, device=device)
    with _MODELS_LOCK:
        _MODELS[key] = model
        while len(_MODELS) > MODEL_CACHE_SIZE:
            _MODELS.popitem(last=False)
    return model


def adapted_job(
    recording: Recording, checkpoint: str, device: str, steps: int = AdaptSettings.steps
) -> Generator[Progress, None, Adapted]:
    """The recording's shared adaptation (``CalM.adapt_job``; from the cache when adapted before).

    The docks set only the embedding ``steps``; 0 means no adaptation at all (generic embeddings),
    otherwise the later candidates of :class:`AdaptSettings`' strategy follow, as in ``calm forecast``.
    """
    yield Progress(0, 0, "loading model")
    extra = {} if steps else {"full_steps": 0}
    return (yield from load_model(checkpoint, device).adapt_job(recording, steps=steps, **extra))


def _worker(job: Callable[..., Generator[Progress, None, Any]], *args: Any, handles_cancel: bool = False,
            **kwargs: Any) -> Any:
    """A not-yet-started napari generator worker running ``job`` as a Job, with ``worker.cancel_event``."""
    from napari.qt.threading import thread_worker

    engine_job = Job(lambda cancel: job(*args, **({"cancel": cancel} if handles_cancel else {}), **kwargs),
                     threads=JOB_THREADS, handles_cancel=handles_cancel, name=job.__name__)

    @thread_worker(start_thread=False, ignore_errors=True)
    def run() -> Generator[Progress, None, Any]:
        return (yield from engine_job)

    worker = run()
    worker.cancel_event = engine_job.cancel_event
    return worker


# -- jobs ------------------------------------------------------------------------------------
def open_job(path: str | Path) -> Generator[Progress, None, Recording]:
    """Read a recording (any path :func:`src_models.readers.read_recording` understands)."""
    from src_models.readers import read_recording

    yield Progress(0, 1, f"reading {Path(path).name}")
    recording = read_recording(path)
    yield Progress(1, 1, f"read {recording.n_neurons} neurons × {recording.n_frames} frames")
    return recording


def tokenize_job(
    recording: Recording, checkpoint: str, device: str
) -> Generator[Progress, None, TokenCache]:
    """The tokens the DAT reads (:meth:`Adapted.tokens`), their reconstruction and the codebook.

    Returns
    -------
    TokenCache
        Tokens, the z-scored traces they come from, the reconstruction in that space, codebook
        waveforms and ``recon_r_median``.
    """
    adapted = yield from adapted_job(recording, checkpoint, device, steps=0)
    yield Progress(0, 1, "tokenizing")
    z, recon = adapted.zscored(), adapted.reconstruction()
    r = adapted.reconstruction_r()
    return TokenCache(
        checkpoint=str(checkpoint),
        tokens=adapted.tokens(),
        recon=recon,
        patch_len=int(adapted.model.patch_len),
        codebook=np.asarray(adapted.model.tokenizer.waveforms().cpu().numpy(), np.float32),
        metrics={"recon_r_median": float(np.nanmedian(r)), "recon_r_mean": float(np.nanmean(r))},
        z=z,
    )


def embed_job(
    recording: Recording, checkpoint: str, device: str, umap: bool = False, *,
    adapt_steps: int = AdaptSettings.steps,
) -> Generator[Progress, None, EmbeddingCache]:
    """Per-neuron embeddings (:meth:`Adapted.embed`), PCA (and UMAP) maps and selectivity.

    Returns
    -------
    EmbeddingCache
        Primary embedding, maps, per-neuron features (``<column>_si``, ``<column>_p``,
        ``<column>_significant``, ``tuning_strength``, the categorical ``tuning``:
        :func:`~src_models.analysis.selectivity.tuning_classes`) and the :class:`NeuronMap`.
    """
    from src_models.analysis.selectivity import tuning_classes

    adapted = yield from adapted_job(recording, checkpoint, device, adapt_steps)
    yield Progress(0, 1, "embedding")
    result = adapted.embed(method="pca")
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
    if result.selectivity:
        features["tuning"] = tuning_classes(result.selectivity)[0]
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
    adapt_steps: int = AdaptSettings.steps,
    stride: int | None = None,
) -> Generator[Progress, None, Any]:
    """:meth:`Adapted.forecast` (as ``calm forecast``); ``stride`` defaults to ``horizon``."""
    adapted = yield from adapted_job(recording, checkpoint, device, adapt_steps)
    yield Progress(0, 1, "forecasting")
    return adapted.forecast(context, horizon, samples=n_samples, stride=stride or horizon)


def decode_job(
    recording: Recording,
    target: str,
    *,
    checkpoint: str | None,
    device: str,
    baselines: tuple[str, ...] = ("ridge", "mlp"),
    n_folds: int = DecodeSettings.folds,
    context: int = DecodeSettings.context,
    n_shifts: int = DecodeSettings.shifts,
    adapt_steps: int = AdaptSettings.steps,
) -> Generator[Progress, None, Any]:
    """Decode ``target`` with CalM heads and baselines (only baselines without ``checkpoint``)."""
    from src_models.analysis.decoding import decode

    kwargs = dict(baselines=baselines, n_folds=n_folds, context=context, n_shifts=n_shifts, device=device)
    if checkpoint is None:
        yield Progress(0, 1, "decoding")
        return decode(recording, target, **kwargs)
    adapted = yield from adapted_job(recording, checkpoint, device, adapt_steps)
    yield Progress(0, 1, "decoding")
    return adapted.decode(target, **kwargs)


def finetune_job(
    recording: Recording | str | Path,
    checkpoint: str,
    out: str | Path,
    config: dict[str, Any],
    device: str,
    *,
    cancel: threading.Event,
    seed: int = 0,
) -> Generator[Progress, None, FinetuneOutcome]:
    """Fine-tune the checkpoint on ``recording`` into the run folder ``out`` (resumes when it exists).

    :meth:`src_models.engine.CalM.finetune` on a copy of the shared model; ``out`` must be new or
    a fine-tune run folder calm wrote (:func:`src_models.outputs.claim_output`). Setting
    ``cancel`` stops between steps, saving a resumable checkpoint.

    Parameters
    ----------
    recording : Recording or str or Path
        Data to adapt to (a path is read with :func:`src_models.readers.read_recording`).
    config : dict
        :class:`src_models.dat.FinetuneConfig` fields.
    cancel : threading.Event
        The stop flag.
    seed : int
        Window sampling seed.
    """
    from src_models.outputs import claim_output

    with claim_output(out, "finetune", folder=True, resume=True):
        if not hasattr(recording, "traces"):
            recording = yield from open_job(recording)
        yield Progress(0, 0, "loading model")
        job = load_model(checkpoint, device).finetune(recording, out, config, seed=seed, device=device)
        job.cancel_event = cancel
        last = yield from job
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


def forecast_worker(recording: Recording, checkpoint: str, device: str, context: int, horizon: int,
                    **kwargs: Any) -> Any:
    """Worker for :func:`forecast_job`."""
    return _worker(forecast_job, recording, checkpoint, device, context, horizon, **kwargs)


def decode_worker(recording: Recording, target: str, **kwargs: Any) -> Any:
    """Worker for :func:`decode_job`."""
    return _worker(decode_job, recording, target, **kwargs)


def finetune_worker(recording: Recording | str | Path, checkpoint: str, out: str | Path,
                    config: dict[str, Any], device: str, seed: int = 0) -> Any:
    """Worker for :func:`finetune_job` (cancelling stops through the engine's stop flag)."""
    return _worker(finetune_job, recording, checkpoint, out, config, device, handles_cancel=True, seed=seed)
