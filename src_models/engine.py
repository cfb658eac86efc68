"""The object a user holds: :class:`CalM` (a checkpoint) and :class:`Adapted` (it, adapted to a recording).

::

    from src_models import CalM, read_recording
    rec = read_recording("suite2p/", fs=30)
    model = CalM.from_pretrained()                 # or CalM.load("runs/ft")
    ad = model.adapt(rec)                          # cached per recording; never mutates model
    ad.tokens(), ad.reconstruction()               # exactly the tokens the DAT reads
    fc = ad.forecast(context=48, horizon=16)       # ForecastResult with metrics vs copy-last
    emb = ad.embed(method="umap")                  # neuron embeddings + tuning
    dec = ad.decode("choice")                      # CV scores vs baselines
    run = model.finetune(rec, out="runs/ft")       # a Job: iterate progress, cancel, resume

``calm forecast``, the docks and ``calm bench``'s CalM row go through the same calls. An
adaptation is cached in memory and on disk (``$NAPARI_CALM_CACHE/adapted``, default
``~/.cache/napari-calm``) under a key made of the prepared recording's fingerprint, the checkpoint
and the adaptation settings, so adapting the same recording again only loads it.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Generator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from src_models.errors import CalmError
from src_models.jobs import Job, JobCancelled, Progress
from src_models.preparation import PreparedRecording, prepare_recording
from src_models.recording import Recording
from src_models.settings import AdaptSettings, DecodeSettings, EmbedSettings, ForecastSettings

#: adaptations kept in memory
MEMORY_CACHE_SIZE = 4
_MEMORY: OrderedDict[str, tuple[Any, dict[str, Any], dict[Any, Any]]] = OrderedDict()
_LOCK = threading.Lock()


def cache_root() -> Path:
    """``$NAPARI_CALM_CACHE`` or ``~/.cache/napari-calm``."""
    return Path(os.environ.get("NAPARI_CALM_CACHE", Path.home() / ".cache" / "napari-calm"))


def step_progress(info: dict[str, Any], what: str = "") -> Progress:
    """A DAT progress dict (``step``, ``total``, ``loss``, ``phase``) as a :class:`Progress`."""
    loss = info.get("loss")
    text = f"{what}{info.get('phase', '')}: step {info.get('step')}/{info.get('total')}"
    return Progress(int(info.get("step") or 0), int(info.get("total") or 0),
                    text + ("" if loss is None else f", loss {loss:.3f}"), dict(info))


def early_stopped(model: Any, prep: PreparedRecording, config: Any, *, seed: int = 0, patience: int = 4,
                  deadline: float | None = None) -> Generator[Progress, None, tuple[float, int]]:
    """:func:`~src_models.dat.finetune.finetune` of ``model`` in place, stopped early; yields its progress.

    Each phase stops after ``patience`` validation checks without a lower validation loss (the
    trainer's rule), or before a step that would end after ``deadline`` (a :func:`time.time`;
    a step is assumed to take as long as the longest one so far, validation included); the weights
    of the lowest validation loss are kept. Returns (as the generator's value) that loss and the
    steps run.
    """
    from src_models.dat.finetune import finetune

    longest, last = 0.0, None
    stop = None if deadline is None else (lambda: time.time() + longest >= deadline)
    best, step = float("inf"), 0
    for info in finetune(model, prep, config=config, seed=seed, device=model.device, patience=patience, stop=stop):
        now = time.time()
        longest, last = (longest if last is None else max(longest, now - last)), now
        step = info["step"]
        if info["val_loss"] is not None:
            best = min(best, info["val_loss"])
        if info["phase"] not in ("done", "stopped"):
            yield step_progress(info, "adapting ")
    model.eval()
    return best, step


def adapt_strategies(model: Any, prep: PreparedRecording, settings: AdaptSettings
                     ) -> Generator[Progress, None, tuple[Any, dict[str, Any]]]:
    """Adapt copies of ``model`` with ``settings.strategy``; yields progress, returns the kept one and a report.

    The embeddings phase (``settings.steps``) always runs to its end. Each later candidate
    (``lora``, ``full``; both for ``auto``) starts from its result, runs at most
    ``settings.full_steps`` early-stopped steps and gets an equal share of what is left of
    ``settings.budget_s`` (a candidate that ends early leaves its time to the next); candidates
    not started before the budget ends are reported as skipped. ``auto`` keeps the candidate with
    the lowest validation loss (the adaptation objective on the same fixed validation windows);
    ``lora`` / ``full`` keep theirs unless it was never validated (then the embeddings).

    Returns
    -------
    (model, dict)
        (the generator's value) the kept model and ``strategy``, ``adapt_steps``, ``adapt_seconds``,
        ``adapt_val_loss`` (tried candidates), ``adapt_tried`` (every candidate: ``val_loss``,
        ``steps``, ``seconds``, ``skipped``) and ``adapt_budget_s``.
    """
    from src_models.dat.config import FinetuneConfig

    t0 = time.time()
    deadline = t0 + settings.budget_s
    later = {"auto": ("lora", "full"), "lora": ("lora",), "full": ("full",), "embeddings": ()}[settings.strategy]
    plan = (["embeddings"] if settings.steps else []) + (list(later) if settings.full_steps else [])
    tried: dict[str, dict[str, Any]] = {}
    kept: dict[str, Any] = {}
    for i, phase in enumerate(plan):
        start = time.time()
        if tried and start >= deadline:
            tried[phase] = {"val_loss": None, "steps": 0, "seconds": 0.0, "skipped": True}
            continue
        candidate = copy.deepcopy(kept.get("embeddings", model))
        steps = {"embed_steps": settings.steps} if phase == "embeddings" else {f"{phase}_steps": settings.full_steps}
        cfg = FinetuneConfig(**{"embed_steps": 0, **steps})
        share = None if phase == "embeddings" else start + (deadline - start) / (len(plan) - i)
        val, n = yield from early_stopped(candidate, prep, cfg, seed=settings.seed, deadline=share)
        kept[phase] = candidate
        tried[phase] = {"val_loss": round(val, 4) if math.isfinite(val) else None, "steps": n,
                        "seconds": round(time.time() - start, 2), "skipped": False}
    validated = {k: t["val_loss"] for k, t in tried.items() if t["val_loss"] is not None}
    if settings.strategy == "auto" and validated:
        pick = min(validated, key=validated.get)
    else:
        pick = next((k for k in reversed(list(kept)) if k in validated), list(kept)[-1])
    return kept[pick], {
        "strategy": pick, "adapt_steps": sum(t["steps"] for t in tried.values()),
        "adapt_seconds": round(time.time() - t0, 2), "adapt_val_loss": validated,
        "adapt_tried": tried, "adapt_budget_s": settings.budget_s,
    }


class CalM:
    """A CalM checkpoint (NQ tokenizer + DAT + heads), never modified by what is done with it.

    Parameters
    ----------
    bundle : src_models.dat.calm.CalM
        The loaded model.
    checkpoint : Path, optional
        Where it was loaded from (part of the cache key; None: not cached on disk).
    """

    def __init__(self, bundle: Any, checkpoint: Path | None = None) -> None:
        self.bundle = bundle.eval()
        self.checkpoint = checkpoint

    @classmethod
    def from_pretrained(cls, device: str | None = "cpu") -> CalM:
        """The shipped model (``resources/weights/calm``)."""
        return cls.load(None, device)

    @classmethod
    def load(cls, path: str | Path | None = None, device: str | None = "cpu") -> CalM:
        """A CalM checkpoint folder (or a run folder with ``best/``); the shipped model when None."""
        from src_models.dat.calm import default_calm_path, load_calm, resolve_checkpoint
        from src_models.device import resolve_device

        bundle = load_calm(path, device=resolve_device(device))
        return cls(bundle, resolve_checkpoint(default_calm_path() if path is None else path))

    @property
    def identity(self) -> str:
        """The checkpoint's resolved folder, weights size and modification time (or the object's id)."""
        if self.checkpoint is None:
            return f"memory:{id(self.bundle)}"
        weights = self.checkpoint / "model.safetensors"
        st = weights.stat() if weights.exists() else (self.checkpoint / "config.json").stat()
        return f"{self.checkpoint.resolve()}:{st.st_size}:{st.st_mtime_ns}"

    # -- adaptation -------------------------------------------------------------------------
    def adapt(
        self, recording: Recording | np.ndarray | PreparedRecording, settings: AdaptSettings | None = None,
        *, fs: float | None = None, **overrides: Any,
    ) -> Adapted:
        """:meth:`adapt_job` run to its end (``overrides`` are :class:`AdaptSettings` fields)."""
        return self.adapt_job(recording, settings, fs=fs, **overrides).run()

    def adapt_job(
        self, recording: Recording | np.ndarray | PreparedRecording, settings: AdaptSettings | None = None,
        *, fs: float | None = None, cache: bool = True, **overrides: Any,
    ) -> Job[Adapted]:
        """A :class:`~src_models.jobs.Job` adapting a copy of the model to ``recording``.

        Parameters
        ----------
        recording : Recording or ndarray or PreparedRecording
            The recording (``(N, T)`` traces need ``fs``).
        settings : AdaptSettings, optional
            Steps, ΔF/F policy, seed (defaults: :class:`AdaptSettings`).
        cache : bool
            Look up and store the adaptation in the memory and disk caches.

        Returns
        -------
        Job
            Its result is an :class:`Adapted`; ``info['cache']`` says ``'memory'``, ``'disk'`` or None.
        """
        settings = AdaptSettings(**{**(settings or AdaptSettings()).to_dict(), **overrides})
        return Job(lambda cancel: self._adapt(recording, settings, fs, cache), name="adapting CalM")

    def _adapt(self, recording: Any, settings: AdaptSettings, fs: float | None,
               cache: bool) -> Generator[Progress, None, Adapted]:
        from src_models.dat.calm import load_calm, save_calm

        prep = prepare_recording(recording, fs, dff=settings.dff)
        rec = recording if isinstance(recording, Recording) else None
        key = hashlib.sha1(json.dumps([prep.fingerprint, self.identity, settings.to_dict()]).encode()).hexdigest()[:20]
        folder = cache_root() / "adapted" / key
        with _LOCK:
            hit = _MEMORY.get(key) if cache else None
        if hit is not None:
            return Adapted(hit[0], prep, settings, {**hit[1], "cache": "memory"}, rec, hit[2], self.bundle)
        entry = self.bundle.find_session(prep.fingerprint)
        info: dict[str, Any] = {"adapted": False, "known_recording": bool(entry and entry["n_neurons"] == prep.n_neurons)}
        model = self.bundle
        if cache and self.checkpoint is not None and (folder / "config.json").is_file():
            model, _, meta = load_calm(folder, device=self.bundle.device, with_extra=True)
            info = {**dict(meta.get("state", {}).get("adapt", info)), "cache": "disk"}
        elif not info["known_recording"] and settings.steps + settings.full_steps * (
                settings.strategy != "embeddings") > 0:
            model, report = yield from adapt_strategies(model, prep, settings)
            info.update(adapted=True, **report)
            if cache and self.checkpoint is not None:
                save_calm(model, folder, state={"adapt": info, "key": key})
        model.eval()
        results: dict[Any, Any] = {}
        if cache:
            with _LOCK:
                _MEMORY[key] = (model, {k: v for k, v in info.items() if k != "cache"}, results)
                while len(_MEMORY) > MEMORY_CACHE_SIZE:
                    _MEMORY.popitem(last=False)
        return Adapted(model, prep, settings, {"cache": None, **info}, rec, results, self.bundle)

    # -- fine-tuning ------------------------------------------------------------------------
    def finetune(
        self, recording: Recording | np.ndarray, out: str | Path, config: Any = None, *,
        fs: float | None = None, seed: int = 0, device: str | None = None,
    ) -> Job[dict[str, Any]]:
        """A resumable fine-tune into ``out`` (``best/``, ``last/``) as a :class:`~src_models.jobs.Job`.

        The model held here is not changed (a copy is trained). Cancelling saves ``out/last``;
        ``job.resume()`` (or a new job with the same ``out``) continues from it. The job's result
        is the last progress dict (``phase`` ``'done'`` or ``'stopped'``, ``checkpoint``).
        """
        from src_models.dat.finetune import finetune

        def run(cancel: threading.Event) -> Generator[Progress, None, dict[str, Any]]:
            last: dict[str, Any] = {}
            for info in finetune(copy.deepcopy(self.bundle), recording, fs=fs, config=config, out=out,
                                 stop=cancel, seed=seed, device=device or self.bundle.device):
                last = info
                yield step_progress(info)
            return last

        return Job(run, handles_cancel=True, name="fine-tuning CalM")


@dataclass
class Adapted:
    """A CalM adapted to one recording (or knowing it already).

    Attributes
    ----------
    model : src_models.dat.calm.CalM
        The adapted copy (shared with the cache: read it, do not train it).
    prep : PreparedRecording
        The recording after the one preparation path.
    settings : AdaptSettings
        How it was adapted.
    info : dict
        ``adapted``, ``known_recording``, ``adapt_steps``, ``adapt_seconds``, ``cache``.
    recording : Recording, optional
        The recording itself (behaviour and trials for :meth:`decode` and :meth:`embed`).
    results : dict
        Forecasts already made, by settings (shared by every :class:`Adapted` of one cache entry).
    pretrained : src_models.dat.calm.CalM, optional
        The model before adaptation (the engine's bundle): its states give the ``state_loadings``
        neuron embedding (:meth:`features`). None: :attr:`model`.
    """

    model: Any
    prep: PreparedRecording
    settings: AdaptSettings
    info: dict[str, Any]
    recording: Recording | None = None
    results: dict[Any, Any] = field(default_factory=dict, repr=False)
    pretrained: Any = field(default=None, repr=False)
    _inputs: Any = field(default=None, repr=False)

    def inputs(self) -> Any:
        """The DAT's input grid (:class:`src_models.dat.states.DatInput`) of the whole recording."""
        from src_models.dat.states import dat_input

        if self._inputs is None:
            self._inputs = dat_input(self.model, self.prep)
        return self._inputs

    def zscored(self) -> np.ndarray:
        """``(N, T)`` the prepared traces z-scored as the model reads them."""
        mean, std = self.prep.mean, self.prep.std
        if self.inputs().known:
            mean, std = self.model.session_norm(self.model.find_session(self.prep.fingerprint))
        return ((self.prep.traces - mean) / std).astype(np.float32)

    def tokens(self) -> np.ndarray:
        """``(N, n_tokens)`` the causal tokens the DAT reads (``inputs().token_frames``: their last frames)."""
        return self.inputs().tokens.cpu().numpy()

    def reconstruction(self) -> np.ndarray:
        """``(N, T)`` the tokens decoded through NQ in the :meth:`zscored` space (NaN after the last token)."""
        inp = self.inputs()
        tok = self.model.tokenizer
        n = int(inp.token_frames[-1]) + 1
        out = np.full((self.prep.n_neurons, self.prep.n_frames), np.nan, np.float32)
        out[:, :n] = tok.from_model_rate(tok.decode(inp.tokens).cpu().numpy(), self.prep.fs, n)
        return out

    def reconstruction_r(self) -> np.ndarray:
        """``(N,)`` Pearson r of every neuron's :meth:`zscored` trace and its :meth:`reconstruction`."""
        from src_models.metrics import pooled_corr_per_neuron

        n = int(self.inputs().token_frames[-1]) + 1
        return pooled_corr_per_neuron(self.reconstruction()[:, None, :n].T, self.zscored()[:, None, :n].T)

    def forecast(self, context: int = 48, horizon: int = 16, settings: ForecastSettings | None = None,
                 **overrides: Any) -> Any:
        """Every test window's forecast, scored against copy-last (:class:`~src_models.dat.forecast.ForecastResult`).

        ``overrides`` are :class:`ForecastSettings` fields; sampling uses the adaptation's seed,
        as ``calm forecast`` does. A forecast already made with the same settings is returned
        again (``info['cached']``).
        """
        from src_models.dat.forecast import forecast_prepared

        s = settings or ForecastSettings(context=context, horizon=horizon, **overrides)
        if s in self.results:
            self.results[s].info["cached"] = True
            return self.results[s]
        self.results[s] = forecast_prepared(
            self.model, self.prep, s.context, s.horizon, n_samples=s.samples, stride=s.stride,
            max_val_windows=s.max_val_windows, seed=self.settings.seed, linear_skip=not s.no_skip,
            range_guard=not s.no_guard,
            info={k: v for k, v in self.info.items() if k != "cache"})
        return self.results[s]

    def features(self, name: str = "calm", **kwargs: Any) -> Any:
        """A :class:`~src_models.analysis.calm_features.CalmFeatures` of the adapted model (its
        ``state_loadings`` from the :attr:`pretrained` one's states)."""
        from src_models.analysis.calm_features import CalmFeatures

        kwargs.setdefault("loadings_model", self.pretrained)
        return CalmFeatures(self.model, name=name, device=str(self.model.device), seed=self.settings.seed, **kwargs)

    def _recording(self) -> Recording:
        if self.recording is None:
            raise CalmError("decoding and embedding need a Recording (behaviour, trials), not bare traces")
        return self.recording

    def embed(self, method: str = EmbedSettings.method, **kwargs: Any) -> Any:
        """Neuron embeddings, 2-D map and cue/choice tuning (:func:`~src_models.analysis.neuron_map.analyse_neurons`).

        The map defaults to ``calm embed``'s (:class:`~src_models.settings.EmbedSettings`).
        """
        from src_models.analysis.neuron_map import analyse_neurons

        kwargs.setdefault("seed", self.settings.seed)
        return analyse_neurons(self._recording(), self.features(), method=method, **kwargs)

    def decode(self, target: str, context: int = DecodeSettings.context, **kwargs: Any) -> Any:
        """Cross-validated decoding of ``target`` vs baselines (:func:`~src_models.analysis.decoding.decode`).

        CalM's heads (default ``hybrid``, as ``calm decode``) read the adapted model's per-neuron states
        over the tokens covering ``context`` frames (``calm_adapted_neurons_*``, as ``calm decode`` names them).
        """
        from src_models.analysis.decoding import decode
        from src_models.nq.rate import frames_to_tokens

        kwargs.setdefault("seed", self.settings.seed)
        kwargs.setdefault("device", str(self.model.device))
        window = max(2, frames_to_tokens(context, self.prep.fs, self.model.nq.config))
        extractor = self.features("calm_adapted_neurons", window_tokens=window)
        return decode(self._recording(), target, extractors=[extractor], context=context, **kwargs)


__all__ = ["Adapted", "CalM", "JobCancelled", "cache_root"]
