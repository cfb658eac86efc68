"""Run an extraction in a separate process: start, stream progress, cancel, wait.

:class:`ExtractionJob` (used by ``calm extract`` and the Extract ROIs panel)
checks the movie and destination here, then runs suite2p in
``python -m napari_calm.extraction.worker`` in its own process group, which
streams JSON progress lines. :meth:`ExtractionJob.cancel` kills the group and
removes the temporary folder; a crash (even a segfault) ends only the worker
and is reported as a :class:`~src_models.errors.CalmError`.

Example
-------
>>> job = ExtractionJob("movie.tif", "movie_suite2p").start()   # doctest: +SKIP
>>> while job.running:                                          # doctest: +SKIP
...     for p in job.progress(timeout=0.5):
...         print(f"{p.fraction:4.0%} {p.message}")
>>> result = job.wait()                                         # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

from napari_calm.extraction.run import ExtractionResult, Progress, check_destination, temp_folder
from napari_calm.extraction.settings import ExtractionSettings, MovieInfo, probe_movie
from src_models.errors import CalmError

#: Seconds a cancelled worker gets after SIGTERM before SIGKILL.
KILL_GRACE_S = 3.0
#: Characters of the worker's stderr quoted when it dies without a report.
STDERR_TAIL = 400
#: Environment variables set to ``threads`` in the worker (BLAS/OpenMP pools).
THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS")


class ExtractionJob:
    """One suite2p extraction in a worker process.

    Parameters
    ----------
    movie : str or Path
        TIFF movie.
    out : str or Path
        Results folder.
    settings : ExtractionSettings, optional
        Frame rate, decay, diameter, planes, device, threads ...
    overwrite : bool
        Replace an ``out`` that already holds results.

    Attributes
    ----------
    state : str
        ``idle``, ``running``, ``done``, ``failed`` or ``cancelled``.
    last : Progress or None
        The latest progress report.
    error : str
        One-line reason when ``failed``.
    info : MovieInfo or None
        What the movie's check found (set by :meth:`start`).
    """

    def __init__(
        self, movie: str | Path, out: str | Path, settings: ExtractionSettings | None = None, *,
        overwrite: bool = False,
    ) -> None:
        self.movie = Path(movie).expanduser().absolute()
        self.out = Path(out).expanduser().absolute()
        self.settings = settings or ExtractionSettings()
        self.overwrite = overwrite
        self.state = "idle"
        self.last: Progress | None = None
        self.error = ""
        self.workdir: Path | None = None
        self.info: MovieInfo | None = None
        self._result: ExtractionResult | None = None
        self._events: queue.Queue[Progress] = queue.Queue()
        self._proc: subprocess.Popen[bytes] | None = None
        self._reader: threading.Thread | None = None
        self._stderr: Any = None
        self._missing_parents: list[Path] = []
        self._lock = threading.Lock()

    # -- lifecycle -----------------------------------------------------------------------------
    def start(self) -> ExtractionJob:
        """Check the input and start the worker; returns ``self``.

        Raises
        ------
        CalmError
            Bad movie, destination or settings (nothing is started or written).
        RuntimeError
            When the job was already started.
        """
        if self.state != "idle":
            raise RuntimeError("this extraction job was already started")
        info = probe_movie(self.movie, self.settings)
        check_destination(self.out, info.path, self.overwrite)
        self.info = info
        self._missing_parents = [p for p in self.out.parents if not p.exists()]
        self.workdir = temp_folder(self.out)
        request = {
            "movie": str(info.path),
            "out": str(self.out),
            "settings": self.settings.to_dict(),
            "overwrite": self.overwrite,
            "workdir": str(self.workdir),
            "parent_pid": os.getpid(),
        }
        self._stderr = tempfile.TemporaryFile()
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "napari_calm.extraction.worker", json.dumps(request)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            env=self._environment(),
            start_new_session=os.name == "posix",
        )
        self.state = "running"
        self._reader = threading.Thread(target=self._read, name="calm-extract-reader", daemon=True)
        self._reader.start()
        return self

    def _environment(self) -> dict[str, str]:
        """The worker's environment: this checkout importable first, thread caps when asked."""
        import napari_calm

        env = dict(os.environ)
        root = str(Path(napari_calm.__file__).resolve().parents[1])
        env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH", "")) if p)
        env["PYTHONUNBUFFERED"] = "1"
        if self.settings.threads is not None:
            env.update({v: str(int(self.settings.threads)) for v in THREAD_VARS})
        return env

    def _read(self) -> None:
        """Reader thread: parse the worker's JSON lines into events, result and error."""
        assert self._proc is not None and self._proc.stdout is not None
        for raw in self._proc.stdout:
            try:
                msg = json.loads(raw.decode("utf-8", "replace"))
            except json.JSONDecodeError:
                continue
            event = msg.get("event")
            if event == "progress":
                stage, fraction = str(msg.get("stage", "")), float(msg.get("fraction", 0.0))
                p = Progress(stage, fraction, str(msg.get("message", "")))
                self.last = p
                self._events.put(p)
            elif event == "done":
                self._result = ExtractionResult.from_dict(msg["result"])
            elif event == "error":
                self.error = str(msg.get("message", "extraction failed"))
        self._proc.stdout.close()

    # -- queries -------------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        """True while the worker process is alive."""
        return self._proc is not None and self._proc.poll() is None

    @property
    def finished(self) -> bool:
        """True once the worker has ended and its output has been read."""
        ended = self._proc is not None and self._proc.poll() is not None
        return ended and not self._reader_alive()

    def _reader_alive(self) -> bool:
        return self._reader is not None and self._reader.is_alive()

    def progress(self, timeout: float = 0.0) -> list[Progress]:
        """Progress reports since the last call (waits up to ``timeout`` s for the first one)."""
        out: list[Progress] = []
        try:
            out.append(self._events.get(timeout=timeout) if timeout > 0 else self._events.get_nowait())
            while True:
                out.append(self._events.get_nowait())
        except queue.Empty:
            return out

    # -- control -------------------------------------------------------------------------------
    def cancel(self) -> None:
        """Kill the worker (its whole process group) and remove the temporary folder.

        A job that already finished is left as it is.
        """
        with self._lock:
            if self._proc is None or self.state != "running":
                return
            if self._proc.poll() is None:
                self.state = "cancelled"
                self._signal(signal.SIGTERM)
                try:
                    self._proc.wait(KILL_GRACE_S)
                except subprocess.TimeoutExpired:
                    self._signal(signal.SIGKILL)
                    self._proc.wait()
        self._finish()

    def _signal(self, sig: int) -> None:
        assert self._proc is not None
        try:
            if os.name == "posix":
                os.killpg(self._proc.pid, sig)
            else:
                self._proc.kill()
        except ProcessLookupError:
            pass

    def wait(self, timeout: float | None = None) -> ExtractionResult:
        """Wait for the worker to end and return its result.

        Parameters
        ----------
        timeout : float, optional
            Seconds to wait; ``TimeoutError`` after that (the job keeps running).

        Raises
        ------
        CalmError
            The extraction failed (bad input found by the worker, no ROIs, a
            suite2p crash) or was cancelled; nothing is left behind.
        """
        if self._proc is None:
            raise RuntimeError("the extraction job was not started")
        try:
            self._proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise TimeoutError(f"extraction still running after {timeout} s") from None
        self._finish()
        if self.state == "done" and self._result is not None:
            return self._result
        if self.state == "cancelled":
            raise CalmError("extraction cancelled", self.movie)
        raise CalmError(self.error or "extraction failed", None if self.error else self.movie)

    def _finish(self) -> None:
        """After the worker ended: collect its output, settle the state, clean up on failure."""
        if self._reader is not None:
            self._reader.join()
        assert self._proc is not None
        with self._lock:
            if self.state != "running":
                self._cleanup()
                return
            code = self._proc.returncode
            if code == 0 and self._result is not None:
                self.state = "done"
            else:
                self.state = "failed"
                if not self.error:
                    self.error = self._died(code)
                elif code == 1:
                    self.error = f"suite2p failed: {self.error}"
            self._cleanup()
            if self._stderr is not None:
                self._stderr.close()
                self._stderr = None

    def _died(self, code: int | None) -> str:
        """One line for a worker that ended without reporting (killed, segfault, OOM)."""
        how = f"signal {-code}" if code is not None and code < 0 else f"exit status {code}"
        tail = ""
        if self._stderr is not None:
            self._stderr.seek(0)
            text = self._stderr.read().decode("utf-8", "replace").strip()
            tail = " ".join(text.splitlines()[-1:]) if text else ""
        return f"extraction process died ({how}){': ' + tail[-STDERR_TAIL:] if tail else ''}"

    def _cleanup(self) -> None:
        """Remove the temporary folder and the parents this job created, unless it succeeded."""
        if self.state == "done":
            return
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)
        for folder in self._missing_parents:
            if folder.is_dir() and not any(folder.iterdir()):
                folder.rmdir()

    @property
    def result(self) -> ExtractionResult | None:
        """The result once ``done`` (else None)."""
        return self._result if self.state == "done" else None
