"""Plain functions behind the Runs page: the runs table, filters, and the comparison data and figures.

No Streamlit here, so every piece is tested without a browser; pages/runs.py only draws.
"""
from __future__ import annotations

import math
from datetime import datetime
from typing import Any, Iterable, Mapping, Sequence

import pandas as pd
import plotly.graph_objects as go
from plotly.colors import qualitative

from core.config import config_diff
from core.errors import ConfigError
from core.vocab import METRIC_DIRECTION, SCORE_METRICS, primary_metric
from core.models import resolve_params
from core.runs.store import RunRecord
from core.numbers import finite_or_none

COLORS = qualitative.Plotly  # the same run order gives the same colour as curves_figure
TABLE_COLUMNS = ("name", "status", "dataset", "model", "metric", "best_val", "test", "duration_s", "device",
                 "created", "tags", "run_id")
BEST_IS_BLUE = [[0.0, "#ef553b"], [0.5, "#ab63fa"], [1.0, "#1f3fbf"]]  # both ends readable on white
CURVE_SPLITS = ("train", "val")


# --- the runs table ------------------------------------------------------------------
def run_metric(run: RunRecord) -> str | None:
    """The run's primary metric (accuracy or r2), from its task or, failing that, its recorded metrics."""
    if run.task:
        try:
            return primary_metric(run.task)
        except ConfigError:
            return None
    test = run.metrics.get("test") or run.metrics.get("val") or {}
    return "r2" if "r2" in test else "accuracy" if "accuracy" in test else None


def _best_vals(spans: pd.DataFrame | None) -> dict[tuple[str, str], float]:
    """(run_id, metric) -> best validation value, from store.metric_spans."""
    if spans is None or spans.empty:
        return {}
    return {(row.run_id, row.name): float(row.min if METRIC_DIRECTION.get(row.name) == "min" else row.max)
            for row in spans.itertuples(index=False) if row.min is not None and row.min == row.min}


def runs_frame(runs: Sequence[RunRecord], spans: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per run, newest first as given: what the table shows and filters on.

    `spans` (store.metric_spans of the validation split) gives the best validation value per run,
    live for running runs; without it the summary's validation value is used.
    """
    bests = _best_vals(spans)
    rows = []
    for run in runs:
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
            "created": datetime.fromtimestamp(run.created_at),
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


def metrics_bar_figure(runs: Sequence[RunRecord], split: str = "test") -> go.Figure:
    """Grouped bars: one group per score metric (higher is better), one bar per run."""
    long = metrics_long(runs, split)
    long = long[long["metric"].isin(SCORE_METRICS)]
    fig = go.Figure()
    for i, (run_id, label) in enumerate(run_labels(runs).items()):
        part = long[long["run_id"] == run_id]
        part = part.set_index("metric").reindex([m for m in SCORE_METRICS if m in set(part["metric"])])
        fig.add_trace(go.Bar(
            x=[m.replace("_", " ") for m in part.index], y=part["value"].tolist(), name=label,
            marker_color=COLORS[i % len(COLORS)],
            hovertemplate=f"{label}<br>%{{x}}: %{{y:.4f}}<extra></extra>",
        ))
    fig.update_layout(
        barmode="group", title={"text": f"{split.capitalize()} scores (higher is better)"},
        xaxis_title="Metric", yaxis_title="Score", template="plotly_white", height=380,
        margin={"l": 60, "r": 20, "t": 50, "b": 50}, legend={"title": {"text": "Run"}},
    )
    return fig


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


# --- parallel coordinates -------------------------------------------------------------
# Hyperparameter -> axis label. Learning rate goes on a log axis: its values span decades.
HYPERPARAM_LABELS = {
    "lr": "learning rate (log scale)", "weight_decay": "weight decay", "l1": "L1", "momentum": "momentum",
    "batch_size": "batch size", "epochs": "epochs", "patience": "patience", "seed": "seed",
    "dropout": "dropout", "hidden_units": "hidden units", "depth": "hidden layers",
    "val_fraction": "val fraction", "test_fraction": "test fraction", "grad_clip": "grad clip",
    "channels": "conv filters", "conv_layers": "conv layers", "hidden": "dense size",
}


def numeric_hyperparams(run: RunRecord) -> dict[str, float]:
    """The run's numeric settings, with layer lists as total units and depth (defaults filled in)."""
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


def parcoords_figure(frame: pd.DataFrame, metric: str) -> go.Figure:
    dims = []
    for column in frame.columns:
        values = frame[column].astype(float)
        dim: dict[str, Any] = {"label": HYPERPARAM_LABELS.get(column, column.replace("_", " ")),
                               "values": values.tolist()}
        if column == "lr":  # show the real learning rates on the log axis
            ticks = sorted(set(values.round(6)))
            dim["tickvals"], dim["ticktext"] = ticks, [f"{10 ** t:.2g}" for t in ticks]
        dims.append(dim)
    direction = METRIC_DIRECTION.get(metric, "max")
    scores = frame[metric].astype(float).tolist() if metric in frame else []
    # the last axis already reads the metric: the line colour repeats it without a colour bar
    fig = go.Figure(go.Parcoords(
        line={"color": scores, "colorscale": BEST_IS_BLUE, "reversescale": direction == "min", "showscale": False},
        dimensions=dims, labelangle=0, labelside="top",
    ))
    fig.update_layout(template="plotly_white", height=420, margin={"l": 80, "r": 80, "t": 110, "b": 30},
                      title={"text": f"Settings against test {metric}", "y": 0.97})
    return fig


__all__ = [
    "TABLE_COLUMNS", "SCORE_METRICS", "run_metric", "runs_frame", "filter_runs", "parse_tags",
    "run_labels", "curve_metrics", "metrics_long", "metrics_table", "metrics_bar_figure", "config_diff_frame",
    "numeric_hyperparams", "parcoords_frame", "parcoords_figure",
]
