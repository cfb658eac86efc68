"""Neuron embeddings: maps, linear probes against shuffles, gradient, separation, the full analysis."""

from __future__ import annotations

import numpy as np
import pytest

from src_models.analysis.embedding import (
    activity_embedding,
    cluster_separation,
    probe_classification,
    probe_regression,
    reduce,
    tuning_gradient,
)
from src_models.errors import CalmError


def planted(n: int = 150, d: int = 24, seed: int = 0):
    """An embedding where dim 0 carries signed SI and dim 1 carries |SI| (plus noise elsewhere)."""
    rng = np.random.default_rng(seed)
    tuned = rng.random(n) < 0.4
    si = np.where(
        tuned, rng.uniform(0.3, 1.0, n) * rng.choice([-1, 1], n), 0.0
    ) + 0.02 * rng.normal(size=n)
    emb = rng.normal(size=(n, d))
    emb[:, 0] += 3 * si
    emb[:, 1] += 3 * np.abs(si)
    return emb, si, tuned


def test_probe_predicts_si_far_above_shuffled():
    emb, si, _ = planted()
    p = probe_regression(emb, si, n_shuffles=100)
    assert p.score > 0.4 and p.r > 0.65
    assert p.shuffled_p95 < 0.05 and p.score > p.shuffled_p95 + 0.3
    assert p.p == pytest.approx(1 / 101)


def test_probe_on_an_unrelated_embedding_is_at_shuffled_level():
    _, si, _ = planted()
    noise = np.random.default_rng(9).normal(size=(150, 24))
    p = probe_regression(noise, si, n_shuffles=100)
    assert p.score < p.shuffled_p95 + 0.05 and p.p > 0.05


def test_classification_probe_and_separation():
    emb, _, tuned = planted()
    c = probe_classification(emb, tuned, n_shuffles=100)
    assert c.score > 0.65 and c.shuffled_mean == pytest.approx(0.5, abs=0.05) and c.p < 0.02
    sep = cluster_separation(emb[:, :2], tuned, n_shuffles=50)
    assert sep.silhouette > sep.silhouette_shuffled_p95 and sep.p < 0.05
    assert (sep.n_selective, sep.n_untuned) == (int(tuned.sum()), int((~tuned).sum()))
    with pytest.raises(CalmError, match="needs >= 2 selective"):
        cluster_separation(emb, np.r_[True, np.zeros(149, bool)])


def test_classification_shuffles_stay_at_chance_when_a_class_is_rare():
    # two positives in 40 neurons: most shuffled training folds lack a class entirely
    rng = np.random.default_rng(0)
    labels = np.zeros(40, int)
    labels[:2] = 1
    p = probe_classification(rng.standard_normal((40, 8)), labels, n_shuffles=200, seed=0)
    assert 0.4 < p.shuffled_mean < 0.55


def test_tuning_gradient_points_along_the_strength_axis():
    emb, si, _ = planted()
    coords = np.c_[np.abs(si) * 5 + np.random.default_rng(1).normal(size=150) * 0.1, np.zeros(150)]
    g = tuning_gradient(emb, np.abs(si), coords)
    assert np.argmax(np.abs(g.direction)) == 1 and g.direction[1] > 0
    assert g.r_cv > 0.5
    np.testing.assert_allclose(np.abs(g.direction_2d), [1, 0], atol=0.05)
    assert g.r_2d > 0.95


def test_pca_map_and_activity_embedding():
    emb, _, _ = planted()
    c = reduce(emb, "pca")
    assert c.shape == (150, 2) and c.dtype == np.float32
    assert c[:, 0].var() >= c[:, 1].var()
    with pytest.raises(CalmError, match="unknown embedding map"):
        reduce(emb, "tsne")
    a = activity_embedding(np.random.default_rng(0).normal(size=(30, 500)), n_components=8)
    assert a.shape == (30, 8)


def test_bad_embeddings_are_refused():
    with pytest.raises(CalmError, match="NaN"):
        probe_regression(np.full((10, 3), np.nan), np.arange(10.0))
    with pytest.raises(CalmError, match="rows for"):
        probe_regression(np.zeros((10, 3)), np.arange(9.0))
    with pytest.raises(CalmError, match="constant"):
        probe_regression(np.random.default_rng(0).normal(size=(10, 3)), np.ones(10))


def test_analyse_neurons_end_to_end_on_a_small_task_simulation():
    from src_models.analysis.calm_features import CalmFeatures
    from src_models.analysis.neuron_map import analyse_neurons
    from src_models.dat.tiny import tiny_calm
    from src_models.simulation import simulate

    rec = simulate("task", seed=2, n_neurons=40, n_frames=3000)[0].recording
    nm = analyse_neurons(
        rec, CalmFeatures(tiny_calm(), window_tokens=8), n_perm=100, n_shuffles=20
    )
    assert nm.coords.shape == (40, 2) and nm.primary == "state_loadings"
    assert nm.embeddings["state_loadings"].shape == (40, 16)
    assert set(nm.selectivity) == {"cue", "choice"}
    arrays = nm.arrays()
    assert {
        "coords",
        "emb_mean_state",
        "emb_state_loadings",
        "emb_activity_pcs",
        "si_cue",
        "p_choice",
        "strength",
        "selective",
    } <= set(arrays)
    assert all(len(v) == 40 for v in arrays.values())
    js = nm.to_json()
    assert {"si_cue", "si_choice", "strength", "gradient", "separation"} <= set(
        js["probes"]["mean_state"]
    )
    assert js["probes"]["state_loadings"]["gradient"]["direction_2d"] is not None
    assert js["probes"]["activity_pcs"]["gradient"]["direction_2d"] is None


def test_state_loadings_use_trial_timing_not_labels():
    from src_models.analysis.calm_features import state_loadings

    rng = np.random.default_rng(0)
    N, n_tok, d = 30, 200, 8
    # neurons 0..14 follow one latent signal, 15..29 its opposite: the loadings must split them
    latent = rng.normal(size=n_tok)
    sign = np.r_[np.ones(15), -np.ones(15)]
    hidden = (sign[:, None, None] * latent[None, :, None] * rng.normal(size=d)) + 0.3 * rng.normal(
        size=(N, n_tok, d)
    )
    frames = np.arange(n_tok) * 8 + 7
    trials = {"start_frame": np.arange(0, 1500, 60), "end_frame": np.arange(40, 1540, 60)}
    emb = state_loadings(hidden.astype(np.float32), frames, trials, n_components=6)
    assert emb.shape == (N, 6) and np.isfinite(emb).all()
    assert abs(np.corrcoef(emb[:, 0], sign)[0, 1]) > 0.9
    labelled = dict(trials, cue=rng.integers(0, 2, 25), choice=rng.integers(0, 2, 25))
    np.testing.assert_array_equal(
        emb, state_loadings(hidden.astype(np.float32), frames, labelled, n_components=6)
    )
    per_token = state_loadings(hidden.astype(np.float32), frames, None, n_components=6)
    assert per_token.shape == (N, 6) and not np.allclose(per_token, emb)


def test_state_loadings_read_the_centred_dff_while_forecasting_states_stay_causal():
    from src_models.analysis.calm_features import CalmFeatures, state_loadings
    from src_models.dat.states import neuron_states
    from src_models.dat.tiny import tiny_calm
    from src_models.preparation import prepare_recording
    from src_models.preprocessing import delta_f_over_f
    from src_models.recording import Recording

    rng = np.random.default_rng(0)
    F = (100 + 20 * rng.random((12, 800)) + np.linspace(0, 30, 800)).astype(np.float32)
    trials = {"start_frame": np.arange(0, 760, 40), "end_frame": np.arange(30, 790, 40)}
    rec = Recording(F=F, fs=10.0, source="raw", kind="traces", trials=trials)
    centred = prepare_recording(rec, baseline="centred")
    np.testing.assert_allclose(centred.traces, delta_f_over_f(F, 10.0), rtol=1e-6)
    assert "centred" in centred.report["dff"] and "causal" in prepare_recording(rec).report["dff"]
    with pytest.raises(CalmError, match="baseline"):
        prepare_recording(rec, baseline="trailing")

    model = tiny_calm()
    later = F.copy()
    later[:, 600:] *= 0.5  # dimmer after the training split (frames 0-479): causal statistics unchanged
    changed = Recording(F=later, fs=10.0, source="raw", kind="traces", trials=trials)
    early = slice(0, 70)  # tokens ending before frame 560 (8 frames per token; centred window ±300)
    causal = [neuron_states(model, r, window_tokens=8).hidden[:, early] for r in (rec, changed)]
    np.testing.assert_allclose(causal[0], causal[1], atol=1e-5)
    st = neuron_states(model, rec, window_tokens=8, baseline="centred")
    moved = neuron_states(model, changed, window_tokens=8, baseline="centred").hidden[:, early]
    assert not np.allclose(st.hidden[:, early], moved, atol=1e-3)
    emb = CalmFeatures(model, window_tokens=8).neuron_embeddings(rec)["state_loadings"]
    np.testing.assert_allclose(emb, state_loadings(st.hidden, np.asarray(st.frames), trials), atol=1e-5)


def test_traces_the_baseline_does_not_change_get_one_states_pass(monkeypatch):
    import src_models.dat.states as states
    from src_models.analysis.calm_features import CalmFeatures
    from src_models.dat.tiny import tiny_calm
    from src_models.recording import Recording

    calls = []
    real = states.neuron_states
    monkeypatch.setattr(states, "neuron_states", lambda *a, **k: calls.append(1) or real(*a, **k))
    rng = np.random.default_rng(1)
    z = rng.normal(size=(10, 600)).astype(np.float32)  # not raw fluorescence: no ΔF/F, either baseline
    features = CalmFeatures(tiny_calm(), window_tokens=8)
    features.neuron_embeddings(Recording(F=z, fs=10.0, source="z", kind="traces"))
    assert len(calls) == 1
    F = (100 + 20 * rng.random((10, 600))).astype(np.float32)  # raw fluorescence: two baselines
    features.neuron_embeddings(Recording(F=F, fs=10.0, source="raw", kind="traces"))
    assert len(calls) == 3
