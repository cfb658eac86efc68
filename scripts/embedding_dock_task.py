"""Screenshots of the Embedding-map dock on a task simulation, coloured by tuning, cue SI and choice SI.

Opens a ``calm simulate --preset task`` recording as ``calm view`` does (shipped model), embeds it in
the Recording dock (adaptation, selectivity), lets the dock compute its UMAP map and saves the dock
as ``embedding_dock_task_<feature>.png`` for the default colouring (``tuning``), ``cue_si`` and
``choice_si``. Usage::

    calm simulate --preset task --seed 11 --out sim/task11
    OMP_NUM_THREADS=1 xvfb-run -a -s "-screen 0 1920x1080x24" python scripts/embedding_dock_task.py sim/task11
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from screenshots import DOCK_SIZE, REPO, SCREEN, pump, run_job, save_png  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    """Embed, map and grab the dock once per colouring."""
    import napari

    from napari_calm.cli.view import show
    from napari_calm.resources import resource
    from napari_calm.state import get_state
    from src_models.readers import read_recording

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("recording", help="task simulation folder")
    parser.add_argument("--out", default=str(REPO / "docs" / "screenshots"), help="output folder")
    args = parser.parse_args(argv)
    out = Path(args.out)
    viewer = napari.Viewer(show=True, title="CalM · task simulation")
    viewer.window._qt_window.resize(*SCREEN)
    docks = show(viewer, read_recording(args.recording), str(resource("weights", "calm")))
    state = get_state(viewer)
    run_job(docks["Recording & model"], docks["Recording & model"].embed)
    emb = docks["Embedding map"]
    pump(until=lambda: "UMAP" in state.embeddings.coords and not emb.jobs.busy)
    default = emb.feature_combo.currentText()
    dock = emb.parent()
    dock.setFloating(True)
    dock.resize(*DOCK_SIZE)
    for feature in (default, "cue_si", "choice_si"):
        emb.feature_combo.setCurrentText(feature)
        pump(1.5)
        save_png(emb.body, out / f"embedding_dock_task_{feature}.png")
        print(out / f"embedding_dock_task_{feature}.png", "(default)" if feature == default else "")
    viewer.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
