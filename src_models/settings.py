"""Settings of the engine's tasks: one dataclass per task, holding the defaults and the validation.

The command line generates its options from these fields
(:func:`napari_calm.cli.options.add_settings`) and the docks read their defaults from them, so
``calm forecast``, the forecast dock and ``CalM.adapt(...).forecast()`` cannot drift apart. Each
field's ``metadata`` carries its command-line ``help`` (and ``metavar``, ``choices``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from src_models.errors import CalmError
from src_models.validation import MAX_FS, number

if TYPE_CHECKING:
    from src_models.dat.config import FinetuneConfig

#: CalM read-outs of ``calm decode`` -> the state features each one reads
READOUTS = {"neurons": ("neuron_pcs",), "pooled": ("mean", "std")}
#: adaptation strategies of :class:`AdaptSettings`
STRATEGIES = ("auto", "embeddings", "lora", "full")
#: full fine-tuning steps after the embedding phase when neither --steps nor a config says
DEFAULT_FULL_STEPS = 200


def option(default: Any, help: str, **extra: Any) -> Any:
    """A dataclass field with ``default`` and its command-line ``help`` (and ``metavar``, ``choices``, ``type``)."""
    return field(default=default, metadata={"help": help, **extra})


def split_names(text: str) -> tuple[str, ...]:
    """The names of a comma-separated list (``"ridge, mlp"`` -> ``('ridge', 'mlp')``)."""
    return tuple(n.strip() for n in text.split(",") if n.strip())


@dataclass(frozen=True)
class TokenizeSettings:
    """Tokenizing a recording's traces with the NQ tokenizer (``calm tokenize``).

    Attributes
    ----------
    batch_windows : int
        Windows per tokenizer call (bounds memory, not the result).
    """

    batch_windows: int = option(4096, "windows per tokenizer call; bounds memory, not the result (default 4096)",
                                metavar="N")

    def __post_init__(self) -> None:
        if self.batch_windows < 1:
            raise CalmError(f"--batch-windows must be >= 1, got {self.batch_windows}")


@dataclass(frozen=True)
class AdaptSettings:
    """Label-free adaptation of CalM to a recording (``auto``: the strategy chosen on the validation split).

    Attributes
    ----------
    steps : int
        Embedding steps with the backbone frozen (0 with ``full_steps`` 0: no adaptation, generic embeddings).
    full_steps : int
        At most this many steps of each later candidate after them — low-rank adapters
        (``lora``) or the whole DAT (``full``) — early-stopped on the validation loss.
    strategy : {'auto', 'embeddings', 'lora', 'full'}
        ``embeddings``: the new embeddings only; ``lora``: then low-rank adapters of the blocks'
        linear layers (backbone frozen, merged into the weights); ``full``: then the whole DAT;
        ``auto``: all three, the one with the lowest validation loss kept
        (:func:`src_models.engine.adapt_strategies`).
    budget_s : float
        Wall-time budget of the adaptation in seconds: the later candidates share what the
        embeddings phase (which always runs its ``steps``) leaves of it.
    dff : {'auto', 'yes', 'no'}
        ΔF/F policy of the preparation (:mod:`src_models.preparation`).
    seed : int
        Window sampling seed.
    """

    steps: int = option(150, "adaptation steps of the neuron/session embeddings, backbone frozen (default 150)",
                      metavar="N")
    full_steps: int = option(300, "then at most N steps of low-rank adapters or of the whole backbone, "
                             "early-stopped on validation (strategies lora, full and auto; default 300)", metavar="N")
    strategy: str = option("auto", "adaptation: embeddings (backbone frozen), lora (then low-rank adapters), "
                           "full (then the whole DAT) or auto (all three within --budget-s, the lowest "
                           "validation loss kept; default auto)", choices=STRATEGIES)
    budget_s: float = option(120.0, "wall-time budget of the adaptation in seconds: lora and full share what the "
                             "embedding steps leave of it (default 120)", metavar="S")
    dff: str = option("auto", "ΔF/F of raw fluorescence: auto (strictly positive traces), yes or no (default auto)",
                    choices=("auto", "yes", "no"))
    seed: int = option(0, "seed of adaptation and sampling (default 0)")

    def __post_init__(self) -> None:
        if self.steps < 0 or self.full_steps < 0:
            raise CalmError("adaptation steps must be >= 0")
        if self.strategy not in STRATEGIES:
            raise CalmError(f"unknown adaptation strategy {self.strategy!r} (use {', '.join(STRATEGIES)})")
        if not self.budget_s > 0:
            raise CalmError(f"--budget-s must be > 0, got {self.budget_s}")
        if self.dff not in ("auto", "yes", "no"):
            raise CalmError(f"unknown ΔF/F policy {self.dff!r} (use auto, yes or no)")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ForecastSettings:
    """Forecasting every test window of a recording (the evaluation protocol).

    Attributes
    ----------
    context, horizon : int
        Window layout in recorded frames.
    samples : int
        Sampled rollouts per window (uncertainty band and ``sample_mean``); 0: none.
    stride : int
        Frames between test windows.
    max_val_windows : int
        Validation windows (evenly spaced) that choose the variant.
    no_skip : bool
        Leave out the linear skip path (:class:`~src_models.dat.linear_skip.LinearSkip`).
    no_guard : bool
        Forecast without the out-of-range guard (:mod:`~src_models.dat.range_guard`).
    """

    context: int = option(48, "context frames (default 48)", metavar="C")
    horizon: int = option(16, "forecast frames (default 16)", metavar="H")
    samples: int = option(8, "sampled rollouts per window for the band and sample_mean (default 8; 0 = none)",
                        metavar="S")
    stride: int = option(1, "step between test windows (default 1)", metavar="K")
    max_val_windows: int = option(128, "validation windows that choose the variant (default 128)", metavar="W")
    no_skip: bool = option(False, "without the linear skip path (ridge VAR and pooled AR of the training split "
                           "and their stacks with CalM as variants)")
    no_guard: bool = option(False, "without the out-of-range guard (contexts clipped to each neuron's training "
                            "range, the excess carried as copy-last)")

    def __post_init__(self) -> None:
        if self.context < 1 or self.horizon < 1:
            raise CalmError(f"context ({self.context}) and horizon ({self.horizon}) must be positive")
        if self.samples < 0 or self.stride < 1 or self.max_val_windows < 1:
            raise CalmError("--samples must be >= 0, --stride >= 1 and --max-val-windows >= 1")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class DecodeSettings:
    """Cross-validated decoding of one behaviour target (``calm decode``).

    Attributes
    ----------
    level : {'frame', 'trial'}, optional
        Per frame or per trial (default: by the target's kind).
    context, folds, shifts : int
        Decoder context in frames, cross-validation folds, circular shifts for chance.
    baselines, heads, readouts : str
        Comma-separated supervised baselines, CalM heads and CalM read-outs (:data:`READOUTS`).
    finetune_steps : int
        End-to-end fine-tuning steps per fold (0: no ``calm_finetuned``).
    phases : int
        Token grids per patch.
    calm_window : int, optional
        Tokens per DAT pass (default: the tokens covering ``context``).
    min_trials : int
        Minimum trials per class.
    """

    level: str | None = option(None, "per frame or per trial (trial columns)", type=str, choices=("frame", "trial"))
    context: int = option(48, "decoder context in frames (default 48)", metavar="C")
    folds: int = option(5, "cross-validation folds (default 5)", metavar="K")
    shifts: int = option(20, "circular shifts for chance (default 20)", metavar="S")
    baselines: str = option("ridge,mlp", "comma-separated supervised baselines: ridge, mlp, gru (default ridge,mlp;"
                            " gru triples the time)", metavar="LIST")
    heads: str = option("hybrid", "CalM heads: hybrid (ridge on the frame-resolution traces, then the DAT states "
                        "on its residuals where inner validation keeps them), linear, mlp (default hybrid)", metavar="LIST")
    finetune_steps: int = option(0, "also fine-tune the DAT with a task head on each fold's labels for N steps "
                                 "(calm_finetuned; default 0 = off)", metavar="N")
    readouts: str = option("neurons", "CalM state read-outs: neurons (each neuron's state on 4 shared principal "
                           "axes) and/or pooled (mean and std over neurons); default neurons", metavar="LIST")
    phases: int = option(1, "token grids per patch: states every P/K frames instead of every P (K times the "
                         "cost; default 1)", metavar="K")
    calm_window: int | None = option(None, "tokens per DAT pass (default: the tokens covering --context, so every "
                                     "decoder reads the same window)", type=int, metavar="TOKENS")
    min_trials: int = option(5, "minimum trials per class (default 5)", metavar="N")

    def __post_init__(self) -> None:
        if self.folds < 2 or self.context < 1 or min(self.shifts, self.finetune_steps) < 0:
            raise CalmError("--folds must be >= 2, --context >= 1, --shifts/--finetune-steps >= 0")
        readouts = split_names(self.readouts)
        if not readouts or set(readouts) - set(READOUTS):
            raise CalmError(f"unknown --readouts {self.readouts!r}; use any of {', '.join(READOUTS)}")
        if self.phases < 1:
            raise CalmError("--phases must be >= 1")


@dataclass(frozen=True)
class EmbedSettings:
    """Neuron embeddings, their 2-D map, cue/choice tuning and probes (``calm embed``).

    Attributes
    ----------
    method : {'umap', 'pca'}
        2-D map of the primary embedding.
    perm, shuffles : int
        Permutations of the selectivity test and shuffles of each probe's control.
    min_trials : int
        Minimum trials per condition.
    """

    method: str = option("umap", "2-D map (default umap)", choices=("pca", "umap"))
    perm: int = option(1000, "permutations of the selectivity test", metavar="N")
    shuffles: int = option(200, "shuffles of each probe's control", metavar="N")
    min_trials: int = option(5, "minimum trials per condition", metavar="N")

    def __post_init__(self) -> None:
        if self.perm < 0 or self.shuffles < 0:
            raise CalmError("--perm and --shuffles must be >= 0")


@dataclass(frozen=True)
class FinetuneSettings:
    """Fine-tuning CalM on a recording (``calm finetune``, ``CalM.finetune``).

    Attributes
    ----------
    steps : int, optional
        Total optimizer steps, split half embedding, half full (default: 150 embedding +
        :data:`DEFAULT_FULL_STEPS` full, or what a config says).
    freeze_backbone : bool
        Only the new embeddings and the regression head (all steps in the embedding phase).
    seed : int
        Window sampling seed.
    """

    steps: int | None = option(None, "total optimizer steps (default: 150 embedding + 200 full)", type=int,
                               metavar="N")
    freeze_backbone: bool = option(False, "only fit the new embeddings and the regression head")
    seed: int = option(0, "window sampling seed (default 0)")

    def __post_init__(self) -> None:
        if self.steps is not None and self.steps < 1:
            raise CalmError(f"--steps must be >= 1, got {self.steps}")

    def config(self, base: dict[str, Any]) -> FinetuneConfig:
        """The :class:`~src_models.dat.config.FinetuneConfig` of these settings over a config's ``base``."""
        from src_models.dat.config import FinetuneConfig

        cfg = FinetuneConfig.from_dict(base)
        if self.steps is not None:
            cfg.embed_steps = self.steps - self.steps // 2
            cfg.full_steps = self.steps // 2
        elif not base:
            cfg.full_steps = DEFAULT_FULL_STEPS
        if self.freeze_backbone:
            cfg.embed_steps += cfg.full_steps
            cfg.full_steps = 0
        return cfg


@dataclass(frozen=True)
class PretrainSettings:
    """Self-supervised pretraining (``calm pretrain``).

    Attributes
    ----------
    max_steps : int, optional
        Optimizer steps (default: the config's).
    seed : int
        Initialisation and sampling seed.
    fs : float, optional
        Frame rate for recordings whose files give none.
    """

    max_steps: int | None = option(None, "optimizer steps (overrides the config)", type=int, metavar="N")
    seed: int = option(0, "initialisation and sampling seed (default 0)")
    fs: float | None = option(None, "frame rate for recordings whose files give none (others keep their own)",
                              type=float, metavar="HZ")

    def __post_init__(self) -> None:
        if self.fs is not None:
            number(self.fs, "--fs", positive=True, maximum=MAX_FS)
        if self.max_steps is not None and self.max_steps < 1:
            raise CalmError(f"--max-steps must be at least 1, got {self.max_steps} "
                            "(0 would save an untrained model)")
