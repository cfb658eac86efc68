"""Command-line options generated from the engine's settings dataclasses, and the model options.

Every field of a settings dataclass (:mod:`src_models.settings`) becomes ``--field-name`` with
the field's type, default and ``metadata`` (``help``, ``metavar``, ``choices``; ``type`` when the
default is ``None``; a ``False`` default is a flag), so the CLI and the docks read one set of
defaults. :func:`add_model_options` declares ``--checkpoint`` and ``--device`` once for every
command that runs the model.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import Any, TypeVar

S = TypeVar("S")


def add_settings(parser: argparse.ArgumentParser, cls: type, *, skip: tuple[str, ...] = ()) -> None:
    """Add one option per field of the settings dataclass ``cls`` (except ``skip``)."""
    for f in dataclasses.fields(cls):
        if f.name in skip:
            continue
        kwargs: dict[str, Any] = {"default": f.default, "dest": f.name}
        if f.default is False:
            kwargs["action"] = "store_true"
        else:
            kwargs["type"] = f.metadata.get("type", type(f.default))
        kwargs.update({k: v for k, v in f.metadata.items() if k in ("help", "metavar", "choices")})
        parser.add_argument("--" + f.name.replace("_", "-"), **kwargs)


def settings_from(args: argparse.Namespace, cls: type[S], **overrides: Any) -> S:
    """The settings dataclass ``cls`` from parsed options (fields not on the command line keep defaults)."""
    values = {f.name: getattr(args, f.name) for f in dataclasses.fields(cls) if hasattr(args, f.name)}
    return cls(**{**values, **overrides})


def add_model_options(parser: argparse.ArgumentParser) -> None:
    """``--checkpoint`` and ``--device``."""
    parser.add_argument("--checkpoint", type=Path, metavar="DIR", help="CalM checkpoint (default: the shipped model)")
    parser.add_argument("--device", default="auto", help="cpu, cuda or auto (default)")
