"""The README's first command installs a Qt binding; without one ``calm view`` says what to do."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import re
import subprocess
import sys
import tomllib
from pathlib import Path

from packaging.requirements import Requirement

REPO = Path(__file__).resolve().parents[1]
QT_BINDINGS = {"pyqt6", "pyqt5", "pyside6", "pyside2"}


def readme_blocks() -> list[str]:
    """The ```bash blocks of README.md above its first section."""
    top = (REPO / "README.md").read_text().split("\n## ", 1)[0]
    return re.findall(r"```bash\n(.*?)```", top, flags=re.S)


def requirements(name: str, extras: set[str]) -> list[Requirement]:
    """The installed distribution ``name``'s requirements that apply with ``extras``."""
    reqs = [Requirement(text) for text in importlib.metadata.requires(name) or []]
    return [
        r for r in reqs if r.marker is None or any(r.marker.evaluate({"extra": e}) for e in extras)
    ]


def brings_qt(req: Requirement, seen: set[str] | None = None) -> bool:
    """Whether installing ``req`` installs a Qt binding (following extras through metadata)."""
    seen = set() if seen is None else seen
    key = f"{req.name.lower()}{sorted(req.extras)}"
    if key in seen:
        return False
    seen.add(key)
    if req.name.lower() in QT_BINDINGS:
        return True
    if not req.extras:
        return False
    return any(brings_qt(sub, seen) for sub in requirements(req.name, set(req.extras)))


def test_readme_has_exactly_two_setup_blocks_and_the_second_is_what_ci_runs():
    blocks = readme_blocks()
    assert len(blocks) == 2
    install, tests = (b.strip() for b in blocks)
    assert install.endswith("calm view")
    ci = (REPO / ".ci" / "run").read_text()
    assert tests in ci.splitlines()


def test_first_readme_command_installs_an_importable_qt_binding():
    install = readme_blocks()[0]
    match = re.search(r'pip install -e "\.\[([\w,-]+)\]"', install)
    assert match, f"the first README command installs no extra: {install!r}"
    extras = set(match.group(1).split(","))
    optional = tomllib.loads((REPO / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    reqs = [Requirement(r) for e in extras for r in optional[e]]
    qt = [r for r in reqs if brings_qt(r)]
    assert qt, f"extras {extras} bring no Qt binding: {[str(r) for r in reqs]}"
    assert any(importlib.util.find_spec(name) for name in ("PyQt6", "PyQt5", "PySide6", "PySide2"))


def test_calm_view_without_qt_ends_with_one_error_line():
    code = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, *a, **k):\n"
        "        if name.split('.')[0] in {'PyQt6', 'PyQt5', 'PySide6', 'PySide2'}:\n"
        "            raise ImportError('blocked ' + name)\n"
        "sys.meta_path.insert(0, Block())\n"
        "from napari_calm.cli.main import main\n"
        "sys.exit(main(['view']))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 2, proc.stderr[-2000:]
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: no Qt binding"), proc.stderr
    assert "napari-calm[all]" in lines[0]
