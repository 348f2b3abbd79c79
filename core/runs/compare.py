"""Runs as tables: the runs table and its filters, and the comparison of several runs, as plain data.

The Runs page draws these (workbench/ui/compare.py builds the figures from them); they hold every
rule of what a run is judged by, which value is its best, and which settings tell runs apart.
"""
from __future__ import annotations

import json
import logging
import math
from datetime import datetime
from typing import Any, Iterable, Mapping, Sequence

import pandas as pd

from core.config import config_diff
from core.errors import ConfigError, WorkbenchError
from core.models import resolve_params
from core.numbers import finite_or_none
from core.runs.store import RunRecord, RunStore
from core.vocab import METRIC_DIRECTION, SCORE_METRICS, primary_metric

log = logging.getLogger(__name__)

TABLE_COLUMNS = ("name", "status", "dataset", "model", "metric", "best_val", "test", "duration_s", "device", "ran_on",
                 "created", "started_from", "tags", "run_id")
CURVE_SPLITS = ("train", "val")


# --- the runs table ------------------------------------------------------------------
def run_metric(run: RunRecord) -> str | None:
    """The metric the run is judged by: its task's primary metric or, for a run whose task is not known
    (an old record, a queued run left to infer it), the primary metric its recorded metrics hold."""
    if run.task:
        try:
            return primary_metric(run.task)
        except ConfigError:
            return None
    recorded = run.metrics.get("test") or run.metrics.get("val") or {}
    for task in ("regression", "multiclass"):
        if primary_metric(task) in recorded:
            return primary_metric(task)
    return None


def parent_of(run: RunRecord) -> str | None:
    """The run whose weights this run started from (RunConfig.init.from_run), if any."""
    init = run.config.get("init") or {}
    return init.get("from_run") if isinstance(init, Mapping) else None


def lineage(runs: Sequence[RunRecord], run_id: str) -> tuple[list[RunRecord], list[RunRecord]]:
    """(ancestors, oldest first; the runs started from this one), by init.from_run. A parent that was
    deleted ends the chain; a loop (a hand-edited config) is cut where it closes."""
    by_id = {r.run_id: r for r in runs}
    ancestors: list[RunRecord] = []
    seen = {run_id}
    current = by_id.get(run_id)
    while current is not None:
        parent = parent_of(current)
        if parent is None or parent in seen or parent not in by_id:
            break
        seen.add(parent)
        current = by_id[parent]
        ancestors.insert(0, current)
    children = [r for r in runs if parent_of(r) == run_id]
    return ancestors, sorted(children, key=lambda r: r.created_at)


def best_vals(spans: pd.DataFrame | None) -> dict[tuple[str, str], float]:
    """(run_id, metric) -> best validation value over the epochs, from store.metric_spans."""
    if spans is None or spans.empty:
        return {}
    return {(row.run_id, row.name): float(row.min if METRIC_DIRECTION.get(row.name) == "min" else row.max)
            for row in spans.itertuples(index=False) if row.min is not None and row.min == row.min}


def ran_on(run: RunRecord) -> str:
    """Where and how the run trained: 'gpu-2 · ray', 'laptop · cli', 'laptop · local' (the app's worker).
    A run recorded before hosts were kept ran on the machine of its SQLite file: just 'local'."""
    how = run.executor or "local"
    return f"{run.host} \u00b7 {how}" if run.host else how


def runs_frame(runs: Sequence[RunRecord], spans: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per run, newest first as given: what the table shows and filters on.

    `spans` (store.metric_spans of the validation split) gives the best validation value per run,
    live for running runs; without it the summary's validation value is used.
    """
    bests = best_vals(spans)
    names = {r.run_id: r.name for r in runs}
    rows = []
    for run in runs:
        parent = parent_of(run)
        metric = run_metric(run)
        val = bests.get((run.run_id, metric)) if metric else None
        if val is None and metric:
            val = finite_or_none(run.metrics.get("val", {}).get(metric))
        rows.append({
            "name": run.name,
            "dataset": run.dataset or "",
            "model": run.model or "",
            "status": run.status,
            "metric": metric or "",
            "best_val": val,
            "test": finite_or_none(run.metrics.get("test", {}).get(metric)) if metric else None,
            "duration_s": finite_or_none(run.summary.get("duration_s", run.duration_s)),
            "device": run.device or "",
            "ran_on": ran_on(run),
            "created": datetime.fromtimestamp(run.created_at),
            "started_from": names.get(parent, parent) if parent else "",
            "tags": list(run.tags),
            "run_id": run.run_id,
        })
    frame = pd.DataFrame(rows, columns=list(TABLE_COLUMNS))
    for col in ("best_val", "test", "duration_s"):
        frame[col] = pd.to_numeric(frame[col], errors="coerce").astype("float64")
    return frame


def filter_runs(frame: pd.DataFrame, statuses: Iterable[str] = (), datasets: Iterable[str] = (),
                models: Iterable[str] = (), text: str = "") -> pd.DataFrame:
    """Rows matching every filter given; empty filters match all. Text matches name, id, tags, data, model."""
    keep = pd.Series(True, index=frame.index)
    for column, wanted in (("status", statuses), ("dataset", datasets), ("model", models)):
        wanted = list(wanted)
        if wanted:
            keep &= frame[column].isin(wanted)
    words = text.lower().split()
    if words:
        haystack = (frame["name"] + " " + frame["run_id"] + " " + frame["dataset"] + " " + frame["model"] + " "
                    + frame["tags"].map(" ".join)).str.lower()
        for word in words:
            keep &= haystack.str.contains(word, regex=False)
    return frame[keep].reset_index(drop=True)


def parse_tags(text: str) -> list[str]:
    """'best, iris,,best' -> ['best', 'iris']: split on commas, trimmed, empty and repeated tags dropped."""
    return list(dict.fromkeys(t.strip() for t in text.split(",") if t.strip()))


def run_labels(runs: Sequence[RunRecord]) -> dict[str, str]:
    """run_id -> a unique, readable label (the name; the id is added where two names clash)."""
    counts: dict[str, int] = {}
    for run in runs:
        counts[run.name] = counts.get(run.name, 0) + 1
    return {run.run_id: run.name if counts[run.name] == 1 else f"{run.name} ({run.run_id})" for run in runs}


# --- one run's saved evaluation ------------------------------------------------------
def load_evaluation(store: RunStore, run_id: str) -> dict[str, Any] | None:
    """The run's evaluation.json (test-split curves and tables), or None when it has none (not finished)
    or it cannot be read."""
    try:
        path = store.artifact_path(run_id, "evaluation") or store.run_dir(run_id) / "evaluation.json"
        if not path.is_file():
            return None
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, WorkbenchError):
        log.warning("could not read the evaluation of run %s", run_id, exc_info=True)
        return None


# --- learning curves -----------------------------------------------------------------
def curve_metrics(history: pd.DataFrame) -> list[str]:
    """Metrics logged per epoch for train or val: loss first, then the scores (accuracy, r2, ...)."""
    if history.empty:
        return []
    names = list(dict.fromkeys(history.loc[history["split"].isin(CURVE_SPLITS), "name"]))
    return sorted(names, key=lambda n: (n != "loss", n not in SCORE_METRICS, n))


# --- metrics comparison ------------------------------------------------------------
def metrics_long(runs: Sequence[RunRecord], split: str = "test") -> pd.DataFrame:
    """Long table run_id, run, metric, value of every finite metric the runs recorded for `split`."""
    labels = run_labels(runs)
    rows = [
        {"run_id": run.run_id, "run": labels[run.run_id], "metric": name, "value": float(value)}
        for run in runs
        for name, value in (run.metrics.get(split) or {}).items()
        if finite_or_none(value) is not None
    ]
    return pd.DataFrame(rows, columns=["run_id", "run", "metric", "value"])


def score_metrics(metrics: Iterable[str]) -> list[str]:
    """The scores among `metrics` (higher is better, 0..1-ish: they share one axis), in SCORE_METRICS' order."""
    present = set(metrics)
    return [m for m in SCORE_METRICS if m in present]


def metrics_table(runs: Sequence[RunRecord], split: str = "test") -> pd.DataFrame:
    """Metrics as rows, runs as columns (labels), in the runs' order: every number side by side."""
    long = metrics_long(runs, split)
    labels = list(run_labels(runs).values())
    if long.empty:
        return pd.DataFrame(columns=labels)
    wide = long.pivot_table(index="metric", columns="run", values="value", aggfunc="last", sort=False)
    order = [m for m in (*SCORE_METRICS, *METRIC_DIRECTION) if m in wide.index]
    order += [m for m in wide.index if m not in order]
    return wide.reindex(index=list(dict.fromkeys(order)), columns=[c for c in labels if c in wide.columns])


# --- config diff -------------------------------------------------------------------------
def config_diff_frame(runs: Sequence[RunRecord]) -> pd.DataFrame:
    """Only the settings that differ: one row per flattened key, one column per run, values as text.

    Model defaults are filled in first, so a run left at the default hidden sizes shows them rather than a
    blank; the run's name is left out (it heads the column).
    """
    labels = list(run_labels(runs).values())
    diff = config_diff([_with_defaults(run.config) for run in runs])
    rows = {key: [_cell(v) for v in values] for key, values in diff.items() if key != "name"}
    rows = {key: cells for key, cells in rows.items() if len(set(cells)) > 1}
    frame = pd.DataFrame(list(rows.values()), index=list(rows), columns=labels)
    frame.index.name = "setting"
    return frame


def _with_defaults(config: Mapping[str, Any]) -> dict[str, Any]:
    model = dict(config.get("model") or {})
    try:
        model["params"] = resolve_params(model.get("kind", "mlp"), model.get("params") or {})
    except ConfigError:
        pass  # an old or hand-edited config: diff it as stored
    return {**config, "model": model}


def _cell(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, str) and len(value) == 64 and all(c in "0123456789abcdef" for c in value):
        return value[:12] + "…"  # a sha256: its start tells two data files apart
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value)
    if isinstance(value, Mapping):
        return ", ".join(f"{k}={v}" for k, v in value.items()) or "–"
    return str(value)


# --- settings against a metric (parallel coordinates) ------------------------------------
def numeric_hyperparams(run: RunRecord) -> dict[str, float]:
    """The run's numeric settings, with layer lists as total units and depth (defaults filled in).

    The learning rate is given as log10: its values span decades, so an axis of it is read on a log scale.
    """
    config = run.config
    optim, train, data = config.get("optim", {}), config.get("train", {}), config.get("data", {})
    model = config.get("model", {})
    out: dict[str, Any] = {
        "lr": optim.get("lr"), "weight_decay": optim.get("weight_decay"), "l1": optim.get("l1"),
        "batch_size": train.get("batch_size"), "epochs": train.get("epochs"), "patience": train.get("patience"),
        "seed": train.get("seed"), "grad_clip": train.get("grad_clip"),
        "val_fraction": data.get("val_fraction"), "test_fraction": data.get("test_fraction"),
    }
    if optim.get("name") in ("sgd", "rmsprop"):
        out["momentum"] = optim.get("momentum")
    try:
        params = resolve_params(model.get("kind", "mlp"), model.get("params") or {})
    except ConfigError:
        params = dict(model.get("params") or {})
    if "hidden_sizes" in params:
        sizes = list(params["hidden_sizes"] or [])
        out["hidden_units"], out["depth"] = sum(sizes), len(sizes)
    if "channels" in params:
        channels = list(params["channels"] or [])
        out["channels"], out["conv_layers"] = sum(channels), len(channels)
    for key in ("dropout", "hidden"):
        if key in params:
            out[key] = params[key]
    if out.get("lr") and out["lr"] > 0:
        out["lr"] = math.log10(out["lr"])
    return {k: float(v) for k, v in out.items() if finite_or_none(v) is not None and not isinstance(v, bool)}


def parcoords_frame(runs: Sequence[RunRecord], metric: str, split: str = "test") -> pd.DataFrame:
    """One row per run that has `metric`: the numeric hyperparameters that vary, then the metric last."""
    rows, index = [], []
    labels = run_labels(runs)
    for run in runs:
        value = finite_or_none((run.metrics.get(split) or {}).get(metric))
        if value is None:
            continue
        rows.append({**numeric_hyperparams(run), metric: value})
        index.append(labels[run.run_id])
    frame = pd.DataFrame(rows, index=pd.Index(index, name="run"))
    if frame.empty:
        return frame
    settings = [c for c in frame.columns if c != metric and frame[c].notna().all() and frame[c].nunique() > 1]
    return frame[[*settings, metric]]


__all__ = [
    "TABLE_COLUMNS", "CURVE_SPLITS", "run_metric", "best_vals", "runs_frame", "filter_runs", "parse_tags",
    "run_labels", "load_evaluation", "curve_metrics", "metrics_long", "score_metrics", "metrics_table",
    "config_diff_frame", "numeric_hyperparams", "parcoords_frame",
]
