"""napari responsiveness of the CalM docks: click latency, event-loop stalls, opening a big TIFF.

Three measurements, in one napari window laid out as ``calm view`` does:

1. **Click → inspector.** A simulated ``task`` recording (default 1,000
   neurons × 6,000 frames, ROIs, no movie) is opened and tokenized (tokens
   cached), then ROIs are clicked with real Qt mouse events on the viewer
   canvas. Latency is the time from the press to the inspector's new plot on
   screen (its blit); the time until the image outline has been repainted as
   well is reported too.
2. **Event-loop stalls during a fine-tune.** A fine-tune of that recording
   runs in the fine-tune dock (live loss curve) while a 10 ms ``QTimer``
   heartbeat records every gap; a stall is a gap minus the 10 ms period.
   An idle period is measured first for reference.
3. **Opening a 2 GB TIFF.** A ``uint16`` TIFF movie (default 2.0 GB) is
   written to ``/tmp`` and opened from the recording dock's path field; the
   time to the first canvas draw showing it is reported. The file is deleted
   afterwards.

Run (no display needed: a virtual X display is started when ``DISPLAY`` is unset)::

    OMP_NUM_THREADS=1 python benchmarks/gui_responsiveness.py [--checkpoint DIR] [--json OUT]

The results go to BENCHMARKS.md, section ``## napari responsiveness``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--checkpoint", help="CalM checkpoint (default: the shipped model)")
    p.add_argument(
        "--neurons", type=int, default=1000, help="neurons of the click/fine-tune recording"
    )
    p.add_argument(
        "--frames", type=int, default=6000, help="frames of the click/fine-tune recording"
    )
    p.add_argument("--clicks", type=int, default=40, help="ROIs clicked")
    p.add_argument(
        "--finetune-seconds", type=float, default=60.0, help="heartbeat time during the fine-tune"
    )
    p.add_argument(
        "--tiff-gb", type=float, default=2.0, help="size of the TIFF movie in GB (0 skips it)"
    )
    p.add_argument("--json", help="also write the results to this JSON file")
    return p.parse_args(argv)


# -- Qt helpers ---------------------------------------------------------------------------------
def pump(seconds: float = 0.0, until: Any = None, timeout: float = 600.0) -> float:
    """Process Qt events for ``seconds``, or until ``until()`` is true; returns the time waited."""
    from qtpy.QtWidgets import QApplication

    start = time.perf_counter()
    while True:
        elapsed = time.perf_counter() - start
        if until is not None and until():
            return elapsed
        if until is None and elapsed >= seconds:
            return elapsed
        QApplication.processEvents()
        if elapsed > timeout:
            raise TimeoutError(f"gave up after {timeout:.0f} s")
        time.sleep(0.001)


class Heartbeat:
    """A 10 ms precise ``QTimer`` that records the gaps between its ticks."""

    def __init__(self, period_ms: int = 10) -> None:
        from qtpy.QtCore import Qt, QTimer

        self.period = period_ms / 1000.0
        self.ticks: list[float] = []
        self.timer = QTimer()
        self.timer.setTimerType(Qt.TimerType.PreciseTimer)
        self.timer.setInterval(period_ms)
        self.timer.timeout.connect(lambda: self.ticks.append(time.perf_counter()))

    def run(self, seconds: float) -> dict[str, float]:
        """Record for ``seconds`` while the event loop runs; returns stall statistics in ms."""
        self.ticks = []
        self.timer.start()
        pump(seconds)
        self.timer.stop()
        gaps = np.diff(self.ticks)
        stalls = np.maximum(gaps - self.period, 0.0) * 1000.0
        return {
            "seconds": round(seconds, 1),
            "ticks": int(len(self.ticks)),
            "max_stall_ms": round(float(stalls.max()), 1),
            "p99_stall_ms": round(float(np.percentile(stalls, 99)), 1),
            "median_gap_ms": round(float(np.median(gaps)) * 1000.0, 1),
            "stalls_over_100ms": int((stalls > 100).sum()),
            "stalls_over_50ms": int((stalls > 50).sum()),
        }


class RepaintProbe:
    """Time a trivial repaint (a small label in the status bar) to its paint event.

    This is the floor of any GUI update in this window: with a docked OpenGL
    canvas Qt composes the whole window on every repaint, which under Xvfb is
    done in software (llvmpipe).
    """

    def __init__(self, viewer: Any) -> None:
        from qtpy.QtCore import QEvent, QObject
        from qtpy.QtWidgets import QLabel

        self.label = QLabel("0")
        self.label.setFixedWidth(40)
        viewer.window._qt_window.statusBar().addPermanentWidget(self.label)
        self.paints = 0
        probe = self

        class Counter(QObject):
            def eventFilter(self, obj: Any, event: Any) -> bool:  # noqa: N802 (Qt API)
                if event.type() == QEvent.Type.Paint:
                    probe.paints += 1
                return False

        self._counter = Counter()
        self.label.installEventFilter(self._counter)

    def run(self, n: int = 15, pause: float = 0.1) -> float:
        """Median milliseconds from ``setText`` to the label's paint event over ``n`` repaints."""
        times = []
        for i in range(n):
            before = self.paints
            t0 = time.perf_counter()
            self.label.setText(str(i % 10))
            pump(until=lambda before=before: self.paints > before, timeout=10)
            times.append((time.perf_counter() - t0) * 1000.0)
            pump(pause)
        return round(statistics.median(times), 1)


# -- measurements -------------------------------------------------------------------------------
def measure_clicks(
    viewer: Any, widgets: dict[str, Any], n_clicks: int, seed: int = 0
) -> dict[str, Any]:
    """Click ``n_clicks`` random ROIs with Qt mouse events on the canvas.

    Three latencies from the press: ``handler`` (the inspector's new plot
    rendered into its buffer: napari's mouse dispatch, the selection, our
    plot update), ``on_screen`` (the inspector's paint event, after Qt has
    composed the window) and ``with_outline`` (the image outline repainted too).
    """
    from qtpy.QtCore import QPoint, Qt
    from qtpy.QtTest import QTest

    inspector = widgets["Neuron inspector"]
    state = inspector.state
    labels = state.find_labels(viewer)
    image = np.asarray(labels.data)
    canvas = viewer.window._qt_viewer.canvas
    rng = np.random.default_rng(seed)
    inspector.parent().raise_()
    pump(
        until=lambda: inspector.canvas.on_screen() and inspector.canvas._background is not None,
        timeout=30,
    )
    outline_layer = None
    handler, on_screen, to_outline = [], [], []
    for neuron in rng.choice(state.n_neurons, size=n_clicks, replace=False):
        pixels = np.argwhere(image == neuron + 1)
        if not len(pixels):
            continue
        row, col = pixels[np.argmin(((pixels - pixels.mean(0)) ** 2).sum(1))]
        x, y = canvas.view.scene.transform.map([col, row, 0, 1])[:2]
        updates = inspector.canvas.blit_count + inspector.canvas.draw_count
        paints = inspector.canvas.paint_count
        t0 = time.perf_counter()
        QTest.mouseClick(
            canvas.native,
            Qt.MouseButton.LeftButton,
            Qt.KeyboardModifier.NoModifier,
            QPoint(int(round(x)), int(round(y))),
        )
        pump(
            until=lambda n=updates: inspector.canvas.blit_count + inspector.canvas.draw_count > n,
            timeout=10,
        )
        t_handler = time.perf_counter()
        pump(until=lambda n=paints: inspector.canvas.paint_count > n, timeout=10)
        t1 = time.perf_counter()
        if outline_layer is None and "CalM selection" in viewer.layers:
            outline_layer = viewer.layers["CalM selection"]
        pump(
            until=lambda layer=outline_layer, r=row, c=col: (
                layer is not None and bool(layer.data[r, c])
            ),
            timeout=10,
        )
        pump(0.05)  # let the canvas repaint before the next click
        t2 = time.perf_counter()
        assert state.current == neuron, (state.current, neuron)
        handler.append((t_handler - t0) * 1000.0)
        on_screen.append((t1 - t0) * 1000.0)
        to_outline.append((t2 - t0 - 0.05) * 1000.0)

    def stats(name: str, values: list[float]) -> dict[str, float]:
        return {
            f"{name}_median_ms": round(statistics.median(values), 1),
            f"{name}_p95_ms": round(float(np.percentile(values, 95)), 1),
            f"{name}_max_ms": round(max(values), 1),
        }

    return {
        "clicks": len(handler),
        **stats("handler", handler),
        **stats("on_screen", on_screen),
        **stats("with_outline", to_outline),
    }


def measure_finetune(
    widgets: dict[str, Any], seconds: float, probe: RepaintProbe
) -> dict[str, Any]:
    """Heartbeat gaps while idle, then while a fine-tune runs in the fine-tune dock.

    The trivial-repaint time is measured in both phases (see :class:`RepaintProbe`).
    """
    dock = widgets["Fine-tune"]
    dock.parent().raise_()
    beat = Heartbeat()
    idle = beat.run(5.0)
    idle["trivial_repaint_ms"] = probe.run()
    dock.form.run_name.value = f"bench-{int(time.time())}"
    dock.form.freeze_backbone.value = True  # every step in the embedding phase, as before
    dock.form.steps.value = 1_000_000
    dock.start()
    pump(until=lambda: len(dock.canvas.train_line.get_xdata()) >= 1, timeout=300)
    first_step = dock.canvas.train_line.get_xdata()[0]
    busy = beat.run(seconds)
    steps = dock.canvas.train_line.get_xdata()
    busy["trivial_repaint_ms"] = probe.run()
    dock.jobs.cancel()
    pump(until=lambda: not dock.jobs.busy, timeout=300)
    busy["steps_during"] = int(steps[-1] - first_step) if len(steps) else 0
    return {"idle": idle, "finetune": busy}


def write_tiff(path: Path, gigabytes: float) -> tuple[int, ...]:
    """A contiguous ``uint16`` T×512×512 TIFF of about ``gigabytes`` GB, written in chunks."""
    import tifffile

    frame = 512 * 512 * 2
    shape = (max(1, int(gigabytes * 1e9 // frame)), 512, 512)
    movie = tifffile.memmap(path, shape=shape, dtype=np.uint16, photometric="minisblack")
    rng = np.random.default_rng(0)
    block = rng.integers(100, 4000, size=(64, 512, 512), dtype=np.uint16)
    for start in range(0, shape[0], 64):
        stop = min(shape[0], start + 64)
        movie[start:stop] = block[: stop - start]
    movie.flush()
    del movie
    return shape


def measure_tiff(viewer: Any, widgets: dict[str, Any], gigabytes: float) -> dict[str, Any]:
    """Write the TIFF, open it from the recording dock, time to the first draw showing it."""
    dock = widgets["Recording & model"]
    scene = viewer.window._qt_viewer.canvas._scene_canvas
    with tempfile.TemporaryDirectory(dir="/tmp") as tmp:
        path = Path(tmp) / "big_movie.tif"
        t = time.perf_counter()
        shape = write_tiff(path, gigabytes)
        write_s = time.perf_counter() - t
        size_gb = path.stat().st_size / 1e9
        drawn: list[float] = []

        def on_draw(_event: Any) -> None:
            if any(layer.name == path.stem for layer in viewer.layers):
                drawn.append(time.perf_counter())

        scene.events.draw.connect(on_draw)
        t0 = time.perf_counter()
        dock.path_edit.setText(str(path))
        dock.open_clicked()
        pump(until=lambda: bool(drawn), timeout=120)
        first_frame_s = drawn[0] - t0
        scene.events.draw.disconnect(on_draw)
        shape_ok = tuple(viewer.layers[path.stem].data.shape) == shape
        for layer in list(viewer.layers):
            viewer.layers.remove(layer)  # release the memory map before the file is deleted
    return {
        "size_gb": round(size_gb, 2),
        "shape": list(shape),
        "write_s": round(write_s, 1),
        "first_frame_s": round(first_frame_s, 2),
        "shape_ok": shape_ok,
    }


# -- main ---------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    """Run the three measurements and print them (and write ``--json``)."""
    args = parse_args(argv)
    display = None
    if not os.environ.get("DISPLAY"):
        from pyvirtualdisplay import Display

        display = Display(visible=False, size=(1600, 1000), color_depth=24)
        display.start()
    try:
        results = run(args)
    finally:
        if display is not None:
            display.stop()
    print(json.dumps(results, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


def run(args: argparse.Namespace) -> dict[str, Any]:
    """The measurements (inside a display)."""
    import napari

    from napari_calm.cli.view import show
    from napari_calm.resources import resource
    from src_models.simulation import simulate

    checkpoint = args.checkpoint or str(resource("weights", "calm"))
    t = time.perf_counter()
    (session,) = simulate("task", seed=0, n_neurons=args.neurons, n_frames=args.frames)
    recording = session.recording
    simulate_s = time.perf_counter() - t
    viewer = napari.Viewer(show=True)
    viewer.window._qt_window.resize(1600, 1000)
    with tempfile.TemporaryDirectory() as runs:
        from napari_calm.state import get_state

        get_state(viewer).runs_dir = runs
        widgets = show(viewer, recording, checkpoint)
        pump(1.0)
        recording_dock = widgets["Recording & model"]
        t = time.perf_counter()
        recording_dock.tokenize()
        pump(until=lambda: not recording_dock.jobs.busy, timeout=3600)
        if recording_dock.jobs.last_error:
            raise SystemExit(f"tokenization failed: {recording_dock.jobs.last_error}")
        tokenize_s = time.perf_counter() - t
        tokens = recording_dock.state.tokens
        results: dict[str, Any] = {
            "machine": f"{platform.machine()}, {os.cpu_count()} cores, load average "
            + " ".join(f"{x:.1f}" for x in os.getloadavg()),
            "checkpoint": checkpoint,
            "recording": {
                "neurons": recording.n_neurons,
                "frames": recording.n_frames,
                "simulate_s": round(simulate_s, 1),
            },
            "tokens": {
                "shape": list(tokens.tokens.shape),
                "codebook_size": tokens.codebook_size,
                "tokenize_s": round(tokenize_s, 1),
            },
        }
        probe = RepaintProbe(viewer)
        results["trivial_repaint_ms"] = probe.run()
        results["click"] = measure_clicks(viewer, widgets, args.clicks)
        print(json.dumps(results["click"]), file=sys.stderr)
        results["stalls"] = measure_finetune(widgets, args.finetune_seconds, probe)
        print(json.dumps(results["stalls"]), file=sys.stderr)
        if args.tiff_gb > 0:
            results["tiff"] = measure_tiff(viewer, widgets, args.tiff_gb)
        results["load_average_end"] = " ".join(f"{x:.1f}" for x in os.getloadavg())
    viewer.close()
    return results


if __name__ == "__main__":
    sys.exit(main())
