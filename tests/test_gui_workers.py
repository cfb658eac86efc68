"""Job plumbing of the docks without Qt: progress, results, errors and cancellation."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from napari_calm.state import CalmState
from napari_calm.widgets.plot_data import envelope
from napari_calm.workers import JobCancelled, Progress, cancellable, run_with_progress
from src_models.errors import CalmError


def _drain(job):
    items = []
    while True:
        try:
            items.append(next(job))
        except StopIteration as done:
            return items, done.value


def _engine(n: int, *, progress, fail: bool = False):
    for i in range(n):
        progress((i + 1) / n, f"step {i + 1}")
        time.sleep(0.01)
    if fail:
        raise CalmError("bad input", "rec.npz")
    return "result"


def test_run_with_progress_relays_reports_and_the_result():
    items, value = _drain(
        run_with_progress(_engine, 4, convert=lambda f, m: Progress(int(f * 4), 4, m))
    )
    reports = [p for p in items if p.done >= 0]
    assert value == "result"
    assert [p.done for p in reports] == [1, 2, 3, 4] and reports[-1].message == "step 4"


def test_run_with_progress_reraises_the_engine_error():
    with pytest.raises(CalmError, match="rec.npz: bad input"):
        _drain(run_with_progress(_engine, 2, fail=True, convert=lambda f, m: Progress(0, 0, m)))


def test_cancelling_stops_the_job_and_its_engine_thread():
    cancel = threading.Event()
    finished = threading.Event()

    def engine(*, progress):
        try:
            for i in range(1000):
                progress(i / 1000, "working")
                time.sleep(0.005)
        finally:
            finished.set()

    job = cancellable(run_with_progress(engine, convert=lambda f, m: Progress(0, 0, m)), cancel)
    next(job)
    cancel.set()
    with pytest.raises(JobCancelled):
        _drain(job)
    assert finished.wait(2.0), "the engine thread kept running after the job was cancelled"


def test_envelope_keeps_every_peak_with_few_points():
    t = np.arange(100_000, dtype=float)
    y = np.zeros_like(t)
    y[12_345], y[67_890] = 9.0, -7.0
    tt, yy = envelope(t, y, 800)
    assert len(yy) <= 800 and yy.max() == 9.0 and yy.min() == -7.0
    short = envelope(t[:10], y[:10], 800)[1]
    assert len(short) == 10 and np.array_equal(short, y[:10])


def test_selection_toggles_and_steps_within_the_recording():
    class Rec:
        n_neurons = 5

    state = CalmState(recording=Rec())
    state.select([3, 1, 99])
    assert state.selected == (3, 1) and state.current == 3
    state.select([1, 4], add=True)  # toggles 1 off and 4 on; the added neuron becomes current
    assert state.selected == (3, 4) and state.current == 4
    state.select([4], add=True)
    assert state.selected == (3,) and state.current == 3
    state.step(+1)
    assert state.selected == (4,) and state.current == 4
    state.step(+1)
    assert state.current == 0  # wraps
    state.step(-1)
    assert state.current == 4
