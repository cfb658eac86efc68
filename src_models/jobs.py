"""One job protocol for every long computation: a generator of :class:`Progress` records.

A :class:`Job` wraps ``run(cancel) -> Generator[Progress, None, T]``; iterating it yields the
progress and its return value is :attr:`Job.result`. The CLI drives it with ``job.run(bar=True)``,
the docks with a napari ``thread_worker`` (``yield from job``), notebooks with ``for p in job``.
``job.cancel()`` stops it at its next record: a job that handles its own stop flag sees
``cancel_event`` (a fine-tune saves a resumable checkpoint), any other raises
:class:`JobCancelled`; ``job.resume()`` is a fresh job with the same arguments. torch's thread
count and the ``triton`` switch are set for the job alone (:func:`job_environment`).
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Generator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

T = TypeVar("T")
_MISSING = object()


@dataclass(frozen=True)
class Progress:
    """One progress record of a job.

    Attributes
    ----------
    step, total : int
        Units finished and expected (``total == 0``: unknown).
    message : str
        Short status line.
    metrics : dict
        Job-specific values (a fine-tune reports ``loss``, ``val_loss``, ``phase``, ...).
    """

    step: int
    total: int
    message: str = ""
    metrics: dict[str, Any] = field(default_factory=dict)


class JobCancelled(Exception):
    """A job stopped because it was cancelled (not an error)."""


@contextmanager
def job_environment(threads: int | None = None) -> Iterator[None]:
    """Keep ``triton`` out and run torch on ``threads`` threads inside the block; restore both after.

    Bundled triton LLVM crashes a process whose OpenGL driver already loaded Mesa's LLVM (napari),
    so ``sys.modules['triton'] = None`` (unless already loaded) makes torch treat it as absent.
    """
    previous = sys.modules.get("triton", _MISSING)
    if previous is _MISSING:
        sys.modules["triton"] = None  # type: ignore[assignment]
    import torch

    threads_before = torch.get_num_threads()
    if threads:
        torch.set_num_threads(int(threads))
    try:
        yield
    finally:
        torch.set_num_threads(threads_before)
        if previous is _MISSING and sys.modules.get("triton", _MISSING) is None:
            del sys.modules["triton"]


class Job(Generic[T]):
    """A long computation as an iterable of :class:`Progress` records (module docstring).

    Parameters
    ----------
    run : callable
        ``run(cancel_event) -> Generator[Progress, None, T]``.
    threads : int, optional
        torch threads while the job runs (default: leave as is).
    handles_cancel : bool
        The generator watches ``cancel_event`` itself and ends normally (fine-tunes).
    name : str
        Label of the progress bar.
    """

    def __init__(
        self,
        run: Callable[[threading.Event], Generator[Progress, None, T]],
        *,
        threads: int | None = None,
        handles_cancel: bool = False,
        name: str = "job",
    ) -> None:
        self._run = run
        self.threads = threads
        self.handles_cancel = handles_cancel
        self.name = name
        self.cancel_event = threading.Event()
        self.result: T | None = None

    def __iter__(self) -> Generator[Progress, None, T]:
        with job_environment(self.threads):
            gen = self._run(self.cancel_event)
            try:
                while True:
                    if self.cancel_event.is_set() and not self.handles_cancel:
                        raise JobCancelled(f"{self.name} cancelled")
                    try:
                        item = next(gen)
                    except StopIteration as stop:
                        if self.cancel_event.is_set() and not self.handles_cancel:
                            raise JobCancelled(f"{self.name} cancelled") from None
                        self.result = stop.value
                        return stop.value
                    yield item
            finally:
                gen.close()

    def cancel(self) -> None:
        """Stop at the next progress record."""
        self.cancel_event.set()

    def resume(self) -> Job[T]:
        """A fresh job with the same arguments (a fine-tune resumes from its last checkpoint)."""
        return Job(self._run, threads=self.threads, handles_cancel=self.handles_cancel, name=self.name)

    def run(self, bar: bool = False) -> T:
        """Drive the job to its end (with a tqdm bar on stderr when ``bar``) and return its result."""
        if not bar:
            for _ in self:
                pass
            return self.result  # type: ignore[return-value]
        from tqdm import tqdm

        with tqdm(desc=self.name, unit="step", file=sys.stderr, dynamic_ncols=True) as pbar:
            for p in self:
                if p.total:
                    pbar.total = p.total
                pbar.n = max(p.step, 0)
                pbar.set_postfix_str(p.message, refresh=True)
        return self.result  # type: ignore[return-value]
