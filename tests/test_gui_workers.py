"""Job plumbing of the docks without Qt: progress, results, errors and cancellation."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from napari_calm.state import CalmState
from napari_calm.widgets.plot_data import code_usage, envelope, feature_colors, panel_columns
from src_models.analysis.selectivity import tuning_classes
from src_models.jobs import Job, JobCancelled, Progress
from src_models.errors import CalmError


def test_a_job_relays_progress_reraises_errors_and_stops_when_cancelled():
    closed = threading.Event()

    def run(cancel, fail=False):
        try:
            for i in range(1000):
                yield Progress(i, 1000, "working")
                if fail:
                    raise CalmError("bad input", "rec.npz")
            return "result"
        finally:
            closed.set()

    assert Job(lambda c: run(c)).run() == "result"
    with pytest.raises(CalmError, match="rec.npz: bad input"):
        Job(lambda c: run(c, fail=True)).run()
    job = Job(run)
    closed.clear()
    with pytest.raises(JobCancelled):
        for p in job:
            assert p.step == 0 and p.message == "working"
            job.cancel()
    assert closed.is_set(), "the job's generator was not closed when it was cancelled"


def test_envelope_keeps_every_peak_with_few_points():
    t = np.arange(100_000, dtype=float)
    y = np.zeros_like(t)
    y[12_345], y[67_890] = 9.0, -7.0
    tt, yy = envelope(t, y, 800)
    assert len(yy) <= 800 and yy.max() == 9.0 and yy.min() == -7.0
    short = envelope(t[:10], y[:10], 800)[1]
    assert len(short) == 10 and np.array_equal(short, y[:10])


def test_plot_prep_panels_code_usage_and_feature_colours():
    values = np.arange(12, dtype=float).reshape(3, 4)
    columns = panel_columns(values, [2, 0])
    assert np.array_equal(columns, np.column_stack([values[:, 2], values[:, 0], values.mean(1)]))
    used, often = code_usage(np.array([1, 1, 1, 4, 4, 4, 7]), 10)
    assert used.tolist() == [1, 4, 7] and often.tolist() == [1, 4]
    colors, mappable = feature_colors(np.array([-1.0, 0.0, 2.0, np.nan]), "cue_si")
    assert colors.shape == (4, 4) and tuple(colors[3]) == (0.55, 0.55, 0.55, 1.0)
    assert mappable.norm.vmin == -2.0 and mappable.norm.vmax == 2.0


def test_tuning_classes_name_each_neurons_strongest_significant_column_and_side():
    from types import SimpleNamespace

    sel = {
        "cue": SimpleNamespace(classes=(0, 1), si=np.array([-0.8, 0.6, 0.2, 0.1, 0.3]),
                               significant=np.array([True, True, True, False, False])),
        "choice": SimpleNamespace(classes=("L", "R"), si=np.array([0.1, 0.0, -0.9, 0.7, 0.9]),
                                  significant=np.array([True, False, True, True, False])),
    }
    codes, names = tuning_classes(sel)
    assert names == ["untuned", "cue 0", "cue 1", "choice L", "choice R"]
    # cue-0 (|SI| .8 beats choice .1), cue-1, choice-L (.9 beats cue .2), choice-R, untuned (not significant)
    assert codes.tolist() == [1, 2, 3, 4, 0]
    colors, mappable = feature_colors(codes, "tuning", names)
    assert mappable.categories == names and len({tuple(c) for c in colors}) == 5
    assert tuple(colors[4][:3]) == (0.45, 0.45, 0.45)  # untuned is dim grey


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
