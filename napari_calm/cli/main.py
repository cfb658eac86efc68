"""Entry point of the ``calm`` command.

Each subcommand lives in its own module ``napari_calm.cli.<name>`` that
defines ``add_arguments(parser)`` and ``run(args) -> int``. Modules are
imported only when their command runs, so ``calm --help`` stays fast.

Every :class:`~src_models.errors.CalmError` (bad input) becomes one line
``error: ...`` on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from typing import NoReturn

#: subcommand -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "info": ("napari_calm.cli.info", "describe what a recording holds"),
    "simulate": ("napari_calm.cli.simulate", "generate a synthetic recording with ground truth"),
    "view": ("napari_calm.cli.view", "open napari with the CalM docks and a recording"),
    "train-nq": ("napari_calm.cli.train_nq", "train the NQ tokenizer"),
    "tokenize": ("napari_calm.cli.tokenize", "tokenize a recording with NQ"),
    "pretrain": ("napari_calm.cli.pretrain", "pretrain the dual-axis Transformer"),
    "finetune": ("napari_calm.cli.finetune", "adapt CalM to a new recording"),
    "forecast": ("napari_calm.cli.forecast", "forecast population activity"),
    "bench": ("napari_calm.cli.bench", "CalM against the forecasting baselines"),
    "decode": ("napari_calm.cli.decode", "decode behaviour from population activity"),
    "embed": ("napari_calm.cli.embed", "neuron embeddings and cue/choice tuning"),
    "extract": ("napari_calm.cli.extract", "movie -> ROIs and traces with suite2p"),
}


class _Parser(argparse.ArgumentParser):
    """argparse that reports usage errors as one line ``error: ...`` with status 2 (no usage block)."""

    def error(self, message: str) -> NoReturn:
        """Print ``error: <message>`` on stderr and exit with status 2."""
        self.exit(2, f"error: {' '.join(message.split())}\n")


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The full parser (or, with ``only``, the parser with one subcommand wired)."""
    parser = _Parser(prog="calm", description="CalM for calcium imaging (napari-calm).")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (module, help_) in COMMANDS.items():
        p = sub.add_parser(name, help=help_, description=help_)
        if only == name:
            importlib.import_module(module).add_arguments(p)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``calm``; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    name = next((a for a in argv if not a.startswith("-")), None)
    parser = build_parser(only=name if name in COMMANDS else None)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:   # usage errors (one line, status 2) and --help (status 0)
        return exc.code if isinstance(exc.code, int) else 2
    from src_models.errors import CalmError
    from src_models.outputs import release_outputs

    module = importlib.import_module(COMMANDS[args.command][0])
    try:
        return int(module.run(args) or 0)
    except CalmError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    finally:
        release_outputs()


if __name__ == "__main__":
    sys.exit(main())
