"""The extraction process: ``python -m napari_calm.extraction.worker REQUEST_JSON``.

``REQUEST_JSON`` is an object with ``movie``, ``out``, ``settings`` (see
:meth:`~.settings.ExtractionSettings.to_dict`), ``overwrite``, ``workdir`` and
``parent_pid``. The process runs :func:`~.run.run_extraction` and writes one
JSON object per line on its standard output:

* ``{"event": "progress", "stage": ..., "fraction": ..., "message": ...}``
* ``{"event": "done", "result": {...}}`` (:meth:`~.run.ExtractionResult.to_dict`)
* ``{"event": "error", "kind": "input" | "crash", "message": ...}``

Anything else printed goes to standard error. Exit status: 0 done, 2 bad
input, 1 crash. If the supervising process disappears, the worker removes its
temporary folder and exits.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import threading
import time
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

#: Seconds between checks that the supervising process is still alive.
WATCHDOG_S = 1.0


def _progress_channel() -> TextIO:
    """The real stdout as a line-buffered text stream; fd 1 and ``sys.stdout`` now go to stderr."""
    channel = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return channel


def _watch_parent(parent_pid: int, workdir: Path) -> None:
    """Exit (removing ``workdir``) once the supervising process is gone."""

    def loop() -> None:
        while True:
            time.sleep(WATCHDOG_S)
            if os.getppid() != parent_pid:
                shutil.rmtree(workdir, ignore_errors=True)
                os._exit(3)

    threading.Thread(target=loop, name="calm-extract-watchdog", daemon=True).start()


def main(argv: Sequence[str] | None = None) -> int:
    """Run one extraction request; returns the exit status."""
    from napari_calm.extraction.run import Progress, run_extraction
    from napari_calm.extraction.settings import ExtractionSettings
    from src_models.errors import CalmError

    args = list(sys.argv[1:] if argv is None else argv)
    request: dict[str, Any] = json.loads(args[0])
    channel = _progress_channel()
    lock = threading.Lock()

    def send(obj: dict[str, Any]) -> None:
        with lock:
            channel.write(json.dumps(obj) + "\n")
            channel.flush()

    def progress(p: Progress) -> None:
        send({"event": "progress", **p.to_dict()})

    if request.get("parent_pid"):
        _watch_parent(int(request["parent_pid"]), Path(request["workdir"]))
    try:
        result = run_extraction(
            request["movie"],
            request["out"],
            ExtractionSettings.from_dict(request.get("settings") or {}),
            overwrite=bool(request.get("overwrite")),
            workdir=request["workdir"],
            progress=progress,
        )
    except CalmError as exc:
        send({"event": "error", "kind": "input", "message": str(exc)})
        return 2
    except Exception as exc:  # a suite2p/torch failure: report one line, traceback to stderr
        traceback.print_exc()
        send({"event": "error", "kind": "crash", "message": f"{type(exc).__name__}: {exc}"})
        return 1
    send({"event": "done", "result": result.to_dict()})
    return 0


if __name__ == "__main__":
    sys.exit(main())
