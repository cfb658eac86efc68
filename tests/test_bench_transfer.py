"""The transfer suite: datasets, budgets, the assembly simulation and the calibrated band."""

from __future__ import annotations

import json

import numpy as np
import pytest

from napari_calm.cli.main import main
from src_models.bench.suites import builtin_sources, suite_budgets, suite_datasets
from src_models.bench.transfer import NOT_HELD_OUT, TRANSFER_COLUMNS, seen_in_pretraining
from src_models.dat.forecast import calibrate_band
from src_models.errors import CalmError
from src_models.simulation.assemblies import simulate_assemblies


def test_transfer_suite_names_its_datasets_and_marks_triplett(real_data, monkeypatch):
    from src_models.readers import read_recording

    monkeypatch.setenv("CALM_REAL_DATA", str(real_data))
    assert suite_datasets("transfer") == list(TRANSFER_COLUMNS)
    sources, notes = builtin_sources("transfer", ["worm", "triplett", "sim-assembly"], read_recording)
    assert notes == [NOT_HELD_OUT]
    assert [s.key for s in sources] == ["worm", "triplett", "sim-assembly"]
    assert [s.info["held_out_for_shipped_calm"] for s in sources] == [True, False, False]
    assert [s.column for s in sources] == [TRANSFER_COLUMNS["worm"], TRANSFER_COLUMNS["triplett"] + " †",
                                           TRANSFER_COLUMNS["sim-assembly"] + " ‡"]
    worm = sources[0].load()
    assert worm.traces.shape == (98, 1600) and abs(worm.fs - 1.6666) < 1e-3
    with pytest.raises(CalmError, match="transfer datasets"):
        builtin_sources("transfer", ["sim-task"], read_recording)


def test_a_model_pretrained_without_a_recording_gets_its_column_unmarked(tmp_path):
    from src_models.dat.calm import default_calm_path
    from src_models.readers import read_recording

    cfg = json.loads((default_calm_path() / "config.json").read_text())
    cfg["sessions"] = [s for s in cfg["sessions"] if "triplett" not in s["source"]]
    (tmp_path / "config.json").write_text(json.dumps(cfg))  # the manifest is all that is read
    assert seen_in_pretraining(tmp_path) == {"sim-assembly"}
    sources, _ = builtin_sources("transfer", ["triplett", "sim-chaos"], read_recording, tmp_path)
    for src in sources:  # triplett skipped when the real data are absent
        assert src.column == TRANSFER_COLUMNS[src.key] and src.info["held_out_for_calm"]
        assert "held_out_for_shipped_calm" not in src.info
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(CalmError, match="pretraining manifest"):
        seen_in_pretraining(tmp_path)


def test_budgets_train_to_convergence_and_steps_override_both():
    base, calm = suite_budgets("full")
    assert base.steps >= 10 * base.eval_every and base.patience * base.eval_every >= 500
    assert len(base.lr_grid) >= 2 and calm.steps < base.steps
    base, calm = suite_budgets("transfer", steps=7)
    assert base.steps == calm.steps == 7 and base.eval_every == calm.eval_every == 7
    with pytest.raises(CalmError, match="--steps"):
        suite_budgets("full", steps=0)


def test_transfer_cli_runs_a_simulation(tmp_path, capsys):
    out = tmp_path / "t"
    args = ["bench", "--suite", "transfer", "--datasets", "sim-assembly", "--models",
            "copy_last,ridge_var", "--seeds", "1", "--out", str(out), "--quiet"]
    assert main(args) == 0
    res = json.loads((out / "results.json").read_text())
    assert res["datasets"][0]["column"] == TRANSFER_COLUMNS["sim-assembly"] + " ‡"
    assert res["meta"]["foundation_budget"]["lr_grid"] == [1e-3]
    assert NOT_HELD_OUT in res["notes"]
    assert "Spontaneous assemblies (sim)" in capsys.readouterr().out


def test_assemblies_are_correlated_calcium_traces():
    rec = simulate_assemblies(40, 600, seed=3)
    x = rec.traces
    assert x.shape == (40, 600) and np.isfinite(x).all()
    member = np.array(rec.metadata["assemblies"], bool)
    a = int(np.argmax(member.sum(1)))
    idx = np.flatnonzero(member[a])
    c = np.corrcoef(x)
    inside = c[np.ix_(idx, idx)][np.triu_indices(len(idx), 1)].mean()
    assert inside > np.abs(c[np.triu_indices(40, 1)]).mean()
    assert np.array_equal(x, simulate_assemblies(40, 600, seed=3).traces)


def test_assembly_bleaching_drifts_the_baseline_down_by_the_given_fraction():
    clean = simulate_assemblies(30, 2000, seed=4, noise=0.0).traces
    bleached = simulate_assemblies(30, 2000, seed=4, noise=0.0, bleach=0.2).traces
    ratio = (1.0 + bleached) / (1.0 + clean)
    assert np.allclose(ratio[:, 0], 1.0, atol=1e-3) and np.allclose(ratio[:, -1], 0.8, atol=1e-3)
    assert np.all(np.diff(ratio.mean(0)) <= 1e-6)


def test_calibrated_band_reaches_its_coverage_on_fresh_data():
    rng = np.random.default_rng(0)

    def draw(w):
        pred = rng.normal(size=(w, 4, 10))
        sd = np.linspace(0.5, 2.0, 4)[None, :, None]  # errors grow with the horizon
        true = pred + rng.normal(size=pred.shape) * sd
        half = 0.1 * sd * np.ones_like(pred)  # far too narrow, like CalM's samples
        return pred, pred - half, pred + half, true

    val = draw(400)
    pred, lo, hi, true = draw(400)
    assert np.mean((true >= lo) & (true <= hi)) < 0.2
    lo, hi = calibrate_band(*val, pred, lo, hi)
    cov = np.mean((true >= lo) & (true <= hi), axis=(0, 2))
    assert np.all(np.abs(cov - 0.8) < 0.05)
