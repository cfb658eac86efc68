"""Packaging invariants: the manifest npe2 reads, the engine's independence from Qt, resources."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]


def test_packaged_manifest_is_the_root_manifest():
    assert (REPO / "napari_calm" / "napari.yaml").read_bytes() == (REPO / "napari.yaml").read_bytes()


def test_manifest_names_the_distribution_and_importable_commands():
    import importlib

    manifest = yaml.safe_load((REPO / "napari.yaml").read_text())
    assert manifest["name"] == "napari-calm"
    for cmd in manifest["contributions"]["commands"]:
        module, attr = cmd["python_name"].split(":")
        assert hasattr(importlib.import_module(module), attr), cmd["python_name"]


def test_npe2_validates_the_installed_plugin():
    proc = subprocess.run(
        [sys.executable, "-m", "npe2", "validate", "napari-calm"], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_engine_imports_without_qt_or_napari():
    code = (
        "import sys, importlib, pkgutil\n"
        "class Block:\n"
        "    def find_spec(self, name, *a, **k):\n"
        "        if name.split('.')[0] in {'qtpy','PyQt6','PyQt5','PySide6','napari','napari_calm'}:\n"
        "            raise ImportError('blocked ' + name)\n"
        "sys.meta_path.insert(0, Block())\n"
        "import src_models\n"
        "for m in pkgutil.walk_packages(src_models.__path__, 'src_models.'):\n"
        "    importlib.import_module(m.name)\n"
        "print('ok')\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 0 and "ok" in proc.stdout, proc.stderr[-2000:]


def test_package_import_is_light():
    code = "import sys, napari_calm; print(sorted({'torch','napari','umap','suite2p'} & set(sys.modules)))"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.stdout.strip() == "[]", proc.stdout + proc.stderr


def test_resources_resolve_in_the_checkout():
    from napari_calm.resources import resource, resources_dir

    assert resources_dir() == REPO / "resources"
    assert resource("README.md").is_file()
