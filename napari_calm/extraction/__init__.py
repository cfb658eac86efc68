"""Movie → ROIs → traces with suite2p (registration, detection, extraction, classification).

Qt-free. Three layers, each usable on its own:

* :mod:`.settings` — what suite2p should be told for a given TIFF movie
  (:class:`ExtractionSettings` from the user, :func:`probe_movie` for the
  movie, :func:`suite2p_config` for suite2p's ``db``/``settings`` dicts);
* :mod:`.run` — :func:`run_extraction`, the pipeline in this process, written
  to a temporary folder next to the destination and renamed into place;
* :mod:`.process` — :class:`ExtractionJob`, the same run in a separate Python
  process streaming JSON progress lines (the CLI and the napari panel use it,
  so cancelling kills it and a crash cannot take the caller down).

suite2p is imported only inside the functions that run it.
"""

from __future__ import annotations

from napari_calm.extraction.process import ExtractionJob
from napari_calm.extraction.run import ExtractionResult, Progress, run_extraction
from napari_calm.extraction.settings import ExtractionSettings, MovieInfo, probe_movie

__all__ = [
    "ExtractionJob",
    "ExtractionResult",
    "ExtractionSettings",
    "MovieInfo",
    "Progress",
    "probe_movie",
    "run_extraction",
]
