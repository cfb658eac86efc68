"""Corpus, pretraining resume, fine-tune generator, forecasting and neuron states (tiny configs)."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch

from src_models.dat.calm import load_calm
from src_models.dat.corpus import TokenCorpus, WindowSampler
from src_models.dat.data import DataSource, parse_source
from src_models.dat.finetune import finetune
from src_models.dat.forecast import forecast_recording
from src_models.dat.pretrain import pretrain
from src_models.dat.states import neuron_states
from src_models.dat.tiny import TINY_DAT, tiny_calm, tiny_nq, tiny_recording
from src_models.errors import CalmError
from src_models.preparation import apply_dff

TRAIN = dict(batch_size=3, window_tokens=6, max_neurons=5, val_every=2, checkpoint_every=2, log_every=100,
             val_windows=4, warmup_steps=2)


def _sources():
    return [
        DataSource("a", recording=tiny_recording(8, 300, seed=1, source="a")),
        DataSource("b", 0.0, 0.6, recording=tiny_recording(12, 400, seed=2, source="b")),
        DataSource("c", recording=tiny_recording(4, 240, seed=3, source="c")),
    ]


def _pretrain(out, steps, seed=0):
    return pretrain(_sources(), out, nq=tiny_nq(), model_config=TINY_DAT, train_config=TRAIN,
                    tokenizer={"causal_frames": 8}, max_steps=steps, seed=seed, device="cpu", log=lambda m: None)


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory):
    out = tmp_path_factory.mktemp("pre")
    _pretrain(out, 4)
    return out


def test_corpus_is_memory_mapped_uint16_and_sampled_per_rank(pretrained):
    corpus = TokenCorpus(pretrained / "corpus")
    assert [s.n_neurons for s in corpus.sessions] == [8, 12, 4]
    assert corpus.sessions[1].frames == [0, 240]  # b@0:0.6
    toks = corpus.tokens(1)
    assert isinstance(toks, np.memmap) and toks.dtype == np.uint16 and toks.shape == (60, 12)
    assert corpus.values(1).dtype == np.float16
    s = WindowSampler(corpus, "train", window_tokens=6, max_neurons=5, batch_size=4, seed=0)
    b = s.batch(0)
    assert b.tokens.shape[0] == 4 and b.tokens.shape[1] <= 5 and b.tokens.shape[2] == 6
    assert b.values.shape == (4, b.tokens.shape[1], 24)
    assert torch.equal(s.batch(3).tokens, s.batch(3).tokens)  # a pure function of the step
    # neuron ids belong to the window's session rows
    for k in range(4):
        sess = next(e for e in corpus.sessions if e.session_row == int(b.session_ids[k]))
        ids = b.neuron_ids[k][b.mask[k]]
        assert ids.min() >= sess.neuron_offset and ids.max() < sess.neuron_offset + sess.n_neurons
    shards = [WindowSampler(corpus, "train", window_tokens=6, max_neurons=5, batch_size=2, rank=r, world=2)
              for r in (0, 1)]
    assert set(shards[0].session_ids).isdisjoint(shards[1].session_ids)


def test_masked_neuron_pretraining_learns_a_mask_embedding(tmp_path, pretrained):
    corpus = TokenCorpus(pretrained / "corpus")
    kw = dict(window_tokens=6, max_neurons=5, batch_size=64, seed=0)
    plain, masking = WindowSampler(corpus, **kw), WindowSampler(corpus, mask_neurons=0.3, **kw)
    a, b = plain.batch(2), masking.batch(2)
    assert a.masked is None and torch.equal(a.tokens, b.tokens) and torch.equal(a.neuron_ids, b.neuron_ids)
    assert not b.masked[~b.mask].any() and 0.2 < float(b.masked[b.mask].float().mean()) < 0.4
    assert plain.fixed_batches(4)[0].masked is None  # validation never masks
    pretrain(_sources(), tmp_path / "m", nq=tiny_nq(), model_config=TINY_DAT, train_config={**TRAIN, "mask_neurons": 0.3},
             tokenizer={"causal_frames": 8}, max_steps=2, device="cpu", log=lambda m: None)
    model = load_calm(tmp_path / "m" / "last")
    assert model.dat.cfg.mask_embedding and float(model.dat.mask_emb.detach().abs().sum()) > 0
    assert load_calm(pretrained / "last").dat.mask_emb is None


def test_parse_source_ranges(tmp_path):
    s = parse_source(str(tmp_path / "x.mat@0:0.6"))
    assert (s.path, s.start, s.stop) == (str(tmp_path / "x.mat"), 0.0, 0.6)
    assert s.spec.endswith("x.mat@0:0.6")
    with pytest.raises(CalmError, match="time range"):
        parse_source(str(tmp_path / "x.mat@0.7:0.2"))


def test_resumed_pretraining_equals_an_uninterrupted_run(tmp_path, pretrained):
    _pretrain(tmp_path / "once", 6)
    _pretrain(tmp_path / "twice", 2)
    first = load_calm(tmp_path / "twice" / "last", with_extra=True)
    assert first[2]["state"]["step"] == 2 and any(k.startswith("optim.") for k in first[1])
    _pretrain(tmp_path / "twice", 6)
    a = load_calm(tmp_path / "once" / "last").state_dict()
    b = load_calm(tmp_path / "twice" / "last").state_dict()
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=0, msg=k)
    with pytest.raises(CalmError, match="other data"):
        pretrain(_sources()[:2], tmp_path / "once", nq=tiny_nq(), model_config=TINY_DAT, train_config=TRAIN,
                 max_steps=6, log=lambda m: None)


def test_finetune_generator_stops_and_leaves_a_consistent_checkpoint(tmp_path, pretrained):
    model = load_calm(pretrained)
    rec = tiny_recording(10, 320, seed=7, source="new")
    stop = threading.Event()
    cfg = dict(embed_steps=4, full_steps=4, val_every=2, window_tokens=6, batch_size=2, val_windows=2)
    seen = []
    for info in finetune(model, rec, config=cfg, out=tmp_path / "ft", stop=stop):
        seen.append(info)
        assert set(info) >= {"step", "total", "loss", "val_loss", "phase"}
        if info["step"] == 3:
            stop.set()
    assert seen[-1]["phase"] == "stopped" and seen[-1]["step"] == 3
    assert [i["phase"] for i in seen[:3]] == ["embeddings"] * 3
    resumed, extra, meta = load_calm(tmp_path / "ft" / "last", with_extra=True)
    assert meta["state"]["step"] == 3 and extra  # weights + optimizer moments
    assert resumed.find_session(meta["state"]["fingerprint"])["n_neurons"] == 10
    load_calm(tmp_path / "ft")  # best/ loads too
    # the backbone did not move in the embedding phase
    base = load_calm(pretrained).dat.state_dict()
    after = resumed.dat.state_dict()
    for k in ("blocks.0.attn_t.qkv.weight", "head.weight"):
        assert torch.equal(base[k], after[k])
    rest = list(finetune(model, rec, config=cfg, out=tmp_path / "ft"))  # resumes at step 3
    assert rest[0]["step"] == 4 and rest[-1]["phase"] == "done" and rest[-1]["step"] == 8
    assert "full" in {i["phase"] for i in rest}


def test_closing_the_generator_saves(tmp_path, pretrained):
    gen = finetune(load_calm(pretrained), tiny_recording(10, 320, seed=8), out=tmp_path / "ft",
                   config=dict(embed_steps=5, val_every=5, window_tokens=6, batch_size=2, val_windows=2))
    next(gen)
    next(gen)
    gen.close()
    assert load_calm(tmp_path / "ft" / "last", with_extra=True)[2]["state"]["step"] == 2


def test_forecast_recording_shapes_metrics_and_band(pretrained):
    model = load_calm(pretrained)
    rec = tiny_recording(6, 400, seed=9, source="fc")
    res = forecast_recording(model, rec, context=16, horizon=8, n_samples=3, steps=3, strategy="embeddings")
    W = len(res.starts)
    assert W == 80 - 24 + 1  # every window of the last 20 %
    assert res.pred.shape == res.true.shape == (W, 8, 6)
    assert res.lower.shape == res.pred.shape and np.all(res.lower <= res.upper)
    calm_variants = {"greedy", "sample_mean", "regression"}
    stacks = {f"blend_{k}" for k in calm_variants | {"linear"}}
    assert set(res.variants) == calm_variants | {"var", "ar"} | stacks
    assert set(res.val_mse) == set(res.variants) and res.selected == min(res.val_mse, key=res.val_mse.get)
    assert set(res.info["linear_skip"]["blend_weights"]) == calm_variants
    assert set(res.info["linear_skip"]["stack_weights"]) == stacks
    assert res.selected in res.variants and res.metrics == res.variant_metrics[res.selected]
    assert res.baseline["prediction_score"] == 0.0
    assert res.info["adapted"] and len(model.sessions) == 3  # the caller's model is left unchanged
    # truth really is the prepared recording (raw fluorescence -> ΔF/F), z-scored on the training split
    assert res.info["preparation"]["dff"].startswith("ΔF/F")
    z = (apply_dff(rec.traces, rec.fs)[0] - res.mean) / res.std
    np.testing.assert_allclose(res.true[0, :, 0], z[0, res.starts[0] + 16 : res.starts[0] + 24], rtol=1e-5)


def test_forecast_refuses_short_recordings(pretrained):
    model = load_calm(pretrained)
    with pytest.raises(CalmError, match="shorter than context \\+ horizon"):
        forecast_recording(model, tiny_recording(4, 60), context=48, horizon=16)
    with pytest.raises(CalmError, match="last 20 %"):
        forecast_recording(model, tiny_recording(4, 200), context=48, horizon=16)


def test_neuron_states_cover_every_token(pretrained):
    model = load_calm(pretrained)
    rec = tiny_recording(5, 103, seed=4)
    st = neuron_states(model, rec, window_tokens=6)
    assert st.hidden.shape == (5, 25, TINY_DAT["d_model"]) and st.mean.shape == (5, TINY_DAT["d_model"])
    assert st.frames[0] == 3 and st.frames[-1] == 99
    assert st.neuron_embedding is None
    known = neuron_states(model, _sources()[0].recording, window_tokens=6)
    assert known.neuron_embedding.shape == (8, TINY_DAT["d_model"])
    # causal: a state never depends on later frames (frames >= 72 changed, after the training split;
    # the ΔF/F baseline of raw fluorescence is causal too)
    rec2 = tiny_recording(5, 103, seed=4)
    rec2.F[:, 72:] += 5.0
    st2 = neuron_states(model, rec2, window_tokens=6)
    np.testing.assert_array_equal(st.hidden[:, :18], st2.hidden[:, :18])
    assert not np.allclose(st.hidden[:, 18:], st2.hidden[:, 18:])


def test_regression_head_forecasts_change_from_the_last_frame(pretrained):
    model = load_calm(pretrained)
    torch.nn.init.zeros_(model.dat.reg_head.weight)
    torch.nn.init.zeros_(model.dat.reg_head.bias)
    res = forecast_recording(model, tiny_recording(6, 400, seed=9), context=16, horizon=8, n_samples=0,
                             adapt=False, stride=5)
    np.testing.assert_allclose(res.variants["regression"], np.broadcast_to(res.last[:, None], res.true.shape),
                               atol=1e-5)
    assert res.variant_metrics["regression"]["prediction_score"] == pytest.approx(0.0, abs=1e-6)
    assert set(res.variants) == {"greedy", "regression", "var", "ar", "blend_linear", "blend_greedy",
                                 "blend_regression"}
    assert res.lower is None


def test_linear_skip_path_wins_on_linear_population_dynamics(pretrained):
    from src_models.dat.forecast import forecast_prepared
    from src_models.preparation import prepare_recording

    rng = np.random.default_rng(0)
    theta = np.linspace(0.2, 0.6, 3)  # three damped oscillators coupling pairs of neurons
    A = np.zeros((6, 6))
    for i, t in enumerate(theta):
        A[2 * i : 2 * i + 2, 2 * i : 2 * i + 2] = 0.97 * np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]])
    x = np.zeros((6, 1200))
    for t in range(1, 1200):
        x[:, t] = A @ x[:, t - 1] + rng.normal(0, 0.3, 6)
    prep = prepare_recording(x.astype(np.float32), 10.0)
    model = load_calm(pretrained)
    res = forecast_prepared(model, prep, 16, 8, n_samples=0, stride=4)
    assert res.selected == "var" or res.selected.startswith("blend_")
    assert res.metrics["prediction_score"] > 0.5 > max(res.variant_metrics[k]["prediction_score"]
                                                      for k in ("greedy", "regression"))
    assert res.info["linear_skip"]["lag"] >= 1
    plain = forecast_prepared(model, prep, 16, 8, n_samples=0, stride=4, linear_skip=False)
    assert set(plain.variants) == {"greedy", "regression"} and "linear_skip" not in plain.info
