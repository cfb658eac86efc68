"""Fine-tune dock: start, live progress, cancel (base checkpoint intact), resume to the end."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from qtpy.QtCore import Qt
from test_gui_support import wait_idle

pytest_plugins = ["test_gui_support"]
pytestmark = pytest.mark.gui


def _digest(folder: Path) -> dict[str, str]:
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.iterdir())
        if p.is_file()
    }


def test_finetune_reports_progress_cancels_and_resumes(calm_viewer, qtbot, tiny_checkpoint, tmp_path):
    import json

    from src_models.dat.calm import load_calm

    viewer, widgets = calm_viewer
    dock, recording_dock = widgets["Fine-tune"], widgets["Recording & model"]
    state = dock.state
    dock.parent().raise_()
    base_before = _digest(tiny_checkpoint)
    form = dock.form
    config = tmp_path / "small.json"  # as calm finetune --config: small, frequent validation
    config.write_text(json.dumps({"finetune": {"batch_size": 2, "val_every": 2, "max_neurons": 16}}))
    form.config.value = str(config)
    form.run_name.value = "gui-test-run"
    form.freeze_backbone.value = True  # every step in the embedding phase
    form.steps.value = 100_000  # long enough to still be running when cancelled
    qtbot.mouseClick(dock.start_button, Qt.MouseButton.LeftButton)
    assert dock.jobs.busy and not dock.start_button.isEnabled()
    # progress arrives: the loss curve grows and the bar advances
    qtbot.waitUntil(lambda: len(dock.canvas.train_line.get_xdata()) >= 3, timeout=60_000)
    assert dock.jobs.bar.maximum() == 100_000 and dock.jobs.bar.value() >= 1
    qtbot.waitUntil(lambda: len(dock.canvas.val_line.get_xdata()) >= 1, timeout=60_000)
    qtbot.mouseClick(dock.jobs.cancel_button, Qt.MouseButton.LeftButton)
    wait_idle(qtbot, dock.jobs)
    assert "cancelled at step" in dock.result_label.text()
    run = Path(state.runs_dir) / "gui-test-run"
    # the checkpoint it started from is untouched; the cancelled run is consistent and resumable
    assert _digest(tiny_checkpoint) == base_before
    load_calm(tiny_checkpoint)
    stopped_at = load_calm(run / "last", with_extra=True)[2]["state"]["step"]
    assert 3 <= stopped_at < 100_000
    assert dock.resume_combo.findData(str(run)) >= 0
    assert dock.start_button.isEnabled()

    # resume with a budget of two more steps: it continues from the saved step and finishes
    form.steps.value = stopped_at + 2
    dock.resume_combo.setCurrentIndex(dock.resume_combo.findData(str(run)))
    qtbot.mouseClick(dock.resume_button, Qt.MouseButton.LeftButton)
    wait_idle(qtbot, dock.jobs)
    assert dock.jobs.last_error == ""
    assert dock.canvas.train_line.get_xdata()[0] == stopped_at + 1
    assert dock.result_label.text().startswith("done")
    assert load_calm(run / "last", with_extra=True)[2]["state"]["step"] == stopped_at + 2
    # the finished run is offered as a checkpoint by the recording dock
    assert str(run) in recording_dock.checkpoint_paths()
    assert _digest(tiny_checkpoint) == base_before
