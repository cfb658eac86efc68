"""The ``calm`` dispatcher: help, unknown command, error contract."""

from __future__ import annotations

import subprocess
import sys

import pytest

from napari_calm.cli.main import COMMANDS, build_parser, main
from napari_calm.cli.options import settings_from
from napari_calm.extraction.settings import ExtractionSettings
from src_models.settings import DecodeSettings, EmbedSettings, FinetuneSettings, PretrainSettings


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


@pytest.mark.parametrize(
    ("command", "cls", "argv"),
    [
        ("decode", DecodeSettings, ["rec", "--target", "x"]),
        ("embed", EmbedSettings, ["rec", "--out", "e.npz"]),
        ("finetune", FinetuneSettings, ["rec", "--out", "ft"]),
        ("pretrain", PretrainSettings, ["--out", "pt"]),
        ("extract", ExtractionSettings, ["movie.tif", "--out", "x"]),
    ],
)
def test_options_are_the_settings_fields(command, cls, argv):
    """Every settings field is an option whose default is the dataclass's, so the CLI cannot drift."""
    args = build_parser(only=command).parse_args([command, *argv])
    assert settings_from(args, cls) == cls()


@pytest.mark.parametrize(
    "argv",
    [
        ["decode", "rec", "--target", "x", "--folds", "1"],
        ["decode", "rec", "--target", "x", "--readouts", "nope"],
        ["embed", "rec", "--out", "e.npz", "--perm", "-1"],
        ["finetune", "rec", "--out", "ft", "--steps", "0"],
        ["pretrain", "--out", "pt", "--max-steps", "0"],
        ["pretrain", "--out", "pt", "--fs", "-1"],
        ["forecast", "rec", "--out", "f.npz", "--dff", "bogus"],
        ["forecast", "rec", "--out", "f.npz", "--steps", "-3"],
        ["forecast", "rec", "--out", "f.npz", "--horizon", "0"],
        ["forecast", "rec", "--out", "f.npz", "--strategy", "bogus"],
        ["forecast", "rec", "--out", "f.npz", "--budget-s", "0"],
        ["tokenize", "rec", "--out", "t.npz", "--batch-windows", "0"],
    ],
)
def test_bad_settings_are_one_error_line(argv, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1
    assert not any(tmp_path.iterdir())
