"""The one output policy of every command and dock that writes something.

A new output goes to a new path. An existing non-empty path is refused unless

* ``resume``: the folder carries this project's marker (:data:`MARKER`) of the
  same kind (a training run continues where it stopped), or
* ``overwrite``: the output is a file, or a folder carrying a marker — a folder
  the project did not write is never replaced.

Everything is checked by :func:`claim_output` before any work starts. The
claim also takes a lock file next to the output (``.<name>.calm-lock`` holding
the process id), so a second run on the same output is refused while the first
lives; a lock left by a dead process is taken over. :func:`release_outputs`
(called by the ``calm`` entry point when a command ends) drops the locks.
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from src_models.errors import CalmError

#: file inside every output folder the project writes: ``{"kind": ...}``
MARKER = ".calm-output.json"

_HELD: dict[Path, Claim] = {}
_GUARD = threading.Lock()


@dataclass
class Claim:
    """An output this process holds (see :func:`claim_output`).

    Attributes
    ----------
    path : Path
        The output file or folder.
    kind : str
        What writes it (``"pretrain"``, ``"tokenize"``, ...).
    folder : bool
        Whether the output is a folder (then it carries :data:`MARKER`).
    lock : Path or None
        The lock file (None when the process does not lock, e.g. a non-zero
        ``torchrun`` rank).
    made : list of Path
        Parent folders the claim created (removed again when left empty).
    fresh : bool
        Whether the output folder was absent or empty when claimed (only then does
        :meth:`release` mark what was written as the project's).
    """

    path: Path
    kind: str
    folder: bool
    lock: Path | None
    made: list[Path]
    fresh: bool = False

    def release(self) -> None:
        """Mark a written folder as the project's, drop a folder left empty, remove the lock."""
        if self.folder and self.fresh and self.path.is_dir():
            names = set(os.listdir(self.path))
            if names <= {MARKER}:
                shutil.rmtree(self.path, ignore_errors=True)
            elif MARKER not in names:
                write_marker(self.path, self.kind)
        if self.lock is not None:
            self.lock.unlink(missing_ok=True)
        for p in self.made:
            if p.is_dir() and not any(p.iterdir()):
                p.rmdir()
        with _GUARD:
            _HELD.pop(self.path, None)

    def __enter__(self) -> Claim:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def read_marker(folder: Path) -> str | None:
    """The kind recorded in ``folder``'s marker, or None when it has none (or an unreadable one)."""
    try:
        kind = json.loads((folder / MARKER).read_text()).get("kind")
    except (OSError, ValueError, AttributeError):
        return None
    return kind if isinstance(kind, str) else None


def write_marker(folder: Path, kind: str) -> None:
    """Record in ``folder`` that the project wrote it (as ``kind``)."""
    (folder / MARKER).write_text(json.dumps({"kind": kind}) + "\n")


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _take_lock(out: Path) -> Path:
    """Create the lock file of ``out`` (taking over one left by a dead process)."""
    lock = out.with_name(f".{out.name}.calm-lock")
    for _ in range(3):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            try:
                pid = int(lock.read_text().strip() or 0)
            except (OSError, ValueError):
                pid = 0
            if _pid_alive(pid) and (pid != os.getpid() or out in _HELD):
                raise CalmError(f"in use by another calm run (pid {pid})", out) from None
            lock.unlink(missing_ok=True)
            continue
        except OSError as exc:
            raise CalmError(f"cannot write here ({exc.strerror or exc})", out) from None
        with os.fdopen(fd, "w") as fh:
            fh.write(f"{os.getpid()}\n")
        return lock
    raise CalmError("could not take the output's lock file", out)


def _check(path: Path, kind: str, folder: bool, overwrite: bool, resume: bool) -> bool:
    """Apply the policy; returns whether an existing marked folder is to be emptied first."""
    if path.is_symlink() or (path.exists() and not path.is_dir() and not path.is_file()):
        raise CalmError("output exists and is not a plain file or folder; choose another path", path)
    if folder:
        if path.exists() and not path.is_dir():
            raise CalmError("output exists and is a file, not a folder; choose another --out", path)
        if not path.is_dir() or not any(path.iterdir()):
            return False
        marked = read_marker(path)
        if resume and marked == kind:
            return False
        if overwrite and marked is not None:
            return True
        if marked is None:
            raise CalmError("output folder is not empty and was not written by calm; "
                            "choose a new or empty folder", path)
        if resume:
            raise CalmError(f"output folder holds a {marked} run, not a {kind} run; choose another --out",
                            path)
        raise CalmError(f"output folder is not empty: it holds a {marked} output "
                        "(pass --overwrite to replace it)", path)
    if path.is_dir():
        raise CalmError("output is a folder; give a file name", path)
    if path.exists() and not overwrite:
        raise CalmError("output file exists (pass --overwrite to replace it)", path)
    return False


def claim_output(
    path: str | Path,
    kind: str,
    *,
    folder: bool,
    overwrite: bool = False,
    resume: bool = False,
    create: bool = True,
    check: bool = True,
) -> Claim:
    """Check that ``path`` may receive a new output of ``kind`` and lock it; before any work.

    Parameters
    ----------
    path : str or Path
        The output file or folder.
    kind : str
        What writes it; recorded in a folder's marker.
    folder : bool
        Whether the output is a folder (created, with its marker) or one file.
    overwrite : bool
        Replace an existing file, or empty an existing folder the project wrote.
    resume : bool
        Accept an existing folder holding this project's output of the same ``kind``.
    create : bool
        Create the output folder with its marker now (so a run killed midway can be resumed);
        off for writers that move a finished folder into place (the marker follows on release).
    check : bool
        Apply the policy; off only for a writer with its own equivalent checks (``extract``
        replaces nothing but suite2p results, atomically), which then only takes the lock.

    Returns
    -------
    Claim
        Release it (or leave that to :func:`release_outputs`) when the output is written.

    Raises
    ------
    CalmError
        The policy refuses the path, another live run holds it, or it cannot be written.
    """
    path = Path(path).expanduser().absolute()
    empty_first = check and _check(path, kind, folder, overwrite, resume)
    parent = path.parent
    made = [p for p in [parent, *parent.parents] if not p.exists()]
    above = next(p for p in [parent, *parent.parents] if p.exists())
    if not above.is_dir():
        raise CalmError(f"{above} is a file, not a folder", path)
    if made:
        if not folder:
            raise CalmError("output folder does not exist", parent)
        try:
            parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise CalmError(f"cannot create the output folder ({exc.strerror or exc})", path) from None
    if not os.access(parent, os.W_OK | os.X_OK):
        raise CalmError("cannot write here (permission denied)", path)
    lock = _take_lock(path) if int(os.environ.get("RANK", "0") or 0) == 0 else None
    fresh = empty_first or not path.is_dir() or not any(path.iterdir())
    claim = Claim(path, kind, folder, lock, made, fresh)
    with _GUARD:
        _HELD[path] = claim
    try:
        if folder and lock is not None:
            if empty_first:
                shutil.rmtree(path)
            if create:
                path.mkdir(exist_ok=True)
                if not (path / MARKER).exists():
                    write_marker(path, kind)
    except OSError as exc:
        claim.release()
        raise CalmError(f"cannot write here ({exc.strerror or exc})", path) from None
    return claim


def write_atomic(path: str | Path, data: str | bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder and a rename."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data.encode() if isinstance(data, str) else data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_npz(path: str | Path, arrays: dict[str, Any], meta: dict[str, Any], *, meta_key: str = "json") -> Path:
    """Write ``arrays`` plus ``meta`` (strict JSON under ``meta_key``) to the ``.npz`` ``path`` atomically.

    Compressed in memory and written by :func:`write_atomic`, so an interrupted write never
    leaves a partial file; object arrays are refused, so nothing in it needs pickle to load.
    """
    import io

    import numpy as np

    payload = {k: np.asarray(v) for k, v in arrays.items()}
    if any(v.dtype == object for v in payload.values()):
        raise CalmError("refusing to write object arrays (they would need pickle)", path)
    payload[meta_key] = np.asarray(dumps(meta))
    buf = io.BytesIO()
    np.savez_compressed(buf, **payload)
    write_atomic(path, buf.getvalue())
    return Path(path)


def json_safe(obj: Any) -> Any:
    """Numpy scalars/arrays to Python, NaN/Inf to None, recursively (valid strict JSON)."""
    if isinstance(obj, dict):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [json_safe(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return json_safe(obj.tolist())
    if isinstance(obj, np.bool_ | bool):
        return bool(obj)
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, float | np.floating):
        return float(obj) if np.isfinite(obj) else None
    return obj


def dumps(obj: Any, indent: int | None = None) -> str:
    """Strict JSON (one line unless ``indent``): the one writer of every ``--json`` and results file."""
    return json.dumps(json_safe(obj), allow_nan=False, indent=indent)


def release_outputs() -> None:
    """Release every output this process still holds."""
    with _GUARD:
        held = list(_HELD.values())
    for claim in held:
        claim.release()


atexit.register(release_outputs)
