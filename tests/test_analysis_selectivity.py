"""Selectivity statistics: known AUCs, null p-values, FDR, planted cells, bad inputs."""

from __future__ import annotations

import numpy as np
import pytest

from src_models.analysis.selectivity import (
    auc_test,
    benjamini_hochberg,
    recovery,
    selectivity,
    task_selectivity,
    trial_responses,
)
from src_models.errors import CalmError


def test_known_aucs_and_si():
    y = np.array([0, 0, 0, 1, 1, 1], bool)
    r = np.array(
        [
            [1, 2, 3, 4, 5, 6],  # perfectly prefers the second condition
            [6, 5, 4, 3, 2, 1],  # perfectly prefers the first
            [1, 1, 1, 1, 1, 1],  # all ties
            [1, 3, 5, 2, 4, 6],  # 6 of 9 pairs ordered -> 2/3
        ],
        float,
    )
    auc, p = auc_test(r, y, n_perm=0)
    np.testing.assert_allclose(auc, [1.0, 0.0, 0.5, 6 / 9])
    assert np.isnan(p).all()


def test_auc_matches_the_mann_whitney_definition_with_ties():
    rng = np.random.default_rng(1)
    y = rng.random(40) < 0.4
    r = rng.integers(0, 5, (20, 40)).astype(float)  # many ties
    auc, _ = auc_test(r, y, n_perm=0)
    a, b = r[:, y][:, :, None], r[:, ~y][:, None, :]
    ref = ((a > b) + 0.5 * (a == b)).mean(axis=(1, 2))
    np.testing.assert_allclose(auc, ref)


def test_permutation_p_values_are_roughly_uniform_under_the_null():
    rng = np.random.default_rng(2)
    y = rng.random(60) < 0.5
    r = rng.normal(size=(2000, 60))
    _, p = auc_test(r, y, n_perm=500, seed=3)
    assert 0.03 < np.mean(p < 0.05) < 0.07
    assert 0.45 < p.mean() < 0.55
    hist = np.histogram(p, bins=5, range=(0, 1))[0] / len(p)
    assert np.all(np.abs(hist - 0.2) < 0.04)


def test_strong_selectivity_gets_small_p():
    rng = np.random.default_rng(4)
    y = np.r_[np.zeros(30), np.ones(30)].astype(bool)
    r = rng.normal(size=(3, 60)) + np.outer([2.0, -2.0, 0.0], y)
    auc, p = auc_test(r, y, n_perm=999, seed=0)
    assert auc[0] > 0.9 and auc[1] < 0.1
    assert p[0] == p[1] == pytest.approx(1 / 1000)
    assert p[2] > 0.01


def test_benjamini_hochberg():
    p = np.array([0.01, 0.04, 0.03, 0.5])
    q = benjamini_hochberg(p)
    # hand-computed: sorted 0.01,0.03,0.04,0.5 -> 0.04, 0.06, 0.0533, 0.5 -> monotone 0.04, 0.0533, 0.0533, 0.5
    np.testing.assert_allclose(q, [0.04, 0.16 / 3, 0.16 / 3, 0.5])


def test_trial_responses_window_means():
    x = np.arange(20, dtype=float)[None, :].repeat(2, 0)
    r = trial_responses(x, np.array([0, 10]), np.array([4, 14]))
    np.testing.assert_allclose(r, [[1.5, 11.5], [1.5, 11.5]])
    r = trial_responses(x, np.array([0, 10]), np.array([4, 14]), window=(1, 3))
    np.testing.assert_allclose(r[0], [1.5, 11.5])


def _toy_trials(n=40, seed=0):
    rng = np.random.default_rng(seed)
    start = np.arange(n) * 30 + 5
    cue = rng.integers(0, 2, n)
    choice = np.where(rng.random(n) < 0.75, cue, 1 - cue)
    return {"start_frame": start, "end_frame": start + 20, "cue": cue, "choice": choice}


def test_planted_cue_and_choice_cells_are_recovered_and_not_confused():
    rng = np.random.default_rng(5)
    trials = _toy_trials(120, seed=6)
    T = int(trials["end_frame"][-1]) + 10
    x = rng.normal(size=(30, T))
    kind = np.r_[np.ones(8), 2 * np.ones(8), np.zeros(14)].astype(int)
    for k in range(len(trials["cue"])):
        sl = slice(trials["start_frame"][k], trials["end_frame"][k])
        x[kind == 1, sl] += 1.5 * trials["cue"][k]
        x[kind == 2, sl] += 1.5 * trials["choice"][k]
    sel = task_selectivity(x, trials, n_perm=500)
    assert sel["cue"].condition_on == "choice" and sel["choice"].condition_on == "cue"
    cue_rec = recovery(sel["cue"].significant, kind == 1)
    choice_rec = recovery(sel["choice"].significant, kind == 2)
    # FDR 5 %: an occasional false positive among ~22 null neurons is expected
    assert cue_rec["recall"] == 1.0 and cue_rec["precision"] >= 0.75
    assert choice_rec["recall"] == 1.0 and choice_rec["precision"] >= 0.75
    assert np.all(sel["cue"].si[kind == 1] > 0.3)


def test_planted_cells_in_the_task_simulation():
    from src_models.preprocessing import delta_f_over_f
    from src_models.simulation import simulate

    s = simulate("task", seed=11, n_neurons=60, n_frames=6000)[0]
    rec, gt = s.recording, s.ground_truth
    sel = task_selectivity(delta_f_over_f(rec.traces, rec.fs), rec.trials, n_perm=300)
    strong = gt["tuning_strength"] >= 0.5
    for col, code in (("cue", 1), ("choice", 2)):
        planted = gt["neuron_type"] == code
        rec_ = recovery(sel[col].significant, planted)
        assert rec_["precision"] >= 0.75, (col, rec_)
        assert sel[col].significant[planted & strong].mean() >= 0.75, col


def test_too_few_trials_per_condition_lists_the_counts():
    trials = _toy_trials(12)
    trials["cue"] = np.r_[np.zeros(10), np.ones(2)].astype(int)
    with pytest.raises(CalmError, match=r"too few trials per condition of 'cue'.*0: 10, 1: 2"):
        selectivity(np.zeros((3, 400)), trials, "cue")


def test_unknown_column_and_more_than_two_classes():
    trials = _toy_trials()
    with pytest.raises(
        CalmError, match=r"no trial column 'side'; trial columns: \['choice', 'cue'\]"
    ):
        selectivity(np.zeros((3, 1300)), trials, "side")
    trials["cue"] = np.arange(40) % 3
    with pytest.raises(CalmError, match="two conditions"):
        selectivity(np.zeros((3, 1300)), trials, "cue")
    sel = selectivity(
        np.random.default_rng(0).normal(size=(3, 1300)), trials, "cue", classes=(0, 2), n_perm=10
    )
    assert sel.classes == (0, 2) and sum(sel.n_trials.values()) == 27


def test_string_labels_and_missing_values():
    trials = _toy_trials()
    trials["cue"] = np.where(trials["cue"] == 1, "right", "left").astype("U5")
    trials["cue"][:3] = ""
    sel = selectivity(np.random.default_rng(0).normal(size=(4, 1300)), trials, "cue", n_perm=20)
    assert sel.classes == ("left", "right")
    assert sum(sel.n_trials.values()) == 37


def test_conditioning_falls_back_when_there_are_too_few_error_trials():
    trials = _toy_trials(40, seed=1)
    trials["choice"] = trials["cue"].copy()
    trials["choice"][:2] = 1 - trials["choice"][:2]
    sel = task_selectivity(np.random.default_rng(0).normal(size=(5, 1300)), trials, n_perm=20)
    assert sel["cue"].condition_on is None and sel["choice"].condition_on is None


def test_time_bins_find_an_early_response_and_keep_the_null_calibrated():
    rng = np.random.default_rng(8)
    trials = _toy_trials(80, seed=9)
    T = int(trials["end_frame"][-1]) + 10
    x = rng.normal(size=(400, T))
    for k in range(80):  # neuron 0 answers the cue only in the first quarter of the trial
        s0 = trials["start_frame"][k]
        x[0, s0 : s0 + 5] += 1.2 * trials["cue"][k]
    one = selectivity(x, trials, "cue", n_perm=300)
    four = selectivity(x, trials, "cue", n_bins=4, n_perm=300)
    assert four.best_bin[0] == 0 and abs(four.si[0]) > abs(one.si[0])
    assert four.p[0] < 0.01
    assert 0.02 < np.mean(four.p[1:] < 0.05) < 0.09  # max-over-bins p-values stay calibrated
