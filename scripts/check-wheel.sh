#!/usr/bin/env bash
# Build the wheel, install it into a fresh virtual environment (reusing the installed
# dependencies) and check that napari sees the plugin and its resources.
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python -m build --wheel --outdir "$work/dist" . >"$work/build.log" 2>&1 || { cat "$work/build.log"; exit 1; }
python -m venv --system-site-packages "$work/venv"
"$work/venv/bin/pip" install -q --no-deps --force-reinstall "$work"/dist/*.whl
cd "$work"
"$work/venv/bin/python" -m npe2 validate napari-calm
"$work/venv/bin/python" - <<'PY'
import napari_calm, napari_calm.resources as r
from pathlib import Path
pkg = Path(napari_calm.__file__).parent
assert "site-packages" in str(pkg), pkg
assert (pkg / "napari.yaml").is_file(), "manifest missing from wheel"
assert r.resources_dir() == pkg / "resources", r.resources_dir()
print("wheel OK:", pkg)
PY
