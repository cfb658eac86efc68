"""Simulator: shapes, determinism, planted ground truth, indicator kinetics."""

from __future__ import annotations

import numpy as np
import pytest

from src_models.errors import CalmError
from src_models.preprocessing import delta_f_over_f
from src_models.simulation import INDICATORS, indicator_kernel, simulate
from src_models.simulation.calcium import calcium_dff
from src_models.simulation.timebase import Timebase


@pytest.fixture(scope="module")
def task_session():
    return simulate("task", seed=3, n_neurons=60, n_frames=3000)[0]


def _auc(pos: np.ndarray, neg: np.ndarray) -> float:
    """Mann–Whitney AUC of ``pos`` above ``neg``."""
    both = np.concatenate([pos, neg])
    ranks = np.argsort(np.argsort(both)) + 1.0
    return float((ranks[: len(pos)].sum() - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg)))


def test_poco_shapes_and_zscore():
    (s,) = simulate("poco", n_neurons=40, n_frames=800)
    rec = s.recording
    assert rec.F.shape == (40, 800) and rec.fs == 20.0 and rec.kind == "simulated"
    assert np.allclose(rec.F.mean(1), 0, atol=1e-4) and np.allclose(rec.F.std(1), 1, atol=1e-3)
    assert s.ground_truth["J"].shape == (40, 40)
    assert len(rec.rois) == 40 and rec.Fneu is None and rec.n_trials == 0
    # chaotic, not collapsed: units decorrelate within a second and differ from each other
    lag = 20
    ac = np.mean([np.corrcoef(x[:-lag], x[lag:])[0, 1] for x in rec.F])
    assert ac < 0.9
    assert np.abs(np.corrcoef(rec.F)[np.triu_indices(40, 1)]).mean() < 0.6


def test_poco_default_supports_poco_splits():
    from src_models.simulation import PRESETS

    p = PRESETS["poco"]
    assert 150 <= p.n_neurons <= 300
    assert 0.2 * p.n_frames >= 4 * (48 + 16)


def test_same_seed_same_data_and_seeds_differ():
    a = simulate("task", seed=1, n_neurons=20, n_frames=400)[0]
    b = simulate("task", seed=1, n_neurons=20, n_frames=400)[0]
    c = simulate("task", seed=2, n_neurons=20, n_frames=400)[0]
    assert np.array_equal(a.recording.F, b.recording.F)
    assert np.array_equal(a.ground_truth["spikes"], b.ground_truth["spikes"])
    assert a.recording.trials["cue"].tolist() == b.recording.trials["cue"].tolist()
    assert not np.array_equal(a.recording.F, c.recording.F)


def test_movie_does_not_change_traces():
    a = simulate("task", seed=5, n_neurons=15, n_frames=200)[0]
    b = simulate("task", seed=5, n_neurons=15, n_frames=200, movie=True)[0]
    assert np.array_equal(a.recording.F, b.recording.F)
    assert a.recording.movie is None
    movie = b.recording.movie
    assert movie.dtype == np.uint16 and movie.shape == (200, *b.recording.rois.shape)


def test_task_recording_contents(task_session):
    rec, gt = task_session.recording, task_session.ground_truth
    n, T = rec.F.shape
    assert (n, T) == (60, 3000) and rec.fs == 15.0
    assert rec.Fneu.shape == (n, T) and rec.neuropil_coefficient == 0.7
    assert set(rec.behavior) == {"angular_velocity", "running_speed"}
    assert (rec.behavior["running_speed"] >= 0).all()
    tr = rec.trials
    assert rec.n_trials > 20
    assert (tr["start_frame"] < tr["delay_start_frame"]).all()
    assert (tr["delay_start_frame"] < tr["choice_start_frame"]).all()
    assert (tr["choice_start_frame"] < tr["end_frame"]).all() and (tr["end_frame"] <= T).all()
    assert set(np.unique(tr["cue"])) == {0, 1}
    assert np.array_equal(tr["outcome"], (tr["cue"] == tr["choice"]).astype(int))
    for key in ("rates", "spikes", "calcium", "neuropil_dff"):
        assert gt[key].shape == (n, T), key
    assert set(np.unique(gt["neuron_type"])) == {0, 1, 2}
    tuned = gt["neuron_type"] > 0
    assert (gt["tuning_strength"][~tuned] == 0).all()
    assert gt["tuning_strength"][tuned].min() >= 0.2 and gt["tuning_strength"][tuned].max() <= 1
    rate = gt["spikes"].sum(1) / (T / rec.fs)
    assert 0.2 < np.median(rate) < 6.0


def test_planted_cue_cells_are_selective(task_session):
    rec, gt = task_session.recording, task_session.ground_truth
    dff = delta_f_over_f(rec.traces, rec.fs)
    tr = rec.trials
    resp = np.stack(
        [dff[:, a:b].mean(1) for a, b in zip(tr["start_frame"], tr["choice_start_frame"])], 1
    )
    left = tr["cue"] == 0
    auc = np.array([_auc(x[left], x[~left]) for x in resp])
    signed = np.where(gt["preferred_side"] == 0, auc, 1 - auc)
    strong_cue = (gt["neuron_type"] == 1) & (gt["tuning_strength"] > 0.6)
    untuned = gt["neuron_type"] == 0
    assert strong_cue.sum() >= 3
    assert signed[strong_cue].mean() > 0.8
    assert np.abs(auc[untuned] - 0.5).mean() < 0.15
    cue_cells = gt["neuron_type"] == 1
    assert np.corrcoef(gt["tuning_strength"][cue_cells], signed[cue_cells])[0, 1] > 0.3


def test_planted_choice_cells_follow_choice_not_cue(task_session):
    rec, gt = task_session.recording, task_session.ground_truth
    tr = rec.trials
    resp = np.stack(
        [gt["calcium"][:, a:b].mean(1) for a, b in zip(tr["choice_start_frame"], tr["end_frame"])],
        1,
    )
    assert (tr["outcome"] == 0).sum() >= 3  # error trials separate choice from cue
    cells = np.flatnonzero((gt["neuron_type"] == 2) & (gt["tuning_strength"] > 0.4))
    sign = np.where(gt["preferred_side"][cells] == 0, 1.0, -1.0)
    left_choice = (tr["choice"] == 0).astype(float)
    left_cue = (tr["cue"] == 0).astype(float)
    r_choice = sign * np.array([np.corrcoef(resp[i], left_choice)[0, 1] for i in cells])
    r_cue = sign * np.array([np.corrcoef(resp[i], left_cue)[0, 1] for i in cells])
    assert len(cells) >= 3
    assert r_choice.mean() > 0.5 and r_choice.mean() > r_cue.mean() + 0.1


def test_behaviour_tracks_choice(task_session):
    rec = task_session.recording
    tr, av = rec.trials, rec.behavior["angular_velocity"]
    turn = np.array([av[a:b].mean() for a, b in zip(tr["choice_start_frame"], tr["end_frame"])])
    assert turn[tr["choice"] == 0].mean() > turn[tr["choice"] == 1].mean() + 20


def test_corpus_sessions_differ():
    sessions = simulate("corpus", seed=0, n_sessions=4, n_neurons=40, n_frames=300)
    assert len(sessions) == 4
    counts = {s.recording.n_neurons for s in sessions}
    assert len(counts) > 1 and all(20 <= c <= 40 for c in counts)
    assert all(s.recording.n_frames == 300 for s in sessions)
    J = [s.ground_truth["J"] for s in sessions]
    same_animal = np.corrcoef(J[0].ravel(), J[1].ravel())[0, 1]
    other_animal = np.corrcoef(J[0].ravel(), J[2].ravel())[0, 1]
    assert same_animal > 0.99 and 0.3 < other_animal < 0.99
    assert [s.recording.metadata["animal"] for s in sessions] == [0, 0, 1, 1]


def test_corpus_mixes_frame_rates_and_indicators():
    sessions = simulate("corpus", seed=0, n_sessions=10, n_neurons=10, n_frames=100)
    rates = {s.recording.fs for s in sessions}
    inds = {s.recording.metadata["indicator"] for s in sessions}
    assert len(rates) >= 3 and min(rates) >= 2 and max(rates) <= 100
    assert len(inds) >= 2 and inds <= set(INDICATORS)


def test_overrides_apply():
    s = simulate("corpus", n_sessions=2, n_neurons=10, n_frames=50, fs=30.0, indicator="gcamp8m")
    assert {x.recording.fs for x in s} == {30.0}
    assert {x.recording.metadata["indicator"] for x in s} == {"GCaMP8m"}


@pytest.mark.parametrize("name", list(INDICATORS))
def test_indicator_kernel_decay_time(name):
    ind = INDICATORS[name]
    dt = 0.001
    k = indicator_kernel(name, dt, duration=6 * ind.tau_decay)
    assert k[0] == 0 and np.isclose(k.max(), 1.0)
    t = np.arange(len(k)) * dt
    tail = (t > 4 * ind.tau_rise + np.argmax(k) * dt) & (k > 1e-3)
    slope = np.polyfit(t[tail], np.log(k[tail]), 1)[0]
    assert np.isclose(-1 / slope, ind.tau_decay, rtol=0.03)
    assert np.argmax(k) * dt < ind.tau_decay


def test_calcium_follows_kernel_for_one_spike():
    ind = INDICATORS["GCaMP6f"]
    spikes = np.zeros((1, 400), np.uint8)
    spikes[0, 10] = 1
    c = calcium_dff(spikes, ind, 0.01)[0]
    k = indicator_kernel(ind, 0.01, duration=3.9)
    expected = ind.amplitude * k / (1 + k / ind.n_saturation)
    assert np.allclose(c[10:], expected[:390], atol=1e-5)


def test_timebase_pools_any_frame_rate():
    tb = Timebase.for_frames(7.5, 30)
    x = np.ones(tb.n_bins)
    assert tb.to_frames(x).shape == (30,) and np.allclose(tb.to_frames(x), 1)
    assert tb.to_frames(x, reduce="sum").sum() == tb.n_bins
    assert Timebase.for_frames(200.0, 10).dt == pytest.approx(0.005)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"preset": "nope"}, "unknown simulation preset"),
        ({"preset": "task", "n_neurons": 0}, "n_neurons"),
        ({"preset": "task", "indicator": "GCaMP99"}, "unknown indicator"),
        ({"preset": "poco", "movie": True}, "no movie"),
        ({"preset": "task", "fs": -1.0}, "fs"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(CalmError, match=match):
        simulate(**kwargs)
