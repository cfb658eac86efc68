"""Dock forms generated from the settings dataclasses: the defaults of ``calm``, what the worker gets."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest

pytest_plugins = ["test_gui_support"]
pytestmark = pytest.mark.gui


def cli_settings(command: str, argv: list[str], cls: type) -> Any:
    """The settings ``calm <command> <argv>`` would run with."""
    from napari_calm.cli.main import build_parser
    from napari_calm.cli.options import settings_from

    return settings_from(build_parser(command).parse_args([command, *argv]), cls)


def form_defaults_are_calms(form: Any, cls: type, command: str, argv: list[str]) -> None:
    """Every field of ``cls`` in ``form`` reads the dataclass's and the command line's default."""
    shown = set(form.widgets) & {f.name for f in dataclasses.fields(cls)}
    assert shown, cls
    read, default, cli = form.settings(cls), cls(), cli_settings(command, argv, cls)
    for name in shown:
        assert getattr(read, name) == getattr(default, name) == getattr(cli, name), (cls, name)


class Captured:
    """Stands in for a worker factory and for ``JobPanel.start``: records the call, runs nothing."""

    def __init__(self) -> None:
        self.calls: list[tuple[tuple, dict]] = []

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.calls.append((args, kwargs))
        return self


def test_every_dock_form_has_the_defaults_of_calm(calm_viewer):
    from napari_calm.extraction.settings import ExtractionSettings
    from src_models.settings import (
        AdaptSettings,
        DecodeSettings,
        EmbedSettings,
        FinetuneSettings,
        ForecastSettings,
    )

    _, docks = calm_viewer
    forecast = docks["Forecast"].form
    form_defaults_are_calms(forecast, ForecastSettings, "forecast", ["x"])
    form_defaults_are_calms(forecast, AdaptSettings, "forecast", ["x"])
    decoding = docks["Decoding"].form
    form_defaults_are_calms(decoding, DecodeSettings, "decode", ["x", "--target", "t"])
    assert [b.name for b in decoding.baselines if b.value] == ["ridge", "mlp"]
    form_defaults_are_calms(docks["Embedding map"].form, EmbedSettings, "embed", ["x", "--out", "o"])
    form_defaults_are_calms(docks["Fine-tune"].form, FinetuneSettings, "finetune", ["x", "--out", "o"])
    extract = docks["Recording & model"].extract_panel.form
    form_defaults_are_calms(extract, ExtractionSettings, "extract", ["m.tif", "--out", "o"])
    # tooltips are the command line's help; a None default reads "auto"
    assert forecast.samples.tooltip == dataclasses.fields(ForecastSettings)[2].metadata["help"]
    assert extract.fs.native.specialValueText() == "auto"


def test_changing_a_field_changes_what_the_worker_gets(calm_viewer, monkeypatch):
    from napari_calm import workers

    _, docks = calm_viewer
    forecast, decoding = docks["Forecast"], docks["Decoding"]
    for name in ("forecast_worker", "decode_worker"):
        monkeypatch.setattr(workers, name, Captured())
    for dock in (forecast, decoding):
        monkeypatch.setattr(dock.jobs, "start", Captured())

    forecast.form.context.value, forecast.form.samples.value, forecast.form.steps.value = 32, 3, 7
    forecast.run()
    args, kwargs = workers.forecast_worker.calls[-1]
    assert args[3:] == (32, 16) and kwargs == {"n_samples": 3, "adapt_steps": 7}

    decoding.set_target("running_speed")
    decoding.form.baselines.gru.value = True
    decoding.form.folds.value = 3
    decoding.run()
    args, kwargs = workers.decode_worker.calls[-1]
    assert args[1] == "running_speed" and kwargs["baselines"] == ("ridge", "mlp", "gru")
    assert kwargs["n_folds"] == 3 and kwargs["context"] == 48 and kwargs["n_shifts"] == 20

    # a value the settings refuse: their one-line error in the status line, no worker
    decoding.form.folds.value = 1
    assert decoding.run() is None and len(workers.decode_worker.calls) == 1
    assert decoding.jobs.status.text() == "error: --folds must be >= 2, --context >= 1, --shifts/--finetune-steps >= 0"
    decoding.form.folds.value = 5


def test_finetune_and_extract_forms_give_calms_settings(calm_viewer, monkeypatch, tmp_path):
    from napari_calm import workers
    from src_models.dat.config import FinetuneConfig

    _, docks = calm_viewer
    dock = docks["Fine-tune"]
    monkeypatch.setattr(workers, "finetune_worker", Captured())
    monkeypatch.setattr(dock.jobs, "start", Captured())
    dock.form.steps.value, dock.form.seed.value = 10, 3
    dock.form.config.value = str(tmp_path / "cfg.json")
    (tmp_path / "cfg.json").write_text(json.dumps({"finetune": {"batch_size": 2}}))
    dock.start()
    args, kwargs = workers.finetune_worker.calls[-1]
    config = args[3]
    assert (config["embed_steps"], config["full_steps"], config["batch_size"]) == (5, 5, 2)
    assert kwargs == {"seed": 3}
    dock.form.steps.value = 0  # back to "auto": 150 embedding + 200 full steps, as calm finetune
    dock.form.config.value = str(tmp_path / "missing.json")
    assert dock.start() is None and dock.jobs.status.text().endswith("missing.json: config file not found")
    dock.form.config.value = ""
    dock.start()
    config = workers.finetune_worker.calls[-1][0][3]
    assert (config["embed_steps"], config["full_steps"]) == (150, 200)
    assert config["batch_size"] == FinetuneConfig().batch_size

    panel = docks["Recording & model"].extract_panel
    assert panel.settings().tau is None
    panel.form.tau.value = 0.7
    assert panel.settings().tau == 0.7
    panel.form.tau.value = 0.0
