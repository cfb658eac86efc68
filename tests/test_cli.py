"""The ``calm`` dispatcher: help, unknown command, error contract."""

from __future__ import annotations

import subprocess
import sys

from napari_calm.cli.main import COMMANDS, main


def test_help_lists_every_command(capsys):
    try:
        main(["--help"])
    except SystemExit as exc:
        assert exc.code == 0
    out = capsys.readouterr().out
    for name in COMMANDS:
        assert name in out


def test_unknown_command_exits_2():
    proc = subprocess.run(
        [sys.executable, "-m", "napari_calm.cli.main", "no-such-command"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    assert "invalid choice" in proc.stderr
