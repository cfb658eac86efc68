"""Regenerate the screenshots of the six CalM docks on the demo recording (docs/screenshots).

Opens napari as ``calm view`` does (the demo recording, the shipped model),
runs every job the docks offer — tokenize, embed, forecast, decode, a short
fine-tune — selects a few cue-selective neurons, colours the ROIs by cue
selectivity, and saves one PNG per dock plus the whole window. PNGs are
palette-quantised to stay small. No display is needed: a virtual X display is
started when ``DISPLAY`` is unset.

Usage::

    OMP_NUM_THREADS=1 python scripts/screenshots.py [--checkpoint DIR] [--out docs/screenshots]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
#: Output file stem of every dock.
FILES = {
    "Recording & model": "recording_dock",
    "Neuron inspector": "inspector_dock",
    "Embedding map": "embedding_dock",
    "Forecast": "forecast_dock",
    "Decoding": "decoding_dock",
    "Fine-tune": "finetune_dock",
}
#: Screen and window size (pixels).
SCREEN = (1920, 1080)
#: Size every dock is grabbed at (pixels).
DOCK_SIZE = (520, 760)


def pump(seconds: float = 0.0, until: Any = None, timeout: float = 1800.0) -> None:
    """Process Qt events for ``seconds`` or until ``until()`` holds."""
    from qtpy.QtWidgets import QApplication

    start = time.monotonic()
    while True:
        elapsed = time.monotonic() - start
        if (until is not None and until()) or (until is None and elapsed >= seconds):
            return
        if elapsed > timeout:
            raise TimeoutError("a job did not finish")
        QApplication.processEvents()
        time.sleep(0.01)


def run_job(dock: Any, start: Any) -> None:
    """Start a dock's job and wait for it; stop with the dock's error message if it fails."""
    start()
    pump(until=lambda: not dock.jobs.busy)
    if dock.jobs.last_error:
        raise SystemExit(f"{type(dock).__name__}: {dock.jobs.last_error}")


def save_png(widget: Any, path: Path) -> None:
    """Grab ``widget`` and write a palette-quantised PNG."""
    from PIL import Image

    image = widget.grab().toImage()
    tmp = path.with_suffix(".raw.png")
    image.save(str(tmp))
    Image.open(tmp).convert("RGB").quantize(colors=128, dither=Image.Dither.NONE).save(
        path, optimize=True
    )
    tmp.unlink()


def main(argv: list[str] | None = None) -> int:
    """Regenerate the screenshots."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--checkpoint", help="CalM checkpoint (default: the shipped model)")
    parser.add_argument("--out", default=str(REPO / "docs" / "screenshots"), help="output folder")
    args = parser.parse_args(argv)
    display = None
    if not os.environ.get("DISPLAY"):
        from pyvirtualdisplay import Display

        display = Display(visible=False, size=SCREEN, color_depth=24)
        display.start()
    try:
        shoot(Path(args.out), args.checkpoint)
    finally:
        if display is not None:
            display.stop()
    return 0


def shoot(out: Path, checkpoint: str | None) -> None:
    """Open the demo, run every job and save the PNGs."""
    import napari

    from napari_calm.cli.view import show
    from napari_calm.demo import demo_path
    from src_models.readers import read_recording
    from napari_calm.resources import resource
    from napari_calm.state import get_state

    checkpoint = checkpoint or str(resource("weights", "calm"))
    if (
        not (Path(checkpoint) / "config.json").is_file()
        and not (Path(checkpoint) / "best").is_dir()
    ):
        raise SystemExit(f"no CalM checkpoint at {checkpoint} (pass --checkpoint)")
    out.mkdir(parents=True, exist_ok=True)
    recording = read_recording(demo_path())
    viewer = napari.Viewer(show=True, title="CalM · demo")
    viewer.window._qt_window.resize(*SCREEN)
    with tempfile.TemporaryDirectory() as runs:
        get_state(viewer).runs_dir = runs
        docks = show(viewer, recording, checkpoint)
        state = get_state(viewer)
        pump(1.0)
        rec_dock = docks["Recording & model"]
        run_job(rec_dock, rec_dock.tokenize)
        run_job(rec_dock, rec_dock.embed)
        cue = state.embeddings.features.get("cue_si")
        chosen = list(np.argsort(-np.abs(cue))[:3]) if cue is not None else [0, 1, 2]
        state.select(chosen)
        forecast = docks["Forecast"]
        run_job(forecast, forecast.run)
        decoding = docks["Decoding"]
        decoding.set_target("running_speed")
        run_job(decoding, decoding.run)
        finetune = docks["Fine-tune"]
        config = Path(runs) / "finetune.json"
        config.write_text('{"finetune": {"val_every": 10}}')
        finetune.form.run_name.value = "demo-finetune"
        finetune.form.config.value = str(config)
        finetune.form.freeze_backbone.value = True
        finetune.form.steps.value = 40
        run_job(finetune, finetune.start)
        embedding = docks["Embedding map"]
        if cue is not None:
            embedding.feature_combo.setCurrentText("cue_si")
            embedding.color_rois()
        state.select(chosen)
        for name, widget in docks.items():
            dock = widget.parent()  # napari's QDockWidget: floated to grab it at a fixed size
            dock.setFloating(True)
            dock.resize(*DOCK_SIZE)
            pump(1.5)
            save_png(widget.body, out / f"{FILES[name]}.png")  # all of it, not the scrolled view
            dock.setFloating(False)
        docks["Neuron inspector"].parent().raise_()
        pump(1.0)
        save_png(viewer.window._qt_window, out / "window.png")
    viewer.close()
    for path in sorted(out.glob("*.png")):
        print(
            f"{path.relative_to(REPO) if path.is_relative_to(REPO) else path}  "
            f"{path.stat().st_size // 1024} KB"
        )


if __name__ == "__main__":
    sys.exit(main())
