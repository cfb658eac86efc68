"""``results.json`` and ``results.md`` of a benchmark run, in the CalM paper's table layout.

The markdown has one table per metric — correlation ×100 (the paper's
headline), MSE and the prediction score — with one row per model and one
column per dataset (Simulation | Task sim | Single-session (Triplett) | user
data), cells ``mean ± sd`` over seeds, the best model of each column in bold.
"""

from __future__ import annotations

import json
import math
import os
import platform
from pathlib import Path
from typing import Any

from src_models.bench.runner import BenchResults
from src_models.outputs import json_safe, write_atomic

#: (summary key, title, scale, digits, higher is better)
_CORR = "Correlation ×100 (per-neuron Pearson r pooled over test windows and horizon, mean over neurons)"
TABLES = (
    ("corr", _CORR, 100.0, 2, True),
    ("mse", "MSE (z-scored units)", 1.0, 4, False),
    ("prediction_score", "Prediction score (1 − MSE / MSE of copy-last)", 1.0, 3, True),
)


def machine_description() -> str:
    """One line: CPU cores, memory, GPU (if any), torch threads."""
    import torch

    mem = ""
    try:
        pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        mem = f", {pages / 2**30:.0f} GB"
    except (ValueError, OSError, AttributeError):
        pass
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return (
        f"{os.cpu_count()}-core CPU{mem}, {gpu}, torch {torch.__version__.split('+')[0]} "
        f"({torch.get_num_threads()} threads), {platform.system()}"
    )


def results_json(results: BenchResults, meta: dict[str, Any]) -> dict[str, Any]:
    """The ``results.json`` object: meta, datasets, rows, summary, notes."""
    return json_safe(
        {
            "meta": meta,
            "datasets": results.datasets,
            "rows": results.rows,
            "summary": results.summary(),
            "notes": results.notes,
        }
    )


def _fmt(mean: float | None, sd: float | None, scale: float, digits: int, n: int) -> str:
    if mean is None or not math.isfinite(mean):
        return "—"
    text = f"{mean * scale:.{digits}f}"
    if n > 1 and sd is not None and math.isfinite(sd):
        text += f" ± {sd * scale:.{digits}f}"
    return text


def markdown_tables(summary: list[dict[str, Any]], columns: list[str]) -> str:
    """The three metric tables (rows = models in run order, columns = datasets)."""
    models: dict[str, str] = {}
    for s in summary:
        models.setdefault(s["model"], s["label"])
    cell = {(s["model"], s["column"]): s for s in summary}
    parts = []
    for key, title, scale, digits, higher in TABLES:
        best: dict[str, str] = {}
        for col in columns:
            cands = [
                (s[key], m)
                for (m, c), s in cell.items()
                if c == col and s.get(key) is not None and math.isfinite(s[key]) and s.get("family") != "naive"
            ]
            if cands:
                best[col] = (max if higher else min)(cands)[1]
        lines = [
            f"### {title}",
            "",
            "| Model | " + " | ".join(columns) + " |",
            "|---|" + "---|" * len(columns),
        ]
        for model, label in models.items():
            cells = []
            for col in columns:
                s = cell.get((model, col))
                sd = None if s is None else s.get(f"{key}_sd")
                text = "—" if s is None else _fmt(s.get(key), sd, scale, digits, s["n_seeds"])
                cells.append(f"**{text}**" if best.get(col) == model else text)
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
        parts.append("\n".join(lines))
    return "\n\n".join(parts)


def _budget_line(b: dict[str, Any]) -> str:
    """One sentence describing a :meth:`Budget.describe` dict."""
    return (
        f"AdamW, {b.get('steps')} steps max, batch {b.get('batch_size')} windows "
        f"(≤ {b.get('max_neurons')} neurons), lr grid {b.get('lr_grid')} chosen on validation "
        f"(first seed), validation every {b.get('eval_every')} steps, early stop after "
        f"{b.get('patience')} checks without gain"
    )


def results_markdown(results: BenchResults, meta: dict[str, Any]) -> str:
    """The whole ``results.md``: header, metric tables, cost table, notes."""
    summary = results.summary()
    columns = list(dict.fromkeys(d["column"] for d in results.datasets))
    b = meta.get("budget", {})
    head = [
        "## Forecasting benchmark results",
        "",
        f"- command: `{meta.get('command', '')}`",
        f"- date: {meta.get('date', '')}; machine: {meta.get('machine', '')}",
        (
            "- protocol: per recording 60/20/20 split in time, z-scored with training statistics, "
            f"context {meta.get('context')} → horizon {meta.get('horizon')}, windows at stride 1 "
            f"inside each split; seeds: {meta.get('seeds')} (cells: mean ± sd)"
        ),
        f"- deep models: {_budget_line(b)}",
        f"- CalM fine-tuning: {_budget_line(meta.get('foundation_budget') or b)}",
        "",
        "Datasets: "
        + "; ".join(
            f"{d['column']} = {d['name']} ({d['n_neurons']} neurons × {d['n_frames']} frames, "
            f"{d['windows']['test']} test windows)"
            for d in results.datasets
        ),
        "",
        markdown_tables(summary, columns),
        "",
        "### Cost",
        "",
        "| Model | Dataset | Parameters | Train time (s, mean over seeds) |",
        "|---|---|---|---|",
    ]
    head += [
        f"| {s['label']} | {s['column']} | {s['n_params']:,} | {s['train_time_s']:.1f} |"
        for s in summary
    ]
    if results.notes:
        head += ["", "### Notes", ""] + [f"- {n}" for n in results.notes]
    return "\n".join(head) + "\n"


def write_results(out_dir: str | Path, results: BenchResults, meta: dict[str, Any]) -> tuple[Path, Path]:
    """Write ``results.json`` and ``results.md`` into ``out_dir`` (atomically); return both paths."""
    out = Path(out_dir)
    pj, pm = out / "results.json", out / "results.md"
    out.mkdir(parents=True, exist_ok=True)
    write_atomic(pj, json.dumps(results_json(results, meta), indent=1) + "\n")
    write_atomic(pm, results_markdown(results, meta))
    return pj, pm
