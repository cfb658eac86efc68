"""The Extract ROIs panel in a viewer: start, progress, cancel, completion."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.gui


@pytest.fixture(scope="module")
def sim_folder(tmp_path_factory):
    """A small simulated session with its movie (20 neurons, 64×64, 300 frames)."""
    from src_models.simulation import simulate, write_session

    session = simulate("demo", seed=1, n_neurons=20, n_frames=300)[0]
    folder = tmp_path_factory.mktemp("sim-panel") / "session"
    write_session(session, folder)
    return folder


def _open_movie(viewer, path):
    """Show a TIFF as the Recording dock does: its layers, movie-only recording."""
    from napari.layers import Layer

    from napari_calm.layers import recording_layers
    from src_models.readers import read_recording

    rec = read_recording(path)
    for data, kwargs, layer_type in recording_layers(rec):
        viewer.add_layer(Layer.create(data, kwargs, layer_type))
    return rec


def test_panel_cancel_then_extract_adds_rois(make_napari_viewer, qtbot, sim_folder, tmp_path):
    from napari_calm.state import get_state
    from napari_calm.widgets.extract_panel import ExtractPanel, default_output

    viewer = make_napari_viewer()
    state = get_state(viewer)
    panel = ExtractPanel(viewer, state)
    qtbot.addWidget(panel)
    assert not panel.busy and "Open a TIFF" in panel.info_label.text()

    movie = sim_folder / "movie.tif"
    _open_movie(viewer, movie)
    assert panel.movie_path() == movie
    assert panel.output_path() == default_output(movie)
    assert "10 Hz (meta.json)" in panel.info_label.text()
    out = tmp_path / "extracted"
    panel.out_edit.setText(str(out))

    # start, see progress, cancel: nothing half-written remains
    job = panel.start()
    assert job is not None and panel.busy
    bar = panel.jobs.bar
    qtbot.waitUntil(lambda: bar.maximum() > 0 and bar.value() > 10, timeout=120_000)
    assert job.workdir.exists()
    panel.jobs.cancel_button.click()
    qtbot.waitUntil(lambda: not panel.busy, timeout=30_000)
    assert job.state == "cancelled"
    assert panel.jobs.cancelled and panel.jobs.status.text().endswith(": cancelled")
    assert not out.exists() and not job.workdir.exists()
    assert [p for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    assert not [layer for layer in viewer.layers if layer._type_string == "labels"]

    # run to completion: the ROI layer and the traces arrive
    job = panel.start()
    qtbot.waitUntil(lambda: not panel.busy, timeout=300_000)
    assert job.state == "done", job.error
    labels = [layer for layer in viewer.layers if layer._type_string == "labels"]
    assert len(labels) == 1 and labels[0] is panel.layer
    rec = state.recording
    assert rec is not None and rec.kind == "suite2p" and rec.n_neurons > 5
    assert int(labels[0].data.max()) == rec.n_neurons
    assert rec.F.shape == (rec.n_neurons, 300)
    assert state.find_labels(viewer) is labels[0]

    # a second run into the same folder is refused without "replace" and leaves it intact
    before = sorted(p.name for p in (out / "plane0").iterdir())
    assert panel.start() is None and "already holds results" in panel.jobs.status.text()
    assert sorted(p.name for p in (out / "plane0").iterdir()) == before


def test_movie_named_by_a_recording(sim_folder):
    from src_models.readers import read_recording
    from napari_calm.widgets.extract_panel import recording_movie

    assert recording_movie(read_recording(sim_folder)) == sim_folder / "movie.tif"
    assert recording_movie(read_recording(sim_folder / "movie.tif")) == sim_folder / "movie.tif"
    assert recording_movie(None) is None


def test_no_rois_is_one_error_line_without_traceback(make_napari_viewer, qtbot, tmp_path, capfd):
    import numpy as np
    import tifffile

    from napari_calm.state import get_state
    from napari_calm.widgets.extract_panel import ExtractPanel

    movie = tmp_path / "noise.tif"
    rng = np.random.default_rng(0)
    tifffile.imwrite(movie, (1000 + rng.normal(0, 5, (200, 64, 64))).astype(np.int16))
    viewer = make_napari_viewer()
    panel = ExtractPanel(viewer, get_state(viewer))
    qtbot.addWidget(panel)
    _open_movie(viewer, movie)
    panel.out_edit.setText(str(tmp_path / "out"))
    job = panel.start()
    qtbot.waitUntil(lambda: not panel.busy, timeout=300_000)
    assert job.state == "failed"
    status = panel.jobs.status.text()
    assert status.startswith("failed:") and "found no ROIs" in status and "done" not in status
    captured = capfd.readouterr()
    assert "Traceback" not in captured.out + captured.err, captured.err[-3000:]
    assert not (tmp_path / "out").exists()
