"""Build hook: ship the top-level ``resources/`` folder inside the wheel as ``napari_calm/resources``.

Editable installs read ``resources/`` straight from the checkout
(see :mod:`napari_calm.resources`), so nothing is copied for them.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py


class BuildPyWithResources(build_py):
    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return
        src = Path(__file__).resolve().parent / "resources"
        dst = Path(self.build_lib) / "napari_calm" / "resources"
        if dst.exists():
            shutil.rmtree(dst)
        shutil.copytree(src, dst, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))


setup(cmdclass={"build_py": BuildPyWithResources})
