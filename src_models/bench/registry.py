"""Models by name: ``@register('poco')`` on a :class:`~src_models.bench.base.Forecaster` subclass.

The registry is filled when :mod:`src_models.bench.baselines` is imported
(every baseline module registers itself); :func:`get_model` and
:func:`known_models` import it on first use.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from src_models.errors import CalmError

if TYPE_CHECKING:
    from src_models.bench.base import Forecaster

_REGISTRY: dict[str, type[Forecaster]] = {}


def register(name: str) -> Callable[[type[Forecaster]], type[Forecaster]]:
    """Class decorator adding a forecaster under ``name`` (order of registration = table order)."""

    def deco(cls: type[Forecaster]) -> type[Forecaster]:
        if name in _REGISTRY and _REGISTRY[name] is not cls:
            raise ValueError(f"model name {name!r} registered twice")
        cls.name = name
        _REGISTRY[name] = cls
        return cls

    return deco


def _load() -> None:
    import src_models.bench.baselines  # noqa: F401  (registers every model)


def known_models() -> list[str]:
    """Registered model names, in table order."""
    _load()
    return list(_REGISTRY)


def get_model(name: str) -> type[Forecaster]:
    """The forecaster class registered as ``name``.

    Raises
    ------
    CalmError
        Unknown name; the message lists the known models.
    """
    _load()
    if name not in _REGISTRY:
        raise CalmError(f"unknown model {name!r}; known models: {', '.join(_REGISTRY)}")
    return _REGISTRY[name]


def parse_models(spec: str | None) -> list[str]:
    """``"a,b,c"`` → validated names (all models when ``spec`` is empty)."""
    if not spec:
        return known_models()
    names = [s.strip() for s in spec.split(",") if s.strip()]
    for n in names:
        get_model(n)
    if not names:
        raise CalmError(f"no model named in --models {spec!r}; known models: {', '.join(known_models())}")
    return names
