"""The CalM bundle: NQ tokenizer + dual-axis Transformer + per-neuron normalisation.

A CalM checkpoint is one folder written atomically by
:func:`src_models.checkpoint.save_checkpoint`::

    config.json        {"model": "calm", "config": {"dat": ..., "tokenizer": ...},
                        "nq": {NQ config}, "sessions": [...], "state": {...}}
    model.safetensors  dat.* (DAT weights), nq.* (NQ weights), norm.mean / norm.std
                       (one row per neuron embedding row), optionally optim.* (resume)

``sessions`` lists every recording with embeddings (name, source, frame range, fingerprint,
first neuron row, session row, frame rate); a recording whose fingerprint is listed reuses
them. :func:`load_calm` also accepts a training output folder (``best/`` and ``last/``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from src_models.checkpoint import load_checkpoint, load_state_strict, read_meta, save_checkpoint
from src_models.dat.config import DATConfig, TokenizerPolicy
from src_models.dat.model import DualAxisTransformer
from src_models.dat.tokens import FrameTokenizer
from src_models.errors import CalmError

KIND = "calm"
DEFAULT_DIR = ("weights", "calm")


class CalM(nn.Module):
    """NQ + DAT + normalisation, the unit that is saved, loaded, adapted and forecast with.

    Parameters
    ----------
    nq : NeuralQuantizer
        The (frozen) tokenizer.
    dat : DualAxisTransformer
        The dual-axis Transformer.
    policy : TokenizerPolicy
        How frames become tokens.
    sessions : list of dict, optional
        Recordings with embeddings (see the module docstring).
    norm_mean, norm_std : Tensor, optional
        ``(n_neurons,)`` z-score statistics per neuron row (row 0 generic: 0, 1).
    """

    def __init__(
        self,
        nq: nn.Module,
        dat: DualAxisTransformer,
        policy: TokenizerPolicy | None = None,
        sessions: list[dict[str, Any]] | None = None,
        norm_mean: torch.Tensor | None = None,
        norm_std: torch.Tensor | None = None,
    ) -> None:
        super().__init__()
        self.nq = nq
        self.dat = dat
        self.policy = policy or TokenizerPolicy()
        self._tokenizer = FrameTokenizer(self.nq, self.policy)
        self.sessions: list[dict[str, Any]] = list(sessions or [])
        n = dat.cfg.n_neurons
        self.register_buffer("norm_mean", torch.zeros(n) if norm_mean is None else norm_mean.float().clone())
        self.register_buffer("norm_std", torch.ones(n) if norm_std is None else norm_std.float().clone())
        for p in self.nq.parameters():
            p.requires_grad_(False)
        self.nq.eval()

    # -- construction -------------------------------------------------------------------
    @classmethod
    def build(cls, nq: nn.Module, dat_cfg: DATConfig, policy: TokenizerPolicy | None = None) -> CalM:
        """A fresh CalM whose DAT matches ``nq`` (K, P and code vectors copied from it)."""
        c = nq.config
        dat_cfg.codebook_size = int(c.codebook_size)
        dat_cfg.patch_len = int(c.patch_len)
        dat_cfg.code_dim = int(c.code_dim)
        with torch.no_grad():
            vectors = nq.quantizer.code_vectors().detach().float().cpu()
        return cls(nq, DualAxisTransformer(dat_cfg, vectors), policy)

    @property
    def patch_len(self) -> int:
        return int(self.nq.config.patch_len)

    @property
    def device(self) -> torch.device:
        return self.norm_mean.device

    def train(self, mode: bool = True) -> CalM:
        super().train(mode)
        self.nq.eval()  # the tokenizer is always in inference mode
        return self

    @property
    def tokenizer(self) -> FrameTokenizer:
        """Frames ↔ tokens with this bundle's NQ and policy."""
        if self._tokenizer.nq is not self.nq or self._tokenizer.policy is not self.policy:
            self._tokenizer = FrameTokenizer(self.nq, self.policy)
        return self._tokenizer

    def tokenize(self, z: np.ndarray, fs: float) -> tuple[np.ndarray, np.ndarray]:
        """Tokens ``(N, n_tok)`` and model-rate values of z-scored frames (see :class:`FrameTokenizer`)."""
        return self.tokenizer.tokenize(z, fs)

    # -- sessions -------------------------------------------------------------------------
    def find_session(self, fingerprint: str) -> dict[str, Any] | None:
        """The stored session with this content fingerprint, if any (latest wins)."""
        for s in reversed(self.sessions):
            if fingerprint and s.get("fingerprint") == fingerprint:
                return s
        return None

    def add_session(
        self,
        *,
        name: str,
        source: str,
        fs: float,
        mean: np.ndarray,
        std: np.ndarray,
        fingerprint: str,
        frames: list[int],
    ) -> dict[str, Any]:
        """Append embedding rows (initialised from the generic rows) for a new recording."""
        N = len(mean)
        first_n, first_s = self.dat.grow_embeddings(N, 1)
        self.norm_mean = torch.cat([self.norm_mean, torch.as_tensor(mean, dtype=torch.float32, device=self.device)])
        self.norm_std = torch.cat([self.norm_std, torch.as_tensor(std, dtype=torch.float32, device=self.device)])
        entry = {
            "name": name,
            "source": source,
            "fs": float(fs),
            "n_neurons": int(N),
            "neuron_offset": int(first_n),
            "session_row": int(first_s),
            "frames": [int(f) for f in frames],
            "fingerprint": fingerprint,
        }
        self.sessions.append(entry)
        return entry

    def session_norm(self, entry: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
        """``(mean, std)`` ``(N, 1)`` the model z-scores this session with."""
        a = entry["neuron_offset"]
        sl = slice(a, a + entry["n_neurons"])
        return (
            self.norm_mean[sl].cpu().numpy()[:, None].astype(np.float32),
            self.norm_std[sl].cpu().numpy()[:, None].astype(np.float32),
        )

    # -- persistence ----------------------------------------------------------------------
    def state_tensors(self) -> dict[str, torch.Tensor]:
        """Every tensor of the bundle, prefixed ``dat.``, ``nq.`` and ``norm.``."""
        out = {f"dat.{k}": v for k, v in self.dat.state_dict().items()}
        out.update({f"nq.{k}": v for k, v in self.nq.state_dict().items()})
        out["norm.mean"] = self.norm_mean
        out["norm.std"] = self.norm_std
        return out

    def meta(self, state: dict[str, Any] | None = None) -> dict[str, Any]:
        """The ``config.json`` object of this bundle."""
        return {
            "model": KIND,
            "config": {"dat": self.dat.cfg.to_dict(), "tokenizer": self.policy.to_dict()},
            "nq": self.nq.config.to_dict(),
            "sessions": self.sessions,
            "state": state or {},
        }


def save_calm(
    model: CalM,
    directory: str | Path,
    *,
    state: dict[str, Any] | None = None,
    extra_tensors: dict[str, torch.Tensor] | None = None,
) -> Path:
    """Write ``model`` to ``directory`` atomically (see the module docstring).

    Parameters
    ----------
    state : dict, optional
        JSON training state (step, metrics, provenance) stored under ``"state"``.
    extra_tensors : dict, optional
        More tensors (optimizer moments, prefixed ``optim.``) for resuming.
    """
    tensors = model.state_tensors()
    tensors.update(extra_tensors or {})
    return save_checkpoint(directory, tensors, model.meta(state))


def resolve_checkpoint(path: str | Path) -> Path:
    """The bundle folder behind ``path``: itself, or its ``best/`` (then ``last/``) child."""
    path = Path(path)
    if (path / "config.json").is_file():
        return path
    for child in ("best", "last"):
        if (path / child / "config.json").is_file():
            return path / child
    if not path.exists():
        raise CalmError("checkpoint folder not found", path)
    raise CalmError("not a CalM checkpoint (no config.json, best/ or last/)", path)


def default_calm_path() -> Path:
    """The shipped default model folder (``resources/weights/calm``)."""
    # src_models never imports napari_calm; the resources folder sits beside both packages
    root = Path(__file__).resolve().parents[2]
    for candidate in (root / "napari_calm" / "resources", root / "resources"):
        if candidate.is_dir():
            return candidate.joinpath(*DEFAULT_DIR)
    return root.joinpath("resources", *DEFAULT_DIR)


def load_calm(
    path: str | Path | None = None, device: str | torch.device | None = "cpu", *, with_extra: bool = False
) -> CalM | tuple[CalM, dict[str, torch.Tensor], dict[str, Any]]:
    """Load a CalM bundle (the shipped default when ``path`` is None).

    Parameters
    ----------
    path : str or Path, optional
        A bundle folder or a training output folder (``best/`` is used).
    device : str or torch.device
        Where to put the model.
    with_extra : bool
        Also return ``(extra tensors such as optim.*, meta)``.

    Raises
    ------
    CalmError
        Missing folder, wrong model kind, tensors that do not match the config.
    """
    from src_models.nq.config import NQConfig
    from src_models.nq.model import NeuralQuantizer

    if path is None:
        path = default_calm_path()
        if not (path / "config.json").is_file():
            raise CalmError("the shipped default CalM model is missing from this installation", path)
    directory = resolve_checkpoint(path)
    read_meta(directory)
    tensors, meta = load_checkpoint(directory, expected_kind=KIND)
    try:
        cfg = meta["config"]
        dat_cfg = DATConfig.from_dict(cfg["dat"], directory)
        policy = TokenizerPolicy.from_dict(cfg.get("tokenizer"), directory)
        nq_cfg = NQConfig.from_dict(meta["nq"], directory)
        sessions = list(meta.get("sessions", []))
    except (KeyError, TypeError) as exc:
        raise CalmError(f"checkpoint config is incomplete (missing {exc})", directory) from None
    nq = NeuralQuantizer(nq_cfg)
    load_state_strict(nq, {k[3:]: v for k, v in tensors.items() if k.startswith("nq.")}, directory)
    dat = DualAxisTransformer(dat_cfg)
    load_state_strict(dat, {k[4:]: v for k, v in tensors.items() if k.startswith("dat.")}, directory)
    n = dat_cfg.n_neurons
    mean, std = tensors.get("norm.mean"), tensors.get("norm.std")
    if mean is None or std is None or mean.shape != (n,) or std.shape != (n,):
        raise CalmError(f"normalisation tensors missing or not of shape ({n},)", directory)
    model = CalM(nq, dat, policy, sessions, mean, std).to(device)
    model.eval()
    if with_extra:
        extra = {k: v for k, v in tensors.items() if k.startswith("optim.")}
        return model, extra, meta
    return model
