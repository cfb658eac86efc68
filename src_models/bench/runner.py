"""Datasets × models × seeds → one row of metrics per run.

Every model sees the same windows of a dataset (:func:`make_windows`): fitted
on training, selected on validation, evaluated once on test. A learning rate
chosen on the first seed is reused for the other seeds.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from src_models.bench.datasets import Source
from src_models.bench.registry import get_model, known_models
from src_models.bench.training import Budget
from src_models.bench.windows import BenchData, make_windows
from src_models.device import resolve_device
from src_models.metrics import forecast_metrics

#: metrics summarised as mean, SEM and standard deviation over seeds
SUMMARY_METRICS = ("corr", "corr_median", "mse", "mae", "r2", "prediction_score")


@dataclass
class BenchResults:
    """Everything a benchmark run produced.

    Attributes
    ----------
    rows : list of dict
        One per dataset × model × seed (see :func:`run_model`).
    datasets : list of dict
        :meth:`BenchData.describe` of every dataset, with its table column.
    notes : list of str
        Skipped datasets or models and why.
    """

    rows: list[dict[str, Any]] = field(default_factory=list)
    datasets: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def summary(self) -> list[dict[str, Any]]:
        """Mean, SEM and sd over seeds of every metric, per dataset × model (row order kept)."""
        groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for r in self.rows:
            groups.setdefault((r["dataset"], r["model"]), []).append(r)
        out = []
        for (ds, model), rows in groups.items():
            entry: dict[str, Any] = {
                "dataset": ds,
                "column": rows[0]["column"],
                "model": model,
                "label": rows[0]["label"],
                "family": rows[0]["family"],
                "n_seeds": len(rows),
                "n_params": rows[0]["n_params"],
                "train_time_s": float(np.mean([r["train_time_s"] for r in rows])),
            }
            for m in SUMMARY_METRICS:
                v = np.array([r[m] for r in rows], float)
                entry[m] = float(np.mean(v))
                entry[f"{m}_sd"] = float(np.std(v, ddof=1)) if len(v) > 1 else 0.0
                entry[f"{m}_sem"] = entry[f"{m}_sd"] / np.sqrt(len(v))
            steps = np.array([r["corr_per_step"] for r in rows], float)
            entry["corr_per_step"] = [float(x) for x in steps.mean(0)]
            out.append(entry)
        return out


def run_model(
    name: str, data: BenchData, budget: Budget, seed: int, device: str | None,
    options: dict[str, Any] | None = None,
) -> tuple[dict[str, Any], Any]:
    """Fit model ``name`` (constructor ``options``) on ``data`` with ``seed``; return its row and fit report."""
    cls = get_model(name)
    shape = dict(context=data.context, horizon=data.horizon, n_neurons=data.n_neurons, fs=data.fs)
    model = cls(**shape, device=device, **(options or {}))
    t0 = time.perf_counter()
    report = model.fit(data.train, data.val, budget, seed)
    t1 = time.perf_counter()
    pred = model.predict(data.test.contexts())
    t2 = time.perf_counter()
    metrics = forecast_metrics(pred, data.test.targets(), data.test.last())
    row = {
        "dataset": data.name,
        "model": name,
        "label": cls.label,
        "family": cls.family,
        "seed": int(seed),
        "context": data.context,
        "horizon": data.horizon,
        "n_neurons": data.n_neurons,
        "n_test_windows": len(data.test),
        **metrics,
        "n_params": int(model.n_params),
        "train_time_s": round(t1 - t0, 3),
        "predict_time_s": round(t2 - t1, 3),
        "device": str(model.device),
        "lr": report.lr,
        "val_mse": report.val_mse,
        "steps": report.steps,
        "selected": report.selected,
    }
    return row, report


def run_benchmark(
    sources: Sequence[Source],
    models: Sequence[str],
    *,
    seeds: int = 3,
    budget: Budget,
    foundation_budget: Budget | None = None,
    context: int = 48,
    horizon: int = 16,
    device: str | None = None,
    model_options: dict[str, dict[str, Any]] | None = None,
    previous: Sequence[dict[str, Any]] = (),
    on_progress: Callable[[BenchResults], None] | None = None,
    log: Callable[[str], None] = lambda s: None,
) -> BenchResults:
    """Run every model on every dataset for ``seeds`` seeds.

    Parameters
    ----------
    sources : sequence of Source
        Datasets (loaded one at a time).
    models : sequence of str
        Registered model names.
    seeds : int
        Seeds per model (deterministic models are fitted once and reported per seed).
    budget : Budget
        Training budget of every gradient-trained model.
    foundation_budget : Budget, optional
        Budget of the ``foundation`` family (CalM fine-tuning) instead of ``budget``.
    context, horizon : int
        Window layout.
    device : str, optional
        Torch device for every model (``None``/``'auto'``: CUDA when available).
    model_options : dict, optional
        Extra constructor arguments per model name (e.g. ``{"calm": {"checkpoint": path}}``).
    previous : sequence of dict
        Rows of an earlier (interrupted or partial) run with the same settings:
        a dataset × model × seed found there is reused instead of trained again
        (its learning rate is reused for the following seeds); see also
        :func:`merge_results`.
    on_progress : callable, optional
        Called with the results so far after every row (e.g. to save them).
    log : callable
        Receives one progress line per run.

    Returns
    -------
    BenchResults
    """
    res = BenchResults()
    dev = str(resolve_device(device))
    done = {(r["dataset"], r["model"], r["seed"]): r for r in previous}
    for src in sources:
        rec = src.load()
        traces = src.traces(rec)
        data = make_windows(
            traces, name=src.key, fs=rec.fs, context=context, horizon=horizon, source=str(rec.source),
            info=dict(src.info),
        )
        res.datasets.append({"column": src.column, **data.describe()})
        log(
            f"{src.key}: {data.n_neurons} neurons, {data.n_frames} frames, "
            f"windows train/val/test {len(data.train)}/{len(data.val)}/{len(data.test)}"
        )
        for name in models:
            cls = get_model(name)
            options = (model_options or {}).get(name, {})
            why = cls.unavailable(**options)
            if why:
                note = f"{name}: skipped, {why}"
                if note not in res.notes:
                    res.notes.append(note)
                log(f"  {name}: skipped ({why})")
                continue
            base = foundation_budget if foundation_budget and cls.family == "foundation" else budget
            run_budget = base
            first: dict[str, Any] | None = None
            for seed in range(seeds):
                if (src.key, name, seed) in done:
                    row = dict(done[(src.key, name, seed)])
                    if row.get("lr") is not None:
                        run_budget = base.with_lr(row["lr"])
                elif cls.deterministic and first is not None:
                    row = dict(first, seed=seed)
                else:
                    row, report = run_model(name, data, run_budget, seed, dev, options)
                    if report.lr is not None:
                        run_budget = base.with_lr(report.lr)
                row["column"] = src.column
                first = first or row
                res.rows.append(row)
                if on_progress is not None:
                    on_progress(res)
                log(
                    f"  {name:14s} seed {seed}: corr {100 * row['corr']:6.2f}  mse {row['mse']:.4f}  "
                    f"ps {row['prediction_score']:+.3f}  ({row['train_time_s']:.1f} s)"
                )
    return res


def merge_results(
    res: BenchResults, rows: Sequence[dict[str, Any]], datasets: Sequence[dict[str, Any]]
) -> BenchResults:
    """``res`` plus the ``rows`` and ``datasets`` of an earlier run that ``res`` does not redo.

    Rows are ordered by dataset (this run's first), model (table order) and seed.
    """
    keys = {(r["dataset"], r["model"], r["seed"]) for r in res.rows}
    names = [d["name"] for d in res.datasets]
    extra_ds = [d for d in datasets if d["name"] not in names]
    ds_order = {n: i for i, n in enumerate(names + [d["name"] for d in extra_ds])}
    order = {m: i for i, m in enumerate(known_models())}
    merged = list(res.rows) + [r for r in rows if (r["dataset"], r["model"], r["seed"]) not in keys]
    merged.sort(
        key=lambda r: (ds_order.get(r["dataset"], len(ds_order)), order.get(r["model"], len(order)), r["seed"])
    )
    return BenchResults(merged, list(res.datasets) + extra_ds, list(res.notes))
