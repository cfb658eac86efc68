"""A progress bar, status line and Cancel button driving one napari thread worker.

Progress yields are coalesced to at most four GUI updates a second; a step quiet for over
:data:`QUIET_S` counts its seconds; errors become a one-line notification and the status line
ends with done, cancelled or failed.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

from qtpy.QtCore import QTimer
from qtpy.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QPushButton, QVBoxLayout, QWidget

from napari_calm.workers import JobCancelled, Progress

log = logging.getLogger("napari_calm")

#: Minimum interval between two GUI updates from a worker's yields (ms).
THROTTLE_MS = 250
#: Seconds a step may run without news before the status line counts its seconds.
QUIET_S = 2.0


def error_message(exc: BaseException) -> str:
    """One line for a notification: the CalmError message, else ``Type: message``."""
    from src_models.errors import CalmError

    text = " ".join(str(exc).split())
    if isinstance(exc, CalmError):
        return text
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def notify_error(exc: BaseException) -> None:
    """Show ``exc`` as a one-line napari error notification (traceback only in the log)."""
    from napari.utils.notifications import show_error

    from src_models.errors import CalmError

    if not isinstance(exc, CalmError):
        log.error("napari-calm job failed", exc_info=(type(exc), exc, exc.__traceback__))
    show_error(error_message(exc))


class JobPanel(QWidget):
    """Progress, status and cancel for one background job at a time.

    Parameters
    ----------
    parent : QWidget, optional
        Qt parent (the dock).

    Attributes
    ----------
    worker : GeneratorWorker or None
        The running worker (None when idle).
    last_error : str
        One-line message of the last failed job ('' after a success).
    cancelled : bool
        Whether the last job was cancelled: it raised ``JobCancelled``, or it was asked
        to stop and returned None or a result whose ``stopped`` is true.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.worker: Any = None
        self.last_error = ""
        self.cancelled = False
        self._cancel_asked = False
        self._label = ""
        self._pending: list[Progress] = []
        self._on_progress: Callable[[list[Progress]], None] | None = None
        self.bar = QProgressBar()
        self.bar.setRange(0, 1)
        self.bar.setValue(0)
        self.bar.setTextVisible(True)
        self.status = QLabel("idle")
        self.status.setWordWrap(True)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel)
        column = QVBoxLayout(self)
        column.setContentsMargins(0, 0, 0, 0)
        row = QHBoxLayout()
        row.addWidget(self.bar, 2)
        row.addWidget(self.cancel_button)
        column.addLayout(row)
        column.addWidget(self.status)
        self._flush_timer = QTimer(self)
        self._flush_timer.setSingleShot(True)
        self._flush_timer.setInterval(THROTTLE_MS)
        self._flush_timer.timeout.connect(self._flush)
        self._step = ("", 0.0)  # the current step's message and when it began
        self._clock = QTimer(self)
        self._clock.setInterval(1000)
        self._clock.timeout.connect(self._tick)

    @property
    def busy(self) -> bool:
        """True while a job runs."""
        return self.worker is not None

    def start(
        self,
        worker: Any,
        *,
        on_result: Callable[[Any], None],
        on_progress: Callable[[list[Progress]], None] | None = None,
        on_finished: Callable[[], None] | None = None,
        label: str = "working",
    ) -> Any:
        """Run ``worker`` (a not-yet-started napari ``GeneratorWorker``) and return it.

        Parameters
        ----------
        worker : GeneratorWorker
            Created by a factory in :mod:`napari_calm.workers`.
        on_result : callable
            Called on the GUI thread with the worker's return value.
        on_progress : callable, optional
            Called on the GUI thread, throttled, with the :class:`Progress` items since last time.
        on_finished : callable, optional
            Called on the GUI thread when the job ends (done, failed or cancelled).
        label : str
            What the job is, for the status line.
        """
        if self.busy:
            raise RuntimeError("a job is already running in this dock")
        self.worker = worker
        self.last_error = ""
        self.cancelled = False
        self._cancel_asked = False
        self._label = label
        self._on_progress = on_progress
        self._pending = []
        # a determinate bar at 0 until the first report: the indeterminate "busy"
        # animation repaints the window continuously (costly with software OpenGL)
        self.bar.setRange(0, 1)
        self.bar.setValue(0)
        self._show_step(f"{label}…")
        self._clock.start()
        self.cancel_button.setEnabled(True)
        if hasattr(worker, "_relay_error"):
            # one-line notifications instead of napari's traceback relay (where it is connected)
            with contextlib.suppress(TypeError, RuntimeError):
                worker.errored.disconnect(worker._relay_error)
        worker.yielded.connect(self._queue)
        worker.returned.connect(self._succeeded)
        worker.returned.connect(on_result)
        worker.errored.connect(self._failed)
        if hasattr(worker, "aborted"):  # a generator worker stopped by quit()
            worker.aborted.connect(self._cancelled)
        worker.finished.connect(self._done)
        if on_finished is not None:
            worker.finished.connect(on_finished)
        event = getattr(worker, "cancel_event", None)
        if event is not None:
            # a dock that goes away (viewer closed) cancels its job
            self.destroyed.connect(lambda *_: event.set())
        worker.start()
        return worker

    def cancel(self) -> None:
        """Ask the running job to stop at its next progress point (its ``cancel_event``)."""
        if self.worker is not None:
            self._cancel_asked = True
            self.status.setText("cancelling…")
            self.cancel_button.setEnabled(False)
            event = getattr(self.worker, "cancel_event", None)
            if event is not None:
                event.set()
            else:
                self.worker.quit()

    # -- slots -----------------------------------------------------------------------------
    def _queue(self, item: Any) -> None:
        if isinstance(item, Progress) and item.step >= 0:
            self._pending.append(item)
            if not self._flush_timer.isActive():
                self._flush_timer.start()

    def _flush(self) -> None:
        items, self._pending = self._pending, []
        if not items:
            return
        last = items[-1]
        if last.total > 0:
            self.bar.setRange(0, last.total)
            self.bar.setValue(min(last.step, last.total))
        self._show_step(last.message or self._step[0])
        if self._on_progress is not None:
            self._on_progress(items)

    def _show_step(self, message: str) -> None:
        """Show ``message``; news from the job restarts the count of quiet seconds."""
        self._step = (message, time.monotonic())
        self.status.setText(message)

    def _tick(self) -> None:
        """Count the seconds of a step that has reported nothing for a while."""
        message, since = self._step
        quiet = time.monotonic() - since
        if self.busy and quiet > QUIET_S and not self._cancel_asked:
            self.status.setText(f"{message} ({quiet:.0f} s)")

    def _succeeded(self, result: Any) -> None:
        self._flush()
        stopped = result is None or bool(getattr(result, "stopped", False))
        self.cancelled = self._cancel_asked and stopped
        self.status.setText(f"{self._label}: {'cancelled' if self.cancelled else 'done'}")

    def _cancelled(self, *_: Any) -> None:
        self._flush()
        self.cancelled = True
        self.status.setText(f"{self._label}: cancelled")

    def _failed(self, exc: BaseException) -> None:
        if isinstance(exc, JobCancelled):
            self._cancelled()
            return
        self._flush()
        self.last_error = error_message(exc)
        self.status.setText(f"failed: {self.last_error}")
        notify_error(exc)

    def _done(self) -> None:
        self._flush_timer.stop()
        self._clock.stop()
        self._flush()
        self.worker = None
        self._on_progress = None
        self.bar.setRange(0, 1)
        self.bar.setValue(0 if self.last_error or self.cancelled else 1)
        self.cancel_button.setEnabled(False)
