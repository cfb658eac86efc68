"""Sensible suite2p settings for one TIFF movie.

The user gives what only they know (:class:`ExtractionSettings`: frame rate,
indicator decay, cell diameter, planes — all optional); :func:`probe_movie`
reads what the file and its side files say and refuses movies suite2p cannot
process; :func:`suite2p_config` turns both into suite2p 1.x's ``db`` and
``settings`` dictionaries.

Choices made here
    * **Frame rate**: ``--fs``, else ``meta.json``, else the TIFF's metadata,
      else 10 Hz (suite2p's default; ``fs_source='default'``).
    * **Indicator decay τ**: ``--tau``, else ``meta.json`` ``tau``, else the
      indicator named there (suite2p's recommendations), else 1 s.
    * **Registration**: non-rigid only with at least two blocks per axis (see
      :func:`block_plan`); smaller fields are registered rigidly.
    * **Detection**: ``sparsery``/``sourcery`` (no cellpose, nothing is
      downloaded); scale from ``--diameter``; frames binned by ``τ·fs``.
    * **Classification**: suite2p's built-in classifier, never ``~/.suite2p``.
    * **Device**: ``cuda`` when torch sees a GPU, else the CPU.
"""

from __future__ import annotations

import copy
import math
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from src_models.errors import CalmError
from src_models.settings import option

#: Fewest frames per plane accepted (suite2p's own message asks for at least 50).
MIN_FRAMES = 50
#: Smallest field of view (pixels per axis) accepted; suite2p's spatial-scale
#: estimate breaks on fields below about 24 pixels.
MIN_SIDE = 32
#: Detection bins frames by ``tau * fs`` but keeps at least this many bins.
MIN_BINNED_FRAMES = 20
#: Smallest non-rigid registration block (pixels); below it registration is rigid.
NONRIGID_MIN_BLOCK = 64
#: suite2p's default non-rigid block (pixels).
MAX_BLOCK = 128
#: Frame rate (Hz) when neither the user nor the file gives one (suite2p's default).
DEFAULT_FS = 10.0
#: Indicator decay (s) when neither the user nor the metadata gives one (suite2p's default).
DEFAULT_TAU = 1.0
#: Cell diameter (pixels) used for ROI statistics when none is given (suite2p's default).
DEFAULT_DIAMETER = 12.0
#: Decay time constant (s) by indicator: suite2p's recommendations for GCaMP6
#: (0.7 / 1.0 / 1.25) and τ = t½ / ln 2 ≈ 0.118 s / 0.693 for jGCaMP8m.
INDICATOR_TAU: dict[str, float] = {
    "gcamp6f": 0.7,
    "gcamp6m": 1.0,
    "gcamp6s": 1.25,
    "gcamp8m": 0.17,
}
#: Pixel types suite2p converts to its int16 binary without losing the signal.
NATIVE_DTYPES = frozenset({"int8", "uint8", "int16", "uint16"})
#: Detection algorithms that need no downloaded weights.
ALGORITHMS = ("sparsery", "sourcery")
TIFF_SUFFIXES = (".tif", ".tiff")


@dataclass
class ExtractionSettings:
    """What the user asks for; ``None`` means "choose from the movie".

    Parameters
    ----------
    fs : float, optional
        Frame (volume) rate in Hz.
    tau : float, optional
        Indicator decay time constant in seconds.
    diameter : float, optional
        Typical cell diameter in pixels.
    planes : int, optional
        Planes interleaved in the TIFF pages (default: the file's ``Z`` axis, else 1).
    device : str
        ``'auto'`` (GPU when available), ``'cpu'`` or ``'cuda'``.
    nonrigid : bool, optional
        Force non-rigid registration on or off (default: by field size).
    algorithm : {'sparsery', 'sourcery'}
        suite2p's functional detection algorithm.
    threads : int, optional
        CPU threads for torch/BLAS in the extraction process.
    """

    fs: float | None = option(None, "frame rate (default: metadata, else 10)", type=float, metavar="HZ")
    tau: float | None = option(None, "indicator decay in s (default: metadata, else 1.0)", type=float, metavar="S")
    diameter: float | None = option(None, "cell diameter in pixels (default: auto)", type=float, metavar="PX")
    planes: int | None = option(None, "planes interleaved in the pages (default: file's)", type=int, metavar="N")
    device: str = option("auto", "auto (GPU when available), cpu or cuda (default: auto)")
    nonrigid: bool | None = None
    algorithm: str = option("sparsery", "ROI detection", choices=ALGORITHMS)
    threads: int | None = option(None, "CPU threads for suite2p", type=int, metavar="N")

    def check(self) -> None:
        """Raise :class:`CalmError` for values suite2p cannot use."""
        for name in ("fs", "tau", "diameter"):
            value = getattr(self, name)
            if value is not None and not (math.isfinite(float(value)) and float(value) > 0):
                raise CalmError(f"--{name} must be a positive number, got {value}")
        if self.diameter is not None and not 2 <= float(self.diameter) <= 200:
            raise CalmError(f"--diameter must be between 2 and 200 pixels, got {self.diameter}")
        if self.planes is not None and int(self.planes) < 1:
            raise CalmError(f"--planes must be at least 1, got {self.planes}")
        if self.threads is not None and int(self.threads) < 1:
            raise CalmError(f"threads must be at least 1, got {self.threads}")
        if self.algorithm not in ALGORITHMS:
            raise CalmError(
                f"detection algorithm must be one of {ALGORITHMS}, got {self.algorithm!r}"
            )
        if self.device not in ("auto", "cpu") and not str(self.device).startswith("cuda"):
            raise CalmError(f"device must be 'auto', 'cpu' or 'cuda', got {self.device!r}")

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict (for the worker process)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ExtractionSettings:
        """Inverse of :meth:`to_dict` (unknown keys are ignored)."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


@dataclass
class MovieInfo:
    """What :func:`probe_movie` learned about a TIFF movie.

    Attributes
    ----------
    path : Path
        The TIFF (absolute).
    n_frames : int
        Frames (volumes) per plane.
    n_planes, n_channels : int
        Planes and channels interleaved in the pages (channel 1 is functional).
    shape : tuple of int
        ``(Ly, Lx)``.
    dtype : str
        Pixel type.
    fs, tau : float
        Frame rate (Hz) and indicator decay (s) to use.
    fs_source, tau_source : str
        Where they came from: ``argument``, ``meta.json``, ``file``, ``indicator`` or ``default``.
    indicator : str or None
        Indicator named in ``meta.json``.
    meta : dict
        ``meta.json`` next to the movie (empty when absent).
    """

    path: Path
    n_frames: int
    n_planes: int
    n_channels: int
    shape: tuple[int, int]
    dtype: str
    fs: float
    fs_source: str
    tau: float
    tau_source: str
    indicator: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def n_pages(self) -> int:
        """TIFF pages suite2p reads (frames × planes × channels)."""
        return self.n_frames * self.n_planes * self.n_channels

    @property
    def native(self) -> bool:
        """Whether suite2p can read the pixels as they are (else they are rescaled to int16)."""
        return self.dtype in NATIVE_DTYPES


def _page_layout(axes: str, sizes: tuple[int, ...], path: Path) -> tuple[int, int, int]:
    """``(time, planes, channels)`` of the leading TIFF axes, in suite2p's page order.

    suite2p reads pages in file order as frame-major, then plane, then
    channel, so the time axis must come first and a channel axis last.
    """
    kept = [(a, n) for a, n in zip(axes, sizes) if n > 1]
    channels = 1
    if kept and kept[-1][0] == "C":
        channels = kept.pop()[1]
    if any(a in "CS" for a, _ in kept):
        raise CalmError(
            f"has axes {axes}; channels must be interleaved within each frame "
            "(TIFF page order time, plane, channel)",
            path,
        )
    if not kept:
        raise CalmError(f"holds a single image (axes {axes}), not a movie", path)
    if len(kept) > 2:
        raise CalmError(f"has axes {axes}; only time, plane and channel axes are supported", path)
    if len(kept) == 2 and kept[1][0] == "T":
        raise CalmError(
            f"has axes {axes} with time inside planes; suite2p needs planes interleaved "
            "within each time point",
            path,
        )
    return kept[0][1], (kept[1][1] if len(kept) == 2 else 1), channels


def _tiff_layout(path: Path) -> tuple[str, tuple[int, ...], str]:
    """Axes, shape and dtype of the first series (CalmError for anything unreadable)."""
    import tifffile

    from src_models.readers.lazy import quiet_tifffile

    try:
        with quiet_tifffile(), tifffile.TiffFile(path) as tif:
            if not tif.series:
                raise CalmError("TIFF holds no image series", path)
            series = tif.series[0]
            return series.axes, tuple(int(s) for s in series.shape), str(series.dtype)
    except CalmError:
        raise
    except Exception as exc:  # tifffile raises many types for corrupt input
        raise CalmError(f"not a readable TIFF file ({type(exc).__name__}: {exc})", path) from None


def _positive(value: Any, what: str, path: Path) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise CalmError(f"{what} is not a number: {value!r}", path) from None
    if not (math.isfinite(out) and out > 0):
        raise CalmError(f"{what} must be a positive number, got {value!r}", path)
    return out


def resolve_tau(explicit: float | None, meta: dict[str, Any], path: Path) -> tuple[float, str]:
    """Indicator decay τ (s) and its source: argument, ``meta.json`` ``tau``, indicator, default.

    Parameters
    ----------
    explicit : float, optional
        The user's value.
    meta : dict
        ``meta.json`` next to the movie.
    path : Path
        The movie (named in errors).
    """
    if explicit is not None:
        return _positive(explicit, "--tau", path), "argument"
    for key in ("tau", "tau_decay", "decay_time"):
        if meta.get(key) is not None:
            return _positive(meta[key], f"meta.json {key!r}", path), "meta.json"
    name = str(meta.get("indicator") or "").lower().replace("jgcamp", "gcamp").replace("-", "")
    if name in INDICATOR_TAU:
        return INDICATOR_TAU[name], "indicator"
    return DEFAULT_TAU, "default"


def probe_movie(path: str | Path, settings: ExtractionSettings | None = None) -> MovieInfo:
    """Check that ``path`` is a TIFF movie suite2p can process and read its metadata.

    Parameters
    ----------
    path : str or Path
        The movie.
    settings : ExtractionSettings, optional
        Explicit ``fs``/``tau``/``planes`` take precedence over the metadata.

    Returns
    -------
    MovieInfo

    Raises
    ------
    CalmError
        Missing file, not a TIFF, unreadable, an unsupported axis layout, fewer
        than :data:`MIN_FRAMES` frames or a field smaller than :data:`MIN_SIDE`
        pixels, or invalid settings.
    """
    from src_models.readers.sidecars import find_sidecars, read_meta_json, resolve_fs
    from src_models.readers.tiff import open_tiff_movie

    settings = settings or ExtractionSettings()
    settings.check()
    path = Path(path).expanduser().absolute()
    if not path.exists():
        raise CalmError("movie not found", path)
    if not path.is_file():
        raise CalmError("is a folder; extraction needs a TIFF movie file", path)
    if path.suffix.lower() not in TIFF_SUFFIXES:
        raise CalmError(
            f"is not a TIFF movie ({path.suffix or 'no extension'}); suite2p extraction "
            "reads .tif/.tiff stacks",
            path,
        )
    axes, shape, dtype = _tiff_layout(path)
    if axes.endswith("S") or len(shape) < 3:
        raise CalmError(f"has axes {axes}; extraction needs a grayscale movie", path)
    movie, info = open_tiff_movie(path)  # validates truncation and readability
    if hasattr(movie, "close"):
        movie.close()
    n_time, n_planes, n_channels = _page_layout(axes[:-2], shape[:-2], path)
    if settings.planes is not None and int(settings.planes) != n_planes:
        if n_planes > 1:
            raise CalmError(
                f"the file has {n_planes} planes (axis Z) but --planes is {settings.planes}", path
            )
        if n_time % int(settings.planes):
            raise CalmError(
                f"has {n_time} frames, not a multiple of --planes {settings.planes}", path
            )
        n_planes, n_time = int(settings.planes), n_time // int(settings.planes)
    Ly, Lx = shape[-2:]
    if n_time < MIN_FRAMES:
        raise CalmError(
            f"movie too short for suite2p: {n_time} frames per plane, "
            f"at least {MIN_FRAMES} needed",
            path,
        )
    if min(Ly, Lx) < MIN_SIDE:
        raise CalmError(
            f"field of view too small for suite2p: {Ly}×{Lx} pixels, at least "
            f"{MIN_SIDE}×{MIN_SIDE} needed",
            path,
        )
    side = find_sidecars([path.parent])
    meta = read_meta_json(side["meta.json"]) if "meta.json" in side else {}
    fs, fs_info = resolve_fs(settings.fs, meta.get("fs"), info["file_fs"], path)
    tau, tau_source = resolve_tau(settings.tau, meta, path)
    return MovieInfo(
        path=path,
        n_frames=n_time,
        n_planes=n_planes,
        n_channels=n_channels,
        shape=(Ly, Lx),
        dtype=dtype,
        fs=float(fs),
        fs_source=str(fs_info["fs_source"]),
        tau=tau,
        tau_source=tau_source,
        indicator=meta.get("indicator"),
        meta=meta,
    )


def block_plan(Ly: int, Lx: int, nonrigid: bool | None = None) -> tuple[bool, tuple[int, int]]:
    """Whether to register non-rigidly, and the block size.

    suite2p splits each axis of length ``L`` into ``ceil(1.5 L / b)`` blocks of
    ``b`` pixels, or one block when ``b >= L`` — and its non-rigid step fails
    with one block per axis. The block chosen is the largest power of two up
    to :data:`MAX_BLOCK` that fits at least twice into the shorter axis; if that
    is below :data:`NONRIGID_MIN_BLOCK`, registration is rigid.

    Parameters
    ----------
    Ly, Lx : int
        Field of view.
    nonrigid : bool, optional
        ``False`` forces rigid; ``True`` asks for non-rigid (still refused when
        the field is too small); ``None`` decides by size.

    Returns
    -------
    nonrigid : bool
    block_size : tuple of int
    """
    block = MAX_BLOCK
    while block > 1 and 2 * block > min(Ly, Lx):
        block //= 2
    fits = block >= NONRIGID_MIN_BLOCK
    use = fits if nonrigid is None else (bool(nonrigid) and fits)
    return use, ((block, block) if fits else (MAX_BLOCK, MAX_BLOCK))


def spatial_scale(diameter: float | None) -> int:
    """sparsery's ``spatial_scale`` (1: 6 px, 2: 12 px, 3: 24 px, 4: 48 px; 0: estimate)."""
    if diameter is None:
        return 0
    return int(min(4, max(1, round(math.log2(float(diameter) / 6.0)) + 1)))


def bin_size(n_frames: int, fs: float, tau: float) -> int:
    """Frames averaged per detection bin: ``round(tau * fs)``.

    Capped so that at least :data:`MIN_BINNED_FRAMES` bins remain (suite2p finds
    no ROIs in a handful of bins).
    """
    return int(max(1, min(round(tau * fs), n_frames // MIN_BINNED_FRAMES)))


def suite2p_config(
    info: MovieInfo,
    settings: ExtractionSettings,
    workdir: Path,
    *,
    movie: Path | None = None,
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """suite2p's ``db`` and ``settings`` for ``info``, plus a JSON summary of the choices.

    Parameters
    ----------
    info : MovieInfo
        From :func:`probe_movie`.
    settings : ExtractionSettings
        The user's settings.
    workdir : Path
        The temporary run folder; suite2p writes ``workdir/suite2p/plane0, ...``
        (binaries included: suite2p puts them under ``<fast_disk>/suite2p``).
    movie : Path, optional
        The TIFF suite2p reads, when not ``info.path`` (a rescaled copy).

    Returns
    -------
    db, s2p_settings : dict
        Complete suite2p 1.x dictionaries (suite2p merges them only one level
        deep, so every nested section is filled from its defaults).
    summary : dict
        ``fs``, ``tau``, ``diameter``, ``nonrigid``, ``block_size``, ``bin_size``,
        ``spatial_scale``, ``device``, ``algorithm``, ... with their sources.
    """
    from suite2p import default_db, default_settings
    from suite2p.classification import builtin_classfile

    from src_models.device import resolve_device

    classifier = Path(builtin_classfile)
    if not classifier.is_file():
        raise CalmError(
            "suite2p's built-in classifier file is missing from the installation", classifier
        )
    movie = Path(movie or info.path)
    workdir = Path(workdir)
    Ly, Lx = info.shape
    nonrigid, block = block_plan(Ly, Lx, settings.nonrigid)
    diameter = float(settings.diameter) if settings.diameter is not None else DEFAULT_DIAMETER
    device = str(resolve_device(settings.device))
    bins = bin_size(info.n_frames, info.fs, info.tau)
    scale = spatial_scale(settings.diameter)

    db = copy.deepcopy(default_db())
    db.update(
        data_path=[str(movie.parent)],
        file_list=[movie.name],
        look_one_level_down=False,
        input_format="tif",
        nplanes=int(info.n_planes),
        nchannels=int(info.n_channels),
        functional_chan=1,
        keep_movie_raw=False,
        save_path0=str(workdir),
        save_folder="suite2p",
        fast_disk=str(workdir),
    )
    s2p = copy.deepcopy(default_settings())
    s2p["fs"] = float(info.fs)
    s2p["tau"] = float(info.tau)
    s2p["diameter"] = [diameter, diameter]
    s2p["torch_device"] = device
    s2p["run"].update(
        do_registration=1, do_detection=True, do_deconvolution=True, multiplane_parallel=False
    )
    s2p["registration"].update(nonrigid=nonrigid, block_size=block)
    s2p["detection"].update(algorithm=settings.algorithm, bin_size=bins)
    s2p["detection"]["sparsery_settings"]["spatial_scale"] = scale
    s2p["classification"].update(
        classifier_path=str(classifier), use_builtin_classifier=True, preclassify=0.0
    )
    s2p["io"].update(
        save_mat=False, save_NWB=False, delete_bin=False, move_bin=False, save_ops_orig=True
    )
    summary = {
        "fs": float(info.fs),
        "fs_source": info.fs_source,
        "tau": float(info.tau),
        "tau_source": info.tau_source,
        "indicator": info.indicator,
        "diameter": diameter,
        "diameter_source": "argument" if settings.diameter is not None else "default",
        "spatial_scale": scale,
        "n_frames": int(info.n_frames),
        "n_planes": int(info.n_planes),
        "n_channels": int(info.n_channels),
        "shape": [int(Ly), int(Lx)],
        "dtype": info.dtype,
        "nonrigid": bool(nonrigid),
        "block_size": [int(b) for b in block],
        "bin_size": int(bins),
        "algorithm": settings.algorithm,
        "device": device,
        "classifier": "suite2p built-in",
    }
    return db, s2p, summary
