"""napari-calm: the CalM foundation model for calcium imaging, as a napari plugin.

Importing this package is cheap: torch, napari, suite2p and umap are imported
only inside the functions that need them.
"""

from __future__ import annotations

__version__ = "0.1.0"
