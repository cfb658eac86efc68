"""Multi-session token corpus: tokenized once, stored memory-mapped, windows sampled per batch.

On disk (``root/``)::

    index.json                  # sessions, sizes, splits, patch length, vocabulary size
    s00000.tokens.u16           # (n_tokens, N) uint16, time-major
    s00000.values.f16           # (n_tokens * P, N) float16 z-scored frames (optional)
    s00000.norm.npy             # (2, N) float32 per-neuron mean and std (z-scoring)

Time-major storage makes a window one contiguous slice of the file, so corpora
larger than RAM stream from the page cache. Every session keeps its own time
split (the last ``val_fraction`` of its tokens validates). Sessions are sharded
across DDP ranks, and a window draws at most ``max_neurons`` of its neurons.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from src_models.errors import CalmError
from src_models.outputs import write_atomic

INDEX_NAME = "index.json"
CORPUS_VERSION = 1


@dataclass
class SessionEntry:
    """One tokenized session of a corpus.

    Attributes
    ----------
    name : str
        Human-readable name (file stem, simulated session id).
    source : str
        Where it came from (path, with the time range used).
    n_neurons, n_tokens : int
        Grid size.
    fs : float
        Frame rate in Hz.
    neuron_offset : int
        Row of its first neuron in the model's neuron embedding table.
    session_row : int
        Row in the model's session embedding table.
    val_start : int
        First validation token (tokens ``[0, val_start)`` are for training).
    frames : list of int
        ``[start, stop)`` frames of the recording that were tokenized.
    fingerprint : str
        Content hash of the traces (finds the session again later).
    """

    name: str
    source: str
    n_neurons: int
    n_tokens: int
    fs: float
    neuron_offset: int
    session_row: int
    val_start: int
    frames: list[int]
    fingerprint: str = ""


@dataclass
class Batch:
    """A padded batch of population windows.

    Attributes
    ----------
    tokens : LongTensor
        ``(B, N, T)``.
    neuron_ids : LongTensor
        ``(B, N)`` neuron embedding rows (0 for padding and dropped ids).
    session_ids : LongTensor
        ``(B,)``.
    mask : BoolTensor
        ``(B, N)`` True for real neurons.
    values : FloatTensor or None
        ``(B, N, T * P)`` z-scored frames (NaN for padding).
    masked : BoolTensor or None
        ``(B, N)`` neurons whose input tokens are masked (masked-neuron pretraining).
    """

    tokens: torch.Tensor
    neuron_ids: torch.Tensor
    session_ids: torch.Tensor
    mask: torch.Tensor
    values: torch.Tensor | None
    masked: torch.Tensor | None = None

    def to(self, device: torch.device) -> Batch:
        return Batch(*(None if t is None else t.to(device) for t in (
            self.tokens, self.neuron_ids, self.session_ids, self.mask, self.values, self.masked)))


class TokenCorpus:
    """A memory-mapped multi-session token corpus (see the module docstring).

    Parameters
    ----------
    root : Path
        Folder holding ``index.json`` and the session files.
    """

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        path = self.root / INDEX_NAME
        try:
            index = json.loads(path.read_text())
        except FileNotFoundError:
            raise CalmError("not a token corpus (no index.json)", self.root) from None
        except (OSError, json.JSONDecodeError) as exc:
            raise CalmError(f"unreadable corpus index ({exc.__class__.__name__})", path) from None
        if index.get("version") != CORPUS_VERSION:
            raise CalmError(f"corpus version {index.get('version')} is not {CORPUS_VERSION}", path)
        self.patch_len = int(index["patch_len"])
        self.codebook_size = int(index["codebook_size"])
        self.has_values = bool(index["has_values"])
        self.meta: dict[str, Any] = index.get("meta", {})
        self.sessions = [SessionEntry(**s) for s in index["sessions"]]
        self._cache: dict[tuple[int, str], np.ndarray] = {}

    # -- building -------------------------------------------------------------------------
    @classmethod
    def create(
        cls,
        root: str | Path,
        sessions: Iterable[dict[str, Any]],
        *,
        patch_len: int,
        codebook_size: int,
        meta: dict[str, Any] | None = None,
    ) -> TokenCorpus:
        """Write a corpus from already tokenized sessions.

        Parameters
        ----------
        root : Path
            Output folder (created).
        sessions : iterable of dict
            Each with ``name``, ``source``, ``fs``, ``tokens`` ``(N, n_tok)``
            int, optional ``values`` ``(N, n_tok * P)`` float, ``mean``/``std``
            ``(N,)``, ``val_fraction``, ``frames`` and ``fingerprint``. Sessions
            are written one at a time so a corpus larger than RAM can be built
            from a generator.
        patch_len, codebook_size : int
            NQ's P and K (``K <= 65536`` for uint16 storage).
        meta : dict, optional
            Stored in the index (e.g. the tokenizer identity).
        """
        if codebook_size > 65536:
            raise CalmError(f"codebook of {codebook_size} codes does not fit uint16 storage", root)
        root = Path(root)
        root.mkdir(parents=True, exist_ok=True)
        entries: list[dict[str, Any]] = []
        has_values: bool | None = None
        offset = 1  # row 0 of the neuron table is the generic neuron
        for i, s in enumerate(sessions):
            tokens = np.asarray(s["tokens"])
            N, n_tok = tokens.shape
            stem = f"s{i:05d}"
            write_atomic(root / f"{stem}.tokens.u16", tokens.T.astype(np.uint16).tobytes())
            values = s.get("values")
            if has_values is None:
                has_values = values is not None
            if has_values != (values is not None):
                raise CalmError("either every session of a corpus stores values or none does", root)
            if values is not None:
                vals = np.asarray(values, np.float32)[:, : n_tok * patch_len]
                write_atomic(root / f"{stem}.values.f16", vals.T.astype(np.float16).tobytes())
            mean = np.asarray(s.get("mean", np.zeros(N)), np.float32)
            std = np.asarray(s.get("std", np.ones(N)), np.float32)
            np.save(root / f"{stem}.norm.npy", np.stack([mean, std]))
            val_start = int(np.floor(n_tok * (1 - float(s.get("val_fraction", 0.0)))))
            entry = SessionEntry(
                name=str(s["name"]),
                source=str(s["source"]),
                n_neurons=int(N),
                n_tokens=int(n_tok),
                fs=float(s["fs"]),
                neuron_offset=offset,
                session_row=i + 1,  # row 0 of the session table is the generic session
                val_start=val_start,
                frames=[int(f) for f in s.get("frames", (0, n_tok * patch_len))],
                fingerprint=str(s.get("fingerprint", "")),
            )
            entries.append(asdict(entry))
            offset += N
        index = {
            "version": CORPUS_VERSION,
            "patch_len": int(patch_len),
            "codebook_size": int(codebook_size),
            "has_values": bool(has_values),
            "meta": meta or {},
            "sessions": entries,
        }
        write_atomic(root / INDEX_NAME, json.dumps(index, indent=1).encode())
        return cls(root)

    # -- access ---------------------------------------------------------------------------
    @property
    def n_neurons_total(self) -> int:
        """Neurons over all sessions (the neuron table needs one more row, the generic one)."""
        return sum(s.n_neurons for s in self.sessions)

    def tokens(self, i: int) -> np.ndarray:
        """``(n_tokens, N)`` uint16 memory map of session ``i``."""
        return self._map(i, "tokens")

    def values(self, i: int) -> np.ndarray:
        """``(n_tokens * P, N)`` float16 memory map of session ``i``'s z-scored frames."""
        if not self.has_values:
            raise CalmError("this corpus stores tokens only", self.root)
        return self._map(i, "values")

    def norm(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """Per-neuron ``(mean, std)`` used to z-score session ``i``."""
        arr = np.load(self.root / f"s{i:05d}.norm.npy", allow_pickle=False)
        return arr[0], arr[1]

    def _map(self, i: int, kind: str) -> np.ndarray:
        key = (i, kind)
        if key not in self._cache:
            s = self.sessions[i]
            if kind == "tokens":
                path, dtype, rows = self.root / f"s{i:05d}.tokens.u16", np.uint16, s.n_tokens
            else:
                path, dtype, rows = self.root / f"s{i:05d}.values.f16", np.float16, s.n_tokens * self.patch_len
            try:
                self._cache[key] = np.memmap(path, dtype=dtype, mode="r", shape=(rows, s.n_neurons))
            except (OSError, ValueError) as exc:
                raise CalmError(f"corpus file is missing or truncated ({exc.__class__.__name__})", path) from None
        return self._cache[key]


class WindowSampler:
    """Draws padded batches of population windows from a :class:`TokenCorpus`.

    Batches are a pure function of ``(seed, rank, step)``, so training resumes
    exactly where it stopped without storing sampler state.

    Parameters
    ----------
    corpus : TokenCorpus
        The data.
    split : {'train', 'val'}
        Token range of every session to draw from.
    window_tokens, max_neurons, batch_size : int
        Window length, neurons per window (subsampled without replacement),
        windows per batch.
    rank, world : int
        DDP rank and world size; sessions are sharded ``rank::world`` (every
        rank sees every session when there are fewer sessions than ranks).
    seed : int
        Base seed.
    id_dropout : float
        Probability of replacing a neuron id / a window's session id by 0.
    mask_neurons : float
        Fraction of each training window's real neurons marked ``masked``.
    with_values : bool
        Also gather z-scored values (for the regression head).
    """

    def __init__(
        self, corpus: TokenCorpus, split: str = "train", *, window_tokens: int, max_neurons: int,
        batch_size: int, rank: int = 0, world: int = 1, seed: int = 0, id_dropout: float = 0.0,
        mask_neurons: float = 0.0, with_values: bool = True,
    ) -> None:
        if split not in ("train", "val"):
            raise ValueError("split must be 'train' or 'val'")
        self.corpus = corpus
        self.split = split
        self.window = window_tokens
        self.max_neurons = max_neurons
        self.batch_size = batch_size
        self.rank, self.world, self.seed = rank, world, seed
        self.id_dropout = id_dropout
        self.mask_neurons = mask_neurons
        self.with_values = with_values and corpus.has_values
        ids = list(range(len(corpus.sessions)))
        if len(ids) >= world:
            ids = ids[rank::world]
        ranges = [self._range(i) for i in ids]
        keep = [(i, r) for i, r in zip(ids, ranges) if r[1] - r[0] >= self.window]
        if not keep:
            raise CalmError(
                f"no session has {self.window} {split} tokens for a window (shorter windows or more data needed)",
                corpus.root,
            )
        self.session_ids = np.array([i for i, _ in keep])
        self.ranges = np.array([r for _, r in keep])
        n_windows = self.ranges[:, 1] - self.ranges[:, 0] - self.window + 1
        sizes = np.array([corpus.sessions[i].n_neurons for i in self.session_ids])
        weight = n_windows * np.minimum(sizes, max_neurons)
        self.p = weight / weight.sum()

    def _range(self, i: int) -> tuple[int, int]:
        s = self.corpus.sessions[i]
        return (0, s.val_start) if self.split == "train" else (s.val_start, s.n_tokens)

    def batch(self, step: int) -> Batch:
        """The batch of ``step`` (deterministic in ``(seed, rank, step)``)."""
        rng = np.random.default_rng([self.seed, self.rank, step, 0 if self.split == "train" else 1])
        picks = rng.choice(len(self.session_ids), size=self.batch_size, p=self.p)
        windows = []
        for k in picks:
            lo, hi = self.ranges[k]
            t0 = int(rng.integers(lo, hi - self.window + 1))
            windows.append((int(self.session_ids[k]), t0))
        return self.gather(windows, rng)

    def fixed_batches(self, n_windows: int, batch_size: int | None = None) -> list[Batch]:
        """``n_windows`` windows spread evenly over sessions and time (validation)."""
        rng = np.random.default_rng([self.seed, 10_000 + self.rank])
        windows = []
        for j in range(n_windows):
            k = j % len(self.session_ids)
            lo, hi = self.ranges[k]
            n = hi - self.window + 1 - lo
            rep = j // len(self.session_ids)
            reps = max(1, n_windows // len(self.session_ids))
            t0 = lo + int(round((rep % reps + 0.5) * n / reps - 0.5)) if n > 1 else lo
            windows.append((int(self.session_ids[k]), min(max(lo, t0), hi - self.window)))
        bs = batch_size or self.batch_size
        return [self.gather(windows[i : i + bs], rng, dropout=False) for i in range(0, len(windows), bs)]

    def gather(
        self, windows: list[tuple[int, int]], rng: np.random.Generator, *, dropout: bool = True
    ) -> Batch:
        """Read windows ``(session, first token)`` from the memory maps into a padded batch."""
        W, P = self.window, self.corpus.patch_len
        sizes = [min(self.corpus.sessions[s].n_neurons, self.max_neurons) for s, _ in windows]
        B, N = len(windows), max(sizes)
        tokens = np.zeros((B, N, W), np.int64)
        nids = np.zeros((B, N), np.int64)
        sids = np.zeros(B, np.int64)
        mask = np.zeros((B, N), bool)
        values = np.full((B, N, W * P), np.nan, np.float32) if self.with_values else None
        for b, (s, t0) in enumerate(windows):
            entry = self.corpus.sessions[s]
            n = sizes[b]
            idx = np.sort(rng.choice(entry.n_neurons, size=n, replace=False)) if n < entry.n_neurons else np.arange(n)
            block = np.asarray(self.corpus.tokens(s)[t0 : t0 + W])  # (W, N_s) contiguous read
            tokens[b, :n] = block[:, idx].T
            nids[b, :n] = entry.neuron_offset + idx
            sids[b] = entry.session_row
            mask[b, :n] = True
            if values is not None:
                vb = np.asarray(self.corpus.values(s)[t0 * P : (t0 + W) * P], np.float32)
                values[b, :n] = vb[:, idx].T
        if dropout and self.id_dropout > 0:
            nids[rng.random(nids.shape) < self.id_dropout] = 0
            sids[rng.random(B) < self.id_dropout] = 0
        masked = None
        if dropout and self.mask_neurons > 0:  # drawn last: batches without masking stay as they were
            masked = torch.from_numpy(mask & (rng.random(mask.shape) < self.mask_neurons))
        tensors = (torch.from_numpy(a) for a in (tokens, nids, sids, mask))
        return Batch(*tensors, None if values is None else torch.from_numpy(values), masked)


def tokenize_sessions(
    items: Iterable[dict[str, Any]],
    tokenize: Callable[[np.ndarray, float], tuple[np.ndarray, np.ndarray]],
    *,
    val_fraction: float,
    store_values: bool = True,
) -> Iterable[dict[str, Any]]:
    """Tokenize prepared sessions one by one for :meth:`TokenCorpus.create`.

    Parameters
    ----------
    items : iterable of dict
        Each with ``name``, ``source``, ``fs``, ``traces`` ``(N, T)`` (raw,
        time range already applied), ``frames`` and ``fingerprint``.
    tokenize : callable
        ``(z-scored traces (N, T), fs) -> (tokens (N, n_tok), z-scored values on the
        token grid (N, n_tok * P))``.
    val_fraction : float
        Last fraction of each session kept for validation; the z-score
        statistics come from the other frames only.
    store_values : bool
        Keep the z-scored values (needed by the regression head).
    """
    from src_models.preprocessing import ZScore

    for item in items:
        traces = np.asarray(item["traces"], np.float32)
        n_train = max(1, int(round(traces.shape[1] * (1 - val_fraction))))
        z = ZScore.fit(traces[:, :n_train])
        tokens, values = tokenize(z.transform(traces), float(item["fs"]))
        out = {k: item[k] for k in ("name", "source", "fs", "frames", "fingerprint")}
        out.update(
            tokens=tokens, values=values if store_values else None, mean=z.mean[:, 0], std=z.std[:, 0],
            val_fraction=val_fraction,
        )
        yield out


class ArrayCorpus:
    """One session held in memory with the :class:`TokenCorpus` interface (for adaptation).

    Parameters
    ----------
    train_tokens, val_tokens : ndarray
        ``(N, n)`` tokens of the training and validation parts (tokenized
        separately, so no window straddles the boundary).
    train_values, val_values : ndarray or None
        ``(N, n * P)`` z-scored model-rate frames on the same grid.
    patch_len : int
        P.
    entry : SessionEntry
        Embedding rows of the session (``val_start``/``n_tokens`` are set here).
    """

    def __init__(
        self, train_tokens: np.ndarray, val_tokens: np.ndarray, train_values: np.ndarray | None,
        val_values: np.ndarray | None, patch_len: int, entry: SessionEntry,
    ) -> None:
        self.root = Path(entry.source)
        self.patch_len = patch_len
        self.has_values = train_values is not None
        self._tokens = np.concatenate([train_tokens, val_tokens], axis=1).T.astype(np.uint16)
        self._values = None
        if train_values is not None and val_values is not None:
            self._values = np.concatenate([train_values, val_values], axis=1).T.astype(np.float32)
        entry.val_start = int(train_tokens.shape[1])
        entry.n_tokens = int(self._tokens.shape[0])
        self.sessions = [entry]
        self.meta: dict[str, Any] = {}

    @property
    def n_neurons_total(self) -> int:
        return self.sessions[0].n_neurons

    def tokens(self, i: int) -> np.ndarray:
        return self._tokens

    def values(self, i: int) -> np.ndarray:
        if self._values is None:
            raise CalmError("no values held for this recording", self.root)
        return self._values
