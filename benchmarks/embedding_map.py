"""The Embedding map of ``calm embed`` outputs, coloured by cue SI and by choice SI (one row each).

Same colours as the Embedding-map dock (``coolwarm``, symmetric around 0)::

    calm embed sim/task11 --out emb11.npz        # UMAP of state_loadings (the default)
    python benchmarks/embedding_map.py emb11.npz emb12.npz \
        --out docs/screenshots/embedding_map_task.png
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("npz", nargs="+", type=Path, help="calm embed --out files")
    parser.add_argument("--out", type=Path, required=True, help="PNG to write")
    args = parser.parse_args()
    fig, axes = plt.subplots(
        len(args.npz), 2, figsize=(8, 3.6 * len(args.npz)), squeeze=False
    )
    for row, path in zip(axes, args.npz):
        with np.load(path) as z:
            info = json.loads(str(z["json"]))
            for ax, col in zip(row, ("cue", "choice")):
                si = z[f"si_{col}"]
                lim = float(np.abs(si).max()) or 1.0
                pts = ax.scatter(*z["coords"].T, c=si, cmap="coolwarm", vmin=-lim, vmax=lim, s=16)
                ax.set_title(f"{path.stem}: {info['method']} of {info['primary']}", fontsize=9)
                ax.set_xticks([])
                ax.set_yticks([])
                fig.colorbar(pts, ax=ax, fraction=0.05).set_label(f"{col} SI", fontsize=8)
    fig.tight_layout()
    fig.savefig(args.out, dpi=80)


if __name__ == "__main__":
    main()
