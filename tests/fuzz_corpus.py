"""Bad inputs for every ``calm`` command and the napari reader (used by tests/test_fuzz.py and
benchmarks/fuzz_report.py).

A :class:`Case` builds its inputs in a fresh folder and returns the command line; running it must
end with exit status 2, exactly one ``error:`` line on stderr, no traceback, nothing changed
outside the output, and nothing executed (:data:`PWNED` never appears).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import math
import os
import pickle
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

#: a pickle in the corpus would create this file next to it if it were ever unpickled
PWNED = "PWNED"


@dataclass(frozen=True)
class Case:
    """One bad input: ``build(folder) -> argv`` (relative to nothing; paths are absolute).

    Attributes
    ----------
    command : str
        The ``calm`` command it targets (``"reader"`` for the napari reader).
    name : str
        What is wrong.
    build : callable
        Writes the inputs into the folder and returns the argv (for ``reader``: ``[path]``).
    out : str or None
        Name of the output inside the folder (may be created or changed), if any.
    expect : str
        Text the error line must contain (so a case cannot pass for the wrong reason).
    """

    command: str
    name: str
    build: Callable[[Path], list[str]]
    out: str | None = None
    expect: str = ""


class _Exploit:
    """Unpickling this would create :data:`PWNED` in the current directory's target."""

    def __init__(self, target: Path) -> None:
        self.target = target

    def __reduce__(self):
        return (os.system, (f"touch {self.target}",))


def traces_folder(root: Path, n: int = 6, t: int = 600, fs: object = 10.0, name: str = "rec") -> Path:
    """A CalM traces folder (``traces.npy`` + ``meta.json``)."""
    folder = root / name
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    np.save(folder / "traces.npy", (5 + rng.standard_normal((n, t))).astype(np.float32))
    (folder / "meta.json").write_text(json.dumps({"fs": fs}))
    return folder


def npz_file(root: Path, **extra: object) -> Path:
    """A ``.npz`` recording with ``extra`` arrays added or replaced."""
    rng = np.random.default_rng(0)
    arrays = {"traces": (5 + rng.standard_normal((6, 300))).astype(np.float32), "fs": np.float64(10.0)}
    arrays.update({k: np.asarray(v) for k, v in extra.items()})
    path = root / "rec.npz"
    np.savez(path, **arrays)
    return path


def suite2p_plane(root: Path, *, ops: dict | None = None, stat: object = None, **arrays: object) -> Path:
    """A suite2p ``plane0`` folder; ``arrays`` replace F/Fneu/spks/iscell."""
    plane = root / "suite2p" / "plane0"
    plane.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    n, t = 5, 300
    base = {
        "F": (100 + rng.standard_normal((n, t))).astype(np.float32),
        "Fneu": (50 + rng.standard_normal((n, t))).astype(np.float32),
        "spks": np.abs(rng.standard_normal((n, t))).astype(np.float32),
        "iscell": np.ones((n, 2), np.float32),
    }
    base.update(arrays)
    for key, value in base.items():
        np.save(plane / f"{key}.npy", np.asarray(value))
    if stat is None:
        stat = [{"ypix": np.arange(3) + 4 * i, "xpix": np.arange(3), "lam": np.ones(3, np.float32)}
                for i in range(n)]
    np.save(plane / "stat.npy", np.array(stat, dtype=object), allow_pickle=True)
    full_ops = {"fs": 10.0, "Ly": 32, "Lx": 32, "neucoeff": 0.7}
    full_ops.update(ops or {})
    np.save(plane / "ops.npy", np.array(full_ops, dtype=object), allow_pickle=True)
    return plane


def _tiff(root: Path, corrupt: bool = False, truncate: bool = False, frames: int = 6, side: int = 16) -> Path:
    import tifffile

    path = root / "movie.tif"
    movie = (np.arange(frames * side * side) % 251).reshape(frames, side, side).astype(np.uint16)
    tifffile.imwrite(path, movie, compression="zlib")
    data = bytearray(path.read_bytes())
    if corrupt:   # garble the compressed stream of the second page
        with tifffile.TiffFile(path) as tf:
            off, count = tf.pages[1].dataoffsets[0], tf.pages[1].databytecounts[0]
        data[off:off + count] = bytes(count)
    if truncate:
        data = data[: len(data) // 2]
    path.write_bytes(bytes(data))
    return path


def _mat(root: Path, fs: float) -> Path:
    from scipy.io import savemat

    path = root / "rec.mat"
    savemat(path, {"traces": np.random.default_rng(0).standard_normal((6, 300)), "fs": fs})
    return path


def _checkpoint(root: Path, edit: Callable[[dict], None] | None = None, nan: bool = False) -> Path:
    """A copy of a tiny CalM checkpoint with its config edited or its weights poisoned."""
    import torch
    from safetensors.torch import load_file, save_file

    from src_models.dat.calm import save_calm
    from src_models.dat.tiny import tiny_calm

    path = root / "ckpt"
    save_calm(tiny_calm(), path)
    if edit is not None:
        meta = json.loads((path / "config.json").read_text())
        edit(meta)
        (path / "config.json").write_text(json.dumps(meta))
    if nan:
        tensors = load_file(str(path / "model.safetensors"))
        key = next(k for k, v in tensors.items() if k.startswith("dat.") and v.is_floating_point())
        tensors[key] = torch.full_like(tensors[key], float("nan"))
        save_file(tensors, str(path / "model.safetensors"))
    return path


def _config(root: Path, data: object) -> Path:
    path = root / "config.json"
    path.write_text(json.dumps(data))
    return path


def _exploit_ops(root: Path) -> list[str]:
    plane = suite2p_plane(root)
    with open(plane / "ops.npy", "wb") as fh:
        np.lib.format.write_array_header_1_0(fh, {"descr": "|O", "fortran_order": False, "shape": ()})
        pickle.dump(np.array(_Exploit(root / PWNED), dtype=object), fh, protocol=2)
    return ["info", str(plane)]


def _exploit_npz(root: Path) -> list[str]:
    path = npz_file(root)
    with np.load(path) as data:
        arrays = dict(data)
    arrays["behavior_speed"] = np.array([_Exploit(root / PWNED)], dtype=object)
    np.savez(path, **arrays)
    return ["info", str(path)]


def _exploit_stat(root: Path) -> list[str]:
    plane = suite2p_plane(root)
    with open(plane / "stat.npy", "wb") as fh:
        np.lib.format.write_array_header_1_0(fh, {"descr": "|O", "fortran_order": False, "shape": (1,)})
        pickle.dump(np.array([_Exploit(root / PWNED)], dtype=object), fh, protocol=2)
    return ["info", str(plane)]


def _trials(root: Path, text: str) -> list[str]:
    folder = traces_folder(root)
    (folder / "trials.csv").write_text(text)
    return ["info", str(folder)]


def _set(path: Path, fn: Callable[[Path], object]) -> Path:
    fn(path)
    return path


def _fs(value: object) -> Callable[[Path], list[str]]:
    return lambda r: ["info", str(traces_folder(r, fs=value))]


def _dat_cfg(key: str, value: object) -> Callable[[dict], None]:
    def edit(meta: dict) -> None:
        meta["config"]["dat"][key] = value
    return edit


def reader_cases() -> list[Case]:
    """Bad recordings, each opened with ``calm info`` (the readers every command shares)."""
    c = [Case("info", f"meta.json fs={v!r}", _fs(v)) for v in ("abc", [10], True, 0, -5, 1e300, {"a": 1})]
    c += [
        Case("info", "trials.csv 23-digit start", lambda r: _trials(r, "start_frame,end_frame\n"
                                                                       "12345678901234567890123,5\n")),
        Case("info", "trials.csv text start", lambda r: _trials(r, "start_frame,end_frame\nabc,5\n")),
        Case("info", "trials.csv end before start", lambda r: _trials(r, "start_frame,end_frame\n9,5\n")),
        Case("info", "npz text trials_start_frame",
             lambda r: ["info", str(npz_file(r, trials_start_frame=np.array(["a", "b"]),
                                             trials_end_frame=np.array([3, 4])))]),
        Case("info", "npz fs=0", lambda r: ["info", str(npz_file(r, fs=np.float64(0)))]),
        Case("info", "npz fs text", lambda r: ["info", str(npz_file(r, fs=np.array("abc")))]),
        Case("info", "npz traces Inf",
             lambda r: ["info", str(npz_file(r, traces=np.full((3, 300), np.inf, np.float32)))]),
        Case("info", "npz traces 1-D", lambda r: ["info", str(npz_file(r, traces=np.ones(300)))]),
        Case("info", "npz traces text", lambda r: ["info", str(npz_file(r, traces=np.array([["a"]])))]),
        Case("info", "suite2p ops Ly=0", lambda r: ["info", str(suite2p_plane(r, ops={"Ly": 0}))]),
        Case("info", "suite2p ops Ly='abc'", lambda r: ["info", str(suite2p_plane(r, ops={"Ly": "abc"}))]),
        Case("info", "suite2p ops Ly=1e6", lambda r: ["info", str(suite2p_plane(r, ops={"Ly": 10**6, "Lx": 10**6}))],
             expect="at most"),
        Case("info", "suite2p ypix 1e7",
             lambda r: ["info", str(suite2p_plane(r, stat=[{"ypix": np.array([10**7]), "xpix": np.arange(1)}] * 5))],
             expect="below"),
        Case("info", "suite2p ops neucoeff='abc'",
             lambda r: ["info", str(suite2p_plane(r, ops={"neucoeff": "abc"}))]),
        Case("info", "suite2p ops fs=-1", lambda r: ["info", str(suite2p_plane(r, ops={"fs": -1.0}))]),
        Case("info", "suite2p text ypix",
             lambda r: ["info", str(suite2p_plane(r, stat=[{"ypix": np.array(["a"]), "xpix": np.arange(1)}] * 5))]),
        Case("info", "suite2p iscell (n, 0)",
             lambda r: ["info", str(suite2p_plane(r, iscell=np.ones((5, 0), np.float32)))]),
        Case("info", "suite2p Fneu Inf",
             lambda r: ["info", str(suite2p_plane(r, Fneu=np.full((5, 300), np.inf, np.float32)))]),
        Case("info", "suite2p spks NaN",
             lambda r: ["info", str(suite2p_plane(r, spks=np.full((5, 300), np.nan, np.float32)))]),
        Case("info", "suite2p F NaN",
             lambda r: ["info", str(suite2p_plane(r, F=np.full((5, 300), np.nan, np.float32)))]),
        Case("info", "suite2p Fneu wrong shape",
             lambda r: ["info", str(suite2p_plane(r, Fneu=np.ones((5, 10), np.float32)))]),
        Case("info", "suite2p pickle exploit in stat.npy", _exploit_stat),
        Case("info", "suite2p pickle exploit in ops.npy", _exploit_ops),
        Case("info", "pickled object array in an .npz", _exploit_npz),
        Case("info", "truncated TIFF", lambda r: ["info", str(_tiff(r, truncate=True)), "--fs", "10"],
             expect="truncated"),
        Case("info", ".mat fs=0", lambda r: ["info", str(_mat(r, 0.0))]),
        Case("info", "empty .npz", lambda r: ["info", str(_set(r / "e.npz", lambda p: p.write_bytes(b"")))]),
        Case("info", "missing path", lambda r: ["info", str(r / "nope")]),
    ]
    return c


def _rec(r: Path) -> str:
    return str(traces_folder(r))


def _user_folder(r: Path) -> str:
    d = r / "mine"
    d.mkdir()
    (d / "thesis.txt").write_text("irreplaceable")
    return str(d)


def _user_file(r: Path, name: str = "mine.npz") -> str:
    p = r / name
    p.write_text("irreplaceable")
    return str(p)


def _run_folder(r: Path, kind: str) -> str:
    d = r / "run"
    d.mkdir()
    (d / ".calm-output.json").write_text(json.dumps({"kind": kind}))
    (d / "history.jsonl").write_text("{}\n")
    return str(d)


def _locked(r: Path) -> str:
    """A new output whose lock file is held by a live process (this one's parent)."""
    (r / ".held.npz.calm-lock").write_text(f"{os.getppid()}\n")
    return str(r / "held.npz")


def command_cases() -> list[Case]:
    """Bad outputs, options, configs and checkpoints for every command with an output."""
    c: list[Case] = []
    c += [
        Case("tokenize", "--out an existing file", lambda r: ["tokenize", _rec(r), "--out", _user_file(r)], expect="exist"),
        Case("tokenize", "--out a user folder", lambda r: ["tokenize", _rec(r), "--out", _user_folder(r)],
             expect="is a folder"),
        Case("tokenize", "--out held by a live run", lambda r: ["tokenize", _rec(r), "--out", _locked(r)], expect="in use"),
        Case("tokenize", "--out under a file",
             lambda r: ["tokenize", _rec(r), "--out", _user_file(r, "f.txt") + "/t.npz"], expect="not a folder"),
        Case("tokenize", "--device meta", lambda r: ["tokenize", _rec(r), "--out", str(r / "t.npz"),
                                                    "--device", "meta"], expect="meta"),
        Case("tokenize", "--device mps", lambda r: ["tokenize", _rec(r), "--out", str(r / "t.npz"),
                                                   "--device", "mps"], expect="mps"),
        Case("tokenize", "--out on a read-only file system",
             lambda r: ["tokenize", _rec(r), "--out", "/proc/calm-fuzz.npz"], expect="cannot write"),
        Case("pretrain", "--out on a read-only file system",
             lambda r: ["pretrain", "--data", _rec(r), "--out", "/proc/calm-fuzz/run"], expect="cannot"),
        Case("train-nq", "--out a user folder", lambda r: ["train-nq", "--data", _rec(r), "--out", _user_folder(r)], expect="not"),
        Case("train-nq", "--out an existing file", lambda r: ["train-nq", "--data", _rec(r), "--out", _user_file(r)], expect="exist"),
        Case("train-nq", "--out a pretrain run",
             lambda r: ["train-nq", "--data", _rec(r), "--out", _run_folder(r, "pretrain")], expect="pretrain"),
        Case("train-nq", "--overwrite a user folder",
             lambda r: ["train-nq", "--data", _rec(r), "--out", _user_folder(r), "--overwrite"], expect="not written by calm"),
        Case("train-nq", "--max-steps 0", lambda r: ["train-nq", "--data", _rec(r), "--out", str(r / "o"),
                                                    "--max-steps", "0"], out="o", expect="steps"),
        Case("pretrain", "--max-steps 0", lambda r: ["pretrain", "--data", _rec(r), "--out", str(r / "o"),
                                                    "--max-steps", "0"], out="o", expect="steps"),
        Case("pretrain", "--out a finetune run",
             lambda r: ["pretrain", "--data", _rec(r), "--out", _run_folder(r, "finetune")], expect="finetune"),
        Case("pretrain", "--out a user folder", lambda r: ["pretrain", "--data", _rec(r), "--out", _user_folder(r)], expect="not"),
        Case("pretrain", "--out an existing file", lambda r: ["pretrain", "--data", _rec(r), "--out", _user_file(r)], expect="exist"),
        Case("pretrain", "--device mps", lambda r: ["pretrain", "--data", _rec(r), "--out", str(r / "o"),
                                                   "--device", "mps"], out="o", expect="mps"),
        Case("finetune", "--out an existing file", lambda r: ["finetune", _rec(r), "--out", _user_file(r)], expect="exist"),
        Case("finetune", "--out a pretrain run", lambda r: ["finetune", _rec(r), "--out", _run_folder(r, "pretrain")], expect="pretrain"),
        Case("forecast", "--out an existing file", lambda r: ["forecast", _rec(r), "--out", _user_file(r)], expect="exist"),
        Case("forecast", "--out a folder", lambda r: ["forecast", _rec(r), "--out", _user_folder(r)]),
        Case("forecast", "--context abc", lambda r: ["forecast", _rec(r), "--context", "abc"]),
        Case("forecast", "--bogus flag", lambda r: ["forecast", _rec(r), "--bogus"]),
        Case("bench", "--out a user folder", lambda r: ["bench", "--datasets", "none", "--data", _rec(r),
                                                       "--out", _user_folder(r)], expect="not"),
        Case("bench", "--out an earlier bench run",
             lambda r: ["bench", "--datasets", "none", "--data", _rec(r), "--out", _run_folder(r, "bench")], expect="--overwrite"),
        Case("bench", "--out an existing file", lambda r: ["bench", "--datasets", "none", "--data", _rec(r),
                                                          "--out", _user_file(r)], expect="exist"),
        Case("decode", "--out an existing file", lambda r: ["decode", _rec(r), "--target", "cue", "--out",
                                                             _user_file(r)], expect="exists"),
        Case("embed", "--out an existing file", lambda r: ["embed", _rec(r), "--out", _user_file(r)], expect="exist"),
        Case("simulate", "--out a user folder", lambda r: ["simulate", "--preset", "demo", "--out", _user_folder(r)], expect="not"),
        Case("simulate", "--overwrite a user folder",
             lambda r: ["simulate", "--preset", "demo", "--out", _user_folder(r), "--overwrite"], expect="not written by calm"),
        Case("simulate", "--fs 1e9", lambda r: ["simulate", "--preset", "task", "--fs", "1e9", "--out",
                                               str(r / "o")], out="o", expect="at most"),
        Case("simulate", "--neurons 1e9", lambda r: ["simulate", "--preset", "task", "--neurons", "1000000000",
                                                    "--out", str(r / "o")], out="o", expect="memory"),
        Case("simulate", "--sessions 20000", lambda r: ["simulate", "--preset", "corpus", "--sessions", "20000",
                                                        "--out", str(r / "o")], out="o", expect="memory"),
        Case("simulate", "--preset missing", lambda r: ["simulate", "--out", str(r / "o")]),
        Case("extract", "--out a user folder", lambda r: ["extract", str(_tiff(r, frames=60, side=32)), "--out", _user_folder(r),
                                                         "--fs", "10"], expect="not"),
        Case("extract", "--out an existing file", lambda r: ["extract", str(_tiff(r, frames=60, side=32)), "--out", _user_file(r),
                                                            "--fs", "10"], expect="exist"),
    ]
    for key, value in (("n_heads", 0), ("d_model", 64.0), ("mlp_ratio", -2.0)):
        c.append(Case("forecast", f"checkpoint {key}={value!r}",
                      lambda r, k=key, v=value: ["forecast", _rec(r), "--checkpoint",
                                                 str(_checkpoint(r, _dat_cfg(k, v))), "--no-adapt"],
                      expect=key))
    c.append(Case("forecast", "checkpoint with NaN weights",
                  lambda r: ["forecast", _rec(r), "--checkpoint", str(_checkpoint(r, nan=True)), "--no-adapt"],
                  expect="NaN"))
    c.append(Case("embed", "checkpoint with NaN weights",
                  lambda r: ["embed", _rec(r), "--checkpoint", str(_checkpoint(r, nan=True)),
                             "--out", str(r / "e.npz")], out="e.npz", expect="NaN"))
    for key, value in (("log_every", 0), ("val_every", 0), ("lr", -1), ("lr", float("nan")), ("batch_size", 0),
                       ("embed_lr", "abc")):
        c.append(Case("pretrain", f"--config train.{key}={value!r}",
                      lambda r, k=key, v=value: ["pretrain", "--data", _rec(r), "--out", str(r / "o"),
                                                 "--config", str(_config(r, {"train": {k: v}}))], out="o",
                      expect=key))
        c.append(Case("finetune", f"--config finetune.{key}={value!r}",
                      lambda r, k=key, v=value: ["finetune", _rec(r), "--out", str(r / "o"),
                                                 "--config", str(_config(r, {"finetune": {k: v}}))], out="o",
                      expect=key))
    for key, value in (("lora_rank", 0), ("lora_steps", -1)):
        c.append(Case("finetune", f"--config finetune.{key}={value!r}",
                      lambda r, k=key, v=value: ["finetune", _rec(r), "--out", str(r / "o"),
                                                 "--config", str(_config(r, {"finetune": {k: v}}))], out="o",
                      expect=key))
    for key, value in (("steps", 0), ("lr", -1.0), ("batch_size", 0)):
        c.append(Case("train-nq", f"--config {key}={value!r}",
                      lambda r, k=key, v=value: ["train-nq", "--data", _rec(r), "--out", str(r / "o"),
                                                 "--config", str(_config(r, {k: v}))], out="o",
                      expect=key))
    return c


#: every command that reads a recording: argv with P = the recording, O = the output
RECORDING_COMMANDS: dict[str, tuple[list[str], str | None]] = {
    "tokenize": (["tokenize", "P", "--out", "O"], "o.npz"),
    "forecast": (["forecast", "P", "--no-adapt"], None),
    "finetune": (["finetune", "P", "--out", "O"], "o"),
    "decode": (["decode", "P", "--target", "cue"], None),
    "embed": (["embed", "P", "--out", "O"], "o.npz"),
    "train-nq": (["train-nq", "--data", "P", "--out", "O"], "o"),
    "pretrain": (["pretrain", "--data", "P", "--out", "O"], "o"),
    "bench": (["bench", "--datasets", "none", "--data", "P", "--out", "O"], "o"),
}


def recording_cases() -> list[Case]:
    """A sample of the bad recordings through every command that reads one."""
    picked = ("meta.json fs='abc'", "suite2p Fneu Inf", "suite2p pickle exploit in stat.npy",
              "trials.csv 23-digit start", "npz text trials_start_frame")
    bad = [c for c in reader_cases() if c.name in picked]

    def build(case: Case, argv: list[str], out: str | None) -> Callable[[Path], list[str]]:
        def run(r: Path) -> list[str]:
            path = case.build(r)[1]
            return [path if a == "P" else str(r / (out or "")) if a == "O" else a for a in argv]
        return run

    return [Case(cmd, f"recording: {case.name}", build(case, argv, out), out=out)
            for case in bad for cmd, (argv, out) in RECORDING_COMMANDS.items()]


#: bad option values per command (O = an output path in the case's folder)
BAD_OPTIONS: list[tuple[str, list[str]]] = [
    ("forecast", ["--context", "0"]), ("forecast", ["--horizon", "-5"]), ("forecast", ["--samples", "-1"]),
    ("forecast", ["--stride", "0"]), ("forecast", ["--fs", "nan"]), ("forecast", ["--fs", "-1"]),
    ("forecast", ["--context", "100000"]), ("tokenize", ["--out", "O.npz", "--fs", "0"]),
    ("tokenize", ["--out", "O.npz", "--fs", "inf"]), ("decode", ["--target", "cue", "--folds", "0"]),
    ("decode", ["--target", "nope"]), ("decode", ["--target", "cue", "--context", "0"]),
    ("embed", ["--out", "O.npz", "--steps", "-1"]), ("embed", ["--out", "O.txt"]),
    ("bench", ["--datasets", "none", "--out", "O", "--seeds", "0"]),
    ("bench", ["--datasets", "none", "--out", "O", "--models", "bogus"]),
    ("bench", ["--datasets", "bogus", "--out", "O"]), ("bench", ["--datasets", "none", "--out", "O", "--context", "0"]),
    ("train-nq", ["--out", "O", "--threads", "0"]), ("train-nq", ["--out", "O", "--max-steps", "-4"]),
    ("pretrain", ["--out", "O", "--max-steps", "-1"]), ("pretrain", ["--out", "O", "--fs", "0"]),
    ("finetune", ["--out", "O", "--steps", "0"]), ("finetune", ["--out", "O", "--fs", "1e12"]),
    ("info", ["--fs", "0"]), ("info", ["--fs", "1e99"]),
]


def option_cases() -> list[Case]:
    """:data:`BAD_OPTIONS` on a good recording."""
    def build(cmd: str, extra: list[str]) -> Callable[[Path], list[str]]:
        def run(r: Path) -> list[str]:
            rec = _rec(r)
            ex = [str(r / e) if e.startswith("O") else e for e in extra]
            return [cmd, "--data", rec, *ex] if cmd in ("train-nq", "pretrain", "bench") else [cmd, rec, *ex]
        return run

    return [Case(cmd, " ".join(extra), build(cmd, extra), out=next((e for e in extra if e.startswith("O")), None))
            for cmd, extra in BAD_OPTIONS]


def random_meta_case(fs: object, trial_cells: tuple[str, str]) -> Case:
    """A traces folder with a generated ``meta.json`` fs and one generated trials row (hypothesis)."""
    def build(r: Path) -> list[str]:
        folder = traces_folder(r, fs=fs)
        (folder / "trials.csv").write_text("start_frame,end_frame\n" + ",".join(trial_cells) + "\n")
        return ["info", str(folder)]
    return Case("info", f"generated fs={fs!r} trials={trial_cells!r}", build)


def sidecars_valid(fs: object, cells: tuple[str, str]) -> bool:
    """Whether :func:`random_meta_case` with these values describes a readable recording."""
    from src_models.validation import MAX_FS

    fs_ok = fs is None or (
        isinstance(fs, int | float) and not isinstance(fs, bool) and math.isfinite(fs) and 0 < fs <= MAX_FS
    )
    if not any(c.strip() for c in cells):   # a blank row is skipped
        return fs_ok
    try:
        s, e = (int(c.strip()) for c in cells)
    except ValueError:
        return False
    return fs_ok and 0 <= s < e <= 600


def reader_inputs(root: Path) -> list[Path]:
    """Bad inputs for the napari reader (its own entry point: returns None or raises CalmError)."""
    cases = [c for c in reader_cases() if c.name not in ("missing path",)]
    paths = []
    for i, case in enumerate(cases):
        folder = root / f"case{i}"
        folder.mkdir()
        argv = case.build(folder)
        paths.append(Path(argv[1]))
    return paths


def all_cases() -> list[Case]:
    """Every hand-made case."""
    return reader_cases() + command_cases() + recording_cases() + option_cases()


@dataclass
class Outcome:
    """What running a case did; ``verdict`` is ``clean``, ``traceback``, ``garbage``, ``lost`` or
    ``executed``."""

    verdict: str
    status: int | None
    stderr: str


def snapshot(root: Path, skip: Path | None) -> dict[str, str]:
    """``relative path -> content hash`` of every file under ``root`` except under ``skip``."""
    out = {}
    for dirpath, _, files in os.walk(root):
        for f in files:
            p = Path(dirpath) / f
            if skip is not None and (p == skip or skip in p.parents):
                continue
            out[str(p.relative_to(root))] = hashlib.sha1(p.read_bytes()).hexdigest()
    return out


def run_case(case: Case, root: Path) -> Outcome:
    """Build ``case`` in ``root`` and run it in-process through ``calm``'s entry point."""
    from napari_calm.cli.main import main

    argv = case.build(root)
    skip = None if case.out is None else root / case.out
    before = snapshot(root, skip)
    err, out = io.StringIO(), io.StringIO()
    status: int | None = None
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
            status = main(argv)
    except BaseException as exc:  # noqa: BLE001 - anything escaping main is a traceback
        import traceback

        err.write("Traceback (most recent call last):\n" + "".join(traceback.format_exception(exc)))
    stderr = err.getvalue()
    if (root / PWNED).exists():
        verdict = "executed"
    elif snapshot(root, skip) != before:
        verdict = "lost"
    elif "Traceback" in stderr:
        verdict = "traceback"
    elif (status == 2 and sum(line.startswith("error: ") for line in stderr.splitlines()) == 1
          and case.expect in stderr):
        verdict = "clean"
    else:
        verdict = "garbage"
    return Outcome(verdict, status, stderr)
