"""Every benchmarked model, one module per family.

Importing this package imports the modules in :data:`MODULES` order; each
registers its models (``@register``), so that order is the order of the rows
in the result tables.
"""

from __future__ import annotations

import importlib

#: model modules, in table order: naive, linear, deep channel-independent, channel-mixing, CalM
MODULES = ("naive", "linear", "ridge", "mlp", "tcn", "patchtst", "itransformer", "poco", "calm")

for _name in MODULES:
    importlib.import_module(f"{__name__}.{_name}")
