"""Low-rank adapters (src_models.dat.lora) and the adaptation strategy chosen on validation within a budget."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest
import torch
from safetensors import safe_open

from napari_calm.cli.main import main
from src_models import CalM
from src_models.dat.calm import save_calm
from src_models.dat.finetune import finetune
from src_models.dat.forecast import forecast_windows
from src_models.dat.lora import LowRank
from src_models.dat.tiny import tiny_calm, tiny_recording
from src_models.preparation import prepare_recording

STEPS = 4
SMALL = dict(val_every=2, window_tokens=6, batch_size=2, val_windows=2)


@pytest.fixture(scope="module")
def adapted():
    """A tiny CalM with embeddings for a recording (so later phases add no rows) and that recording."""
    rec = tiny_recording(8, 400, seed=5, source="lora")
    model = tiny_calm()
    *_, done = finetune(model, rec, config=dict(embed_steps=3, **SMALL))
    assert done["phase"] == "done"
    return model.eval(), prepare_recording(rec)


def _predict(model, prep) -> dict[str, np.ndarray]:
    starts = np.arange(prep.bounds[2][0], prep.bounds[2][1] - 24, 8)
    return forecast_windows(model, prep, starts, 16, 8, n_samples=0, variants=("greedy", "regression"))


def _keys(folder) -> set[str]:
    with safe_open(str(folder / "model.safetensors"), "pt") as f:
        return set(f.keys())


def test_adapters_start_at_the_model_and_merge_into_its_weights(adapted):
    model, prep = copy.deepcopy(adapted[0]), adapted[1]
    before = _predict(model, prep)
    state = {k: v.clone() for k, v in model.dat.state_dict().items()}
    lora = LowRank(model.dat, rank=4, seed=1)
    assert len(lora.layers) == 6 * model.dat.cfg.n_layers  # qkv and out of both attentions, the MLP's two
    assert {n.rsplit(".", 1)[1] for n, p in model.dat.named_parameters() if "lora" in n} == {"lora_a", "lora_b"}
    untrained = _predict(model, prep)
    for k in before:  # B = 0: exactly the model it wraps
        assert np.array_equal(untrained[k], before[k]), k
    with torch.no_grad():
        for layer in lora.layers:
            layer.lora_b.normal_(0.0, 0.3)
    with_adapters = _predict(model, prep)
    reported = model.dat.state_dict()
    assert set(reported) == set(state)  # no adapter keys, the merged weights under the original ones
    lora.merge()
    merged = _predict(model, prep)
    assert not np.allclose(with_adapters["regression"], before["regression"], atol=1e-3)
    np.testing.assert_allclose(merged["regression"], with_adapters["regression"], rtol=0, atol=1e-5)
    after = model.dat.state_dict()
    assert set(after) == set(state) and not any(n.endswith("lora_a") for n, _ in model.dat.named_parameters())
    for k in after:
        torch.testing.assert_close(after[k], reported[k], rtol=0, atol=0, msg=k)


def test_lora_phase_trains_only_adapters_and_saves_plain_weights(adapted, tmp_path):
    model, prep = adapted
    frozen = copy.deepcopy(model)
    *_, done = finetune(frozen, prep, config=dict(embed_steps=0, lora_steps=3, **SMALL), out=tmp_path / "zero",
                        stop=lambda: True)  # the lora phase attaches its adapters, runs zero steps, merges
    assert done["phase"] == "stopped" and done["step"] == 0
    before, after = _predict(model, prep), _predict(frozen, prep)
    for k in before:  # bit-identical predictions
        assert np.array_equal(after[k], before[k]), k
    trained = copy.deepcopy(model)
    *_, done = finetune(trained, prep, config=dict(embed_steps=0, lora_steps=4, lora_lr=1e-2, lora_rank=4, **SMALL),
                        out=tmp_path / "lora")
    base, new = model.dat.state_dict(), trained.dat.state_dict()
    assert set(new) == set(base)
    assert not torch.equal(new["blocks.0.attn_t.qkv.weight"], base["blocks.0.attn_t.qkv.weight"])
    for k in ("neuron_emb.weight", "session_emb.weight", "head.weight", "blocks.0.norm_t.weight"):
        assert torch.equal(new[k], base[k]), k  # the backbone outside the adapted layers is frozen
    assert _keys(tmp_path / "lora" / "best") == _keys(tmp_path / "zero" / "best")
    save_calm(model, tmp_path / "plain")
    assert _keys(tmp_path / "lora" / "best") == _keys(tmp_path / "plain")


@pytest.fixture(scope="module")
def tiny_ckpt(tmp_path_factory):
    root = tmp_path_factory.mktemp("adapt")
    rec = tiny_recording(6, 400, seed=3)
    np.savez(root / "rec.npz", traces=rec.F, fs=np.float64(rec.fs))
    return save_calm(tiny_calm(), root / "calm"), rec, root / "rec.npz"


def test_auto_reports_every_candidate_and_keeps_the_lowest_validation_loss(tiny_ckpt):
    ckpt, rec, _ = tiny_ckpt
    auto = CalM.load(ckpt).adapt_job(rec, steps=STEPS, full_steps=STEPS, strategy="auto", cache=False).run()
    tried, losses = auto.info["adapt_tried"], auto.info["adapt_val_loss"]
    assert list(tried) == ["embeddings", "lora", "full"] and not any(t["skipped"] for t in tried.values())
    assert all(t["steps"] == STEPS and t["seconds"] >= 0 for t in tried.values())
    assert losses == {k: t["val_loss"] for k, t in tried.items()}
    assert auto.info["strategy"] == min(losses, key=losses.get)
    assert auto.info["adapt_steps"] == 3 * STEPS and auto.info["adapt_budget_s"] == 120.0
    lora = CalM.load(ckpt).adapt_job(rec, steps=STEPS, full_steps=STEPS, strategy="lora", cache=False).run()
    assert list(lora.info["adapt_tried"]) == ["embeddings", "lora"] and lora.info["strategy"] == "lora"
    assert lora.info["adapt_val_loss"]["lora"] == losses["lora"]  # same seed, same candidate


def test_the_budget_is_honoured(tiny_ckpt):
    ckpt, rec, _ = tiny_ckpt
    budget = 2.0
    ad = CalM.load(ckpt).adapt_job(rec, steps=2, full_steps=100_000, strategy="auto", budget_s=budget,
                                   cache=False).run()
    tried = ad.info["adapt_tried"]
    # a step that starts in time may end late by about one step (the estimate is the longest so far),
    # more on a loaded machine: the slack is a few tiny-model steps
    assert ad.info["adapt_seconds"] <= budget + 1.0
    assert tried["lora"]["steps"] > 0 and tried["full"]["steps"] > 0  # both got a share
    assert tried["lora"]["seconds"] <= (budget - tried["embeddings"]["seconds"]) / 2 + 0.6
    hurried = CalM.load(ckpt).adapt_job(rec, steps=2, full_steps=50, strategy="auto", budget_s=1e-3,
                                        cache=False).run()
    assert hurried.info["strategy"] == "embeddings" and hurried.info["adapt_steps"] == 2
    assert {k for k, t in hurried.info["adapt_tried"].items() if t["skipped"]} == {"lora", "full"}


def test_cli_accepts_the_lora_strategy(tiny_ckpt, capsys):
    ckpt, _, path = tiny_ckpt
    assert main(["forecast", str(path), "--checkpoint", str(ckpt), "--context", "16", "--horizon", "8",
                 "--samples", "0", "--steps", "2", "--full-steps", "2", "--strategy", "lora", "--json",
                 "--device", "cpu"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert list(report["adapt_tried"]) == ["embeddings", "lora"] and report["strategy"] in ("embeddings", "lora")
    assert np.isfinite(report["metrics"]["corr"])
