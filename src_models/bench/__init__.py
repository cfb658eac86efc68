"""Forecasting benchmark: CalM against the baselines on identical windows and metrics.

* :mod:`~src_models.bench.windows` — split / z-score / window one recording;
* :mod:`~src_models.bench.base` — the :class:`Forecaster` interface;
* :mod:`~src_models.bench.registry` — models by name (``@register('poco')``);
* :mod:`~src_models.bench.baselines` — one module per model family;
* :mod:`~src_models.bench.training` — the shared optimiser budget rule;
* :mod:`~src_models.bench.datasets` — the suites' datasets and ``--data`` files;
* :mod:`~src_models.bench.runner` — datasets × models × seeds → rows;
* :mod:`~src_models.bench.report` — ``results.json`` and ``results.md``.
"""
