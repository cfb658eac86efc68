"""Decoding: targets, decoders on synthetic recordings, the CalM seam, bad inputs."""

from __future__ import annotations

import numpy as np
import pytest

from src_models.analysis.decoding import decode
from src_models.analysis.targets import available_targets, resolve_target
from src_models.errors import CalmError
from src_models.recording import Recording


def make_recording(
    n_neurons: int = 24, n_frames: int = 1600, n_trials: int = 40, seed: int = 0
) -> Recording:
    """Smooth latents drive neurons and a 'speed' behaviour; a 'cue' label drives some neurons in trials."""
    rng = np.random.default_rng(seed)
    k = np.exp(-np.arange(30) / 8.0)
    lat = np.stack([np.convolve(rng.normal(size=n_frames), k)[:n_frames] for _ in range(3)])
    start = np.linspace(50, n_frames - 60, n_trials).astype(int)
    end = start + 30
    cue = rng.integers(0, 2, n_trials)
    cue_sig = np.zeros(n_frames)
    for s, e, c in zip(start, end, cue):
        cue_sig[s:e] = 1.0 if c else -1.0
    W = rng.normal(size=(n_neurons, 3))
    F = W @ lat + 0.5 * rng.normal(size=(n_neurons, n_frames))
    F[:6] += 2.0 * cue_sig
    speed = lat[0] - 0.5 * lat[1] + 0.2 * rng.normal(size=n_frames)
    return Recording(
        F=(F + 10).astype(np.float32),
        fs=10.0,
        source="synthetic",
        kind="traces",
        behavior={
            "speed": speed.astype(np.float32),
            "licking": (rng.random(n_frames) < 0.5).astype(float),
        },
        trials={
            "start_frame": start,
            "end_frame": end,
            "cue": cue,
            "outcome": np.r_[np.ones(n_trials - 2), 0, 0],
        },
    )


@pytest.fixture(scope="module")
def rec() -> Recording:
    return make_recording()


def test_targets_are_typed_and_laid_out(rec):
    assert available_targets(rec) == {
        "behavior": ["licking", "speed"],
        "trials": ["cue", "outcome"],
    }
    t = resolve_target(rec, "speed", context=48)
    assert (
        (t.kind, t.level) == ("continuous", "frame")
        and t.frames[0] == 47
        and len(t) == rec.n_frames - 47
    )
    t = resolve_target(rec, "cue")
    assert (t.kind, t.level, len(t)) == ("discrete", "trial", 40) and t.classes == [0, 1]
    t = resolve_target(rec, "cue", level="frame", context=48)
    assert t.level == "frame" and len(t) == 30 * 40  # every frame of every trial
    assert np.all(np.diff(t.frames) > 0)


def test_unknown_target_lists_what_exists(rec):
    with pytest.raises(
        CalmError,
        match=r"no decoding target 'angular_velocity'.*behavior variables: licking, speed; "
        r"trial columns: cue, outcome",
    ):
        resolve_target(rec, "angular_velocity")
    with pytest.raises(CalmError, match="no decoding target 'start_frame'"):
        resolve_target(rec, "start_frame")


def test_too_few_trials_per_condition_lists_the_counts(rec):
    with pytest.raises(CalmError, match=r"too few trials per condition of 'outcome'.*0: 2, 1: 38"):
        resolve_target(rec, "outcome")


def test_ridge_decodes_a_continuous_target_far_above_shifted_chance(rec):
    res = decode(rec, "speed", baselines=("ridge",), n_shifts=10)
    assert (
        res.metric == "r2" and res.scores["ridge"]["r2"] > 0.6 and res.scores["ridge"]["r"] > 0.8
    )
    assert res.chance["r2"] < 0.2
    assert res.predictions["ridge"].shape == res.true.shape == res.frames.shape
    assert set(np.unique(res.fold_of)) == set(range(5))
    assert res.settings["gap"] == 48
    assert res.to_json()["calm"] is None and res.to_json()["best_baseline"] == "ridge"


def test_discrete_trial_target_and_torch_decoders(rec):
    res = decode(rec, "cue", baselines=("ridge", "mlp", "gru"), n_shifts=10)
    assert res.metric == "balanced_accuracy" and res.level == "trial"
    for name in ("ridge", "mlp", "gru"):
        assert res.scores[name]["balanced_accuracy"] > 0.8, name
    assert 0.3 < res.chance["balanced_accuracy"] < 0.7
    assert set(np.unique(res.predictions["gru"])) <= {0, 1}


def test_calm_heads_through_the_feature_extractor_seam(rec):
    from src_models.analysis.calm_features import CalmFeatures
    from src_models.dat.tiny import tiny_calm

    ex = CalmFeatures(tiny_calm(), window_tokens=8)
    feats = ex.frame_features(rec)
    assert feats.shape[0] == rec.n_frames and np.isfinite(feats).all()
    steps = []
    res = decode(
        rec,
        "speed",
        extractors=[ex],
        baselines=("ridge",),
        heads=("linear",),
        n_shifts=2,
        progress=lambda f, m: steps.append(f),
    )
    assert res.calm_models == ["calm_frozen_linear"] and res.baseline_models == ["ridge"]
    # the linear head reads the states of the whole context window, each reaching further back
    assert res.settings["gap"] >= res.settings["context"] - 1 + ex.receptive_frames(rec.fs)
    assert ex.receptive_frames(rec.fs) >= 8
    js = res.to_json()
    assert {"target", "metric", "calm", "baselines", "chance"} <= set(js)
    assert js["calm_model"] == "calm_frozen_linear" and np.isfinite(js["calm"])
    assert steps[-1] == 1.0 and steps == sorted(steps)


def test_causal_features_do_not_see_the_future(rec):
    from src_models.analysis.calm_features import CalmFeatures
    from src_models.dat.tiny import tiny_calm

    model = tiny_calm()
    a = CalmFeatures(model, window_tokens=8).frame_features(rec)
    F = rec.F.copy()
    F[:, 1000:] += np.random.default_rng(1).normal(size=(F.shape[0], F.shape[1] - 1000)) * 5
    changed = Recording(F=F, fs=rec.fs, source="changed", kind="traces")
    b = CalmFeatures(model, window_tokens=8).frame_features(changed)
    # CalM z-scores with the first 60 % of frames, untouched here: the past is unchanged
    np.testing.assert_allclose(a[:1000], b[:1000], rtol=1e-5, atol=1e-5)
    assert not np.allclose(a[1100:], b[1100:])


def test_bad_decoder_names_and_gap(rec):
    with pytest.raises(CalmError, match="unknown decoders"):
        decode(rec, "speed", baselines=("lasso",))
    with pytest.raises(CalmError, match="at least the decoders' context"):
        decode(rec, "speed", baselines=("ridge",), gap=10)


def test_finetuned_calm_decoder_trains_per_fold(rec):
    from src_models.analysis.finetuned_head import CalmFinetune
    from src_models.dat.tiny import tiny_calm

    model = tiny_calm()
    before = {k: v.clone() for k, v in model.dat.state_dict().items()}
    ft = CalmFinetune(model, window_tokens=8, steps=8, eval_every=4)
    res = decode(rec, "cue", finetuned=[ft], baselines=(), n_folds=3, n_shifts=2)
    assert res.calm_models == ["calm_finetuned"]
    assert set(np.unique(res.predictions["calm_finetuned"])) <= {0, 1}
    assert res.settings["hyperparameters"]["calm_finetuned"]["epochs"] == [8, 8, 8]
    assert all(
        np.array_equal(v, model.dat.state_dict()[k]) for k, v in before.items()
    )  # model untouched
    frame = decode(rec, "speed", finetuned=[ft], baselines=(), n_folds=2, n_shifts=0)
    assert (
        np.isfinite(frame.predictions["calm_finetuned"]).all()
        and len(frame.true) == rec.n_frames - 47
    )


def test_shifted_token_grids_match_neuron_states_and_stay_causal(rec):
    from src_models.analysis.calm_features import CalmFeatures
    from src_models.dat.states import dat_input, encode_states
    from src_models.dat.states import neuron_states
    from src_models.dat.tiny import tiny_calm

    model = tiny_calm()
    st = neuron_states(model, rec, window_tokens=8)
    inp = dat_input(model, rec, 0)
    np.testing.assert_array_equal(inp.token_frames, st.frames)
    np.testing.assert_allclose(encode_states(model, inp, 8), st.hidden, atol=1e-5)
    shifted = dat_input(model, rec, 2)
    assert shifted.token_frames[0] == st.frames[0] + 2
    a = CalmFeatures(model, window_tokens=8, phases=4).frame_features(rec)
    assert len(np.unique(a[:, 0])) > 3 * len(
        np.unique(CalmFeatures(model, window_tokens=8).frame_features(rec)[:, 0])
    )
    F = rec.F.copy()
    F[:, 1000:] += 5.0
    b = CalmFeatures(model, window_tokens=8, phases=4).frame_features(
        Recording(F=F, fs=rec.fs, source="changed", kind="traces")
    )
    np.testing.assert_allclose(a[:1000], b[:1000], atol=2e-2)  # float16 storage
    assert not np.allclose(a[1100:], b[1100:], atol=2e-2)


def test_inner_folds_fall_back_to_none_when_the_samples_cannot_be_split():
    from src_models.analysis.decoders import _inner_folds

    shared_frame = np.array([5, 5, 10, 20, 30, 40, 50, 60, 70, 80])  # two trials start together
    assert _inner_folds(shared_frame, np.arange(10), gap=2, n_folds=3) == []
    assert _inner_folds(np.arange(0, 60, 10), np.arange(6), gap=100, n_folds=3) == []
    assert len(_inner_folds(np.arange(0, 1000, 10), np.arange(100), gap=2, n_folds=3)) == 3


@pytest.mark.parametrize("n, d", [(50, 200), (300, 40)])
def test_the_ridge_estimator_is_the_closed_form_and_chooses_its_penalty_on_the_given_folds(n, d):
    """Standardised inputs, ridge of every target column; ``cv`` folds pick the penalty."""
    from src_models.analysis.linear import estimator, fold_losses, ridge_path
    from src_models.errors import CalmError

    rng = np.random.default_rng(0)
    X, Y = rng.normal(size=(n, d)), rng.normal(size=(n, 2))
    Xs = (X - X.mean(0)) / X.std(0)
    model = estimator("ridge", alphas=(5.0,)).fit(X, Y)
    Yc = Y - Y.mean(0)
    np.testing.assert_allclose(model[-1].coef_.T, np.linalg.solve(Xs.T @ Xs + 5 * np.eye(d), Xs.T @ Yc))
    np.testing.assert_allclose(model.predict(X).mean(0), Y.mean(0))
    # a signal in one column: the folds choose a small penalty over a huge one
    y = X[:, :1] + 0.1 * rng.normal(size=(n, 1))
    folds = [(np.arange(n // 2), np.arange(n // 2, n)), (np.arange(n // 2, n), np.arange(n // 2))]
    assert np.argmin(fold_losses(ridge_path(X, y, folds, np.array([0.1, 1e6])), y, folds)) == 0
    with pytest.raises(CalmError, match="unknown linear estimator 'lasso'"):
        estimator("lasso")


class _Stub:
    """A FeatureExtractor returning fixed per-frame features."""

    name, lag_edges = "stub", (0, 1)

    def __init__(self, feats: np.ndarray) -> None:
        self.feats = feats

    def receptive_frames(self, fs: float) -> int:
        return 0

    def frame_features(self, recording, progress=None) -> np.ndarray:
        return self.feats


@pytest.mark.parametrize("target", ["speed", "cue"])
def test_hybrid_head_stacks_states_on_the_traces_residuals_by_inner_validation(rec, target):
    rng = np.random.default_rng(3)
    noise = _Stub(rng.normal(size=(rec.n_frames, 8)).astype(np.float32))
    res = decode(rec, target, extractors=[noise], baselines=("ridge",), n_shifts=0)
    assert res.calm_models == ["stub_hybrid"]  # the default head
    # useless states: the inner folds switch them off (almost) everywhere, leaving ridge on the traces
    chosen = res.settings["hyperparameters"]["stub_hybrid"]
    off = np.array(chosen["weight"]) == 0
    assert off.mean() >= 0.6 and all((a[0] is None) == o for a, o in zip(chosen["alpha"], off))
    assert [a[1] for a in chosen["alpha"]] == res.settings["hyperparameters"]["ridge"]["alpha"]
    assert res.headline("stub_hybrid") >= res.headline("ridge") - 0.02
    ridge_folds = np.array([f[res.metric] for f in res.fold_scores["ridge"]])
    hybrid_folds = np.array([f[res.metric] for f in res.fold_scores["stub_hybrid"]])
    np.testing.assert_allclose(hybrid_folds[off], ridge_folds[off], atol=1e-9)
    # informative states (the behaviour itself, or the cue signal): never worse than ridge, and
    # where the traces leave residuals (speed) the states are used to predict them
    cue_sig = np.zeros(rec.n_frames, np.float32)
    for s, e, c in zip(rec.trials["start_frame"], rec.trials["end_frame"], rec.trials["cue"]):
        cue_sig[s:e] = 2 * c - 1
    oracle = rec.behavior["speed"] if target == "speed" else cue_sig
    good = _Stub(np.stack([oracle, rng.normal(size=rec.n_frames)], 1).astype(np.float32))
    res = decode(rec, target, extractors=[good], baselines=("ridge",), n_shifts=0)
    assert np.mean(res.settings["hyperparameters"]["stub_hybrid"]["weight"]) >= (0.5 if target == "speed" else 0.0)
    assert res.headline("stub_hybrid") >= res.headline("ridge")


def test_ridge_path_is_the_ridge_estimator_for_every_penalty():
    from src_models.analysis.linear import estimator, ridge_path

    rng = np.random.default_rng(1)
    X, Y = rng.normal(size=(120, 15)), rng.normal(size=(120, 2))
    folds = [(np.arange(60, 120), np.arange(0, 50)), (np.arange(0, 60), np.arange(70, 120))]
    out = ridge_path(X, Y, folds, np.array([0.5, 50.0]))
    for i, a in enumerate((0.5, 50.0)):
        for tr, va in folds:
            np.testing.assert_allclose(out[i, va], estimator("ridge", alphas=(a,)).fit(X[tr], Y[tr]).predict(X[va]))
    assert not out[:, 50:70].any()  # in no test fold


def test_hybrid_head_shrinks_toward_the_training_mean_for_a_drifting_target_and_useless_traces():
    rng = np.random.default_rng(0)
    n_frames = 1000
    # the target drifts out of any training range; the traces carry no information
    y = np.linspace(0.0, 3.0, n_frames) + 0.2 * rng.normal(size=n_frames)
    rec = Recording(
        F=(20 + rng.normal(size=(24, n_frames))).astype(np.float32),
        fs=10.0,
        source="drift",
        kind="traces",
        behavior={"drift": y.astype(np.float32)},
    )
    noise = _Stub(rng.normal(size=(n_frames, 4)).astype(np.float32))
    res = decode(rec, "drift", extractors=[noise], baselines=("ridge",), n_shifts=0)
    last = res.fold_of == 4
    before = res.frames < res.frames[last][0] - res.settings["gap"]  # the last fold's training samples
    assert np.mean(res.true[last] > res.true[before].max()) > 0.3
    chosen = res.settings["hyperparameters"]["stub_hybrid"]
    assert len(chosen["shrink"]) == 5 and min(chosen["shrink"]) < 1 and chosen["shrink"][-1] < 1
    assert set(chosen["shrink"]) <= {0.0, 0.25, 0.5, 0.75, 1.0} and len(chosen["clip"]) == 5
    assert "shrink" not in res.settings["hyperparameters"]["ridge"]  # the baseline is unchanged
    assert res.headline("stub_hybrid") > res.headline("ridge")
    ridge_folds = np.array([f["r2"] for f in res.fold_scores["ridge"]])
    hybrid_folds = np.array([f["r2"] for f in res.fold_scores["stub_hybrid"]])
    shrink, clip, weight = (np.array(chosen[k]) for k in ("shrink", "clip", "weight"))
    kept = (shrink == 1) & ~clip & (weight == 0)
    np.testing.assert_array_equal(hybrid_folds[kept], ridge_folds[kept])


def test_hybrid_head_keeps_its_outputs_where_the_traces_decode_the_target(rec, monkeypatch):
    import src_models.analysis.decoding as decoding

    noise = _Stub(np.random.default_rng(3).normal(size=(rec.n_frames, 8)).astype(np.float32))
    res = decode(rec, "speed", extractors=[noise], baselines=("ridge",), n_shifts=0)
    chosen = res.settings["hyperparameters"]["stub_hybrid"]
    assert chosen["shrink"] == [1.0] * 5 and chosen["clip"] == [False] * 5
    monkeypatch.setattr(decoding, "choose_guard", lambda oof, Y, folds: (1.0, False))
    unguarded = decode(rec, "speed", extractors=[noise], baselines=("ridge",), n_shifts=0)
    np.testing.assert_array_equal(
        res.predictions["stub_hybrid"], unguarded.predictions["stub_hybrid"]
    )
    # classification: unchanged
    cue = decode(rec, "cue", extractors=[noise], baselines=(), n_shifts=0)
    assert cue.settings["hyperparameters"]["stub_hybrid"]["shrink"] == [None] * 5


def test_choose_guard_prefers_the_unguarded_output_and_the_mean_for_noise():
    from src_models.analysis.decoding import choose_guard

    rng = np.random.default_rng(0)
    Y = rng.normal(size=(300, 1))
    folds = [(np.arange(150, 300), np.arange(0, 150)), (np.arange(0, 150), np.arange(150, 300))]
    assert choose_guard(Y.copy(), Y, folds) == (1.0, False)  # exact: ties keep the output as it is
    assert choose_guard(5 * rng.normal(size=(300, 1)), Y, folds) == (0.0, False)  # noise: the mean
    far = Y + 100.0 * (Y > 1.0)  # a few wild outputs beyond the range, the rest exact
    assert choose_guard(far, Y, folds)[1] is True
