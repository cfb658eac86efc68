"""The demo recording: generated once, offline, into the napari-calm cache.

``calm view`` without a path, the docks and the napari sample data all open
this folder. It is the ``demo`` simulation preset (seed 0) written in the
suite2p layout with ``movie.tif``, ``behavior.csv``, ``trials.csv``,
``ground_truth.npz`` and ``meta.json``; nothing is downloaded.
"""

from __future__ import annotations

from pathlib import Path

#: bump when the demo's content changes so stale caches are not reused
DEMO_VERSION = "demo-v1"
#: seed of the demo simulation
DEMO_SEED = 0


def _complete(folder: Path) -> bool:
    return (folder / "meta.json").is_file() and (folder / "suite2p" / "plane0" / "F.npy").is_file()


def demo_path() -> Path:
    """Folder of the demo recording, generating it on first use.

    Returns
    -------
    Path
        ``cache_dir() / 'demo-v1'``, a complete session folder (written
        atomically, so a crash or a concurrent caller never sees half of it).
    """
    from napari_calm.resources import cache_dir
    from src_models.errors import CalmError
    from src_models.simulation import simulate, write_session

    folder = cache_dir() / DEMO_VERSION
    if _complete(folder):
        return folder
    (session,) = simulate("demo", seed=DEMO_SEED)
    try:
        write_session(session, folder, overwrite=folder.exists() and not _complete(folder))
    except CalmError:
        if not _complete(folder):  # another process finishing first is fine
            raise
    return folder
