"""The monitoring report of a served run, and the same checks on a batch of new rows.

From the prediction log (core.lifecycle.recorder): traffic, latency, what the model predicts against
what it saw in training, input drift per column against the training rows (core.lifecycle.drift),
and, for the predictions whose labels came back through POST /feedback, live metrics beside the
run's test metrics. All plain data: `workbench monitor RUN --json` prints it, the Monitor page draws it.
"""
from __future__ import annotations

import time
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import accuracy_score, mean_absolute_error, r2_score, root_mean_squared_error

from core.data import Catalog
from core.lifecycle.drift import drift_report, psi
from core.lifecycle.recorder import PredictionLog, monitor_path
from core.lifecycle.run_data import RunData, load_run_data
from core.numbers import finite_or_none
from core.runs.store import RunStore
from core.vocab import is_classification

INPUTS_NOTE = "input drift compares the columns of a table; {kind} inputs are not compared yet"


def training_rows(data: RunData) -> pd.DataFrame:
    """The rows the model trained on, in their original columns."""
    p = data.prepared
    return p.frame.iloc[np.asarray(p.split.train)].reset_index(drop=True)


def _numeric(data: RunData) -> set[str]:
    return set(getattr(data.trained.preprocessor, "numeric_", None) or {})


def input_drift(data: RunData, rows: pd.DataFrame) -> dict[str, Any]:
    if data.trained.data_kind != "table":
        return {"rows": len(rows), "columns": [], "drifted": [], "note": INPUTS_NOTE.format(kind=data.trained.data_kind)}
    return drift_report(training_rows(data), rows, _numeric(data), list(data.trained.schema.features))


def prediction_mix(data: RunData, predicted: pd.Series) -> dict[str, Any]:
    """Shares of each class among the served predictions against the training labels' shares (or, for
    regression, the predictions' quartiles against the training target's)."""
    target = training_rows(data)[data.trained.schema.target]
    if is_classification(data.task):
        classes = [str(c) for c in data.trained.schema.classes or []]
        served = predicted.astype(str).value_counts(normalize=True).reindex(classes, fill_value=0.0)
        trained = target.astype(str).value_counts(normalize=True).reindex(classes, fill_value=0.0)
        return {"kind": "classes", "served": served.round(6).to_dict(), "training": trained.round(6).to_dict(),
                "psi": psi(trained.to_numpy(), served.to_numpy()) if len(predicted) else None}
    qs = [0.05, 0.25, 0.5, 0.75, 0.95]
    values = pd.to_numeric(predicted, errors="coerce").dropna()
    return {"kind": "values", "quantiles": qs,
            "served": [finite_or_none(float(v)) for v in values.quantile(qs)] if len(values) else [],
            "training": [float(v) for v in pd.to_numeric(target, errors="coerce").quantile(qs)]}


def live_metrics(data: RunData, labelled: pd.DataFrame) -> dict[str, Any]:
    """Metrics of the predictions that have a label, beside the run's test metrics."""
    n = len(labelled)
    out: dict[str, Any] = {"labelled": n, "metrics": {}, "test": data.record.metrics.get("test", {})}
    if not n:
        out["note"] = "no labels yet: POST them to /feedback with the prediction ids /predict returned"
        return out
    if is_classification(data.task):
        out["metrics"] = {"accuracy": float(accuracy_score(labelled["label"].astype(str),
                                                           labelled["prediction"].astype(str)))}
    else:
        y = pd.to_numeric(labelled["label"], errors="coerce").to_numpy(dtype=float)
        p = pd.to_numeric(labelled["prediction"], errors="coerce").to_numpy(dtype=float)
        ok = np.isfinite(y) & np.isfinite(p)
        metrics = {"mae": float(mean_absolute_error(y[ok], p[ok])),
                   "rmse": float(root_mean_squared_error(y[ok], p[ok]))} if ok.any() else {}
        if ok.sum() >= 2:
            metrics["r2"] = float(r2_score(y[ok], p[ok]))
        out["metrics"] = metrics
    return out


def _traffic(log: pd.DataFrame) -> dict[str, Any]:
    if log.empty:
        return {"predictions": 0, "requests": 0, "first": None, "last": None, "per_hour": []}
    hours = pd.to_datetime(log["time"], unit="s").dt.floor("h")
    per_hour = log.groupby(hours).size()
    return {"predictions": int(len(log)), "requests": int(log["request"].nunique()),
            "first": float(log["time"].min()), "last": float(log["time"].max()),
            "last_24h": int((log["time"] >= time.time() - 86400).sum()),
            "per_hour": [{"hour": h.isoformat(), "predictions": int(n)} for h, n in per_hour.items()]}


def _latency(log: pd.DataFrame) -> dict[str, Any]:
    per_request = log.groupby("request")["latency_ms"].first() if not log.empty else pd.Series(dtype=float)
    if per_request.empty:
        return {"requests": 0, "p50": None, "p95": None}
    return {"requests": int(len(per_request)), "p50": float(per_request.quantile(0.5)),
            "p95": float(per_request.quantile(0.95)), "max": float(per_request.max())}


def monitor_report(store: RunStore, catalog: Catalog, run: str, since: float | None = None,
                   data: RunData | None = None) -> dict[str, Any]:
    """Everything the Monitor page shows for a run, as plain data (JSON-encodable)."""
    data = data or load_run_data(store, catalog, run)
    path = monitor_path(data.run_dir)
    report: dict[str, Any] = {"run_id": data.record.run_id, "name": data.record.name, "task": data.task,
                              "log": str(path)}
    if not path.is_file():
        report.update(recording=None, traffic=_traffic(pd.DataFrame()), latency_ms=_latency(pd.DataFrame()),
                      note=f"nothing served yet: `workbench serve {data.record.run_id}` records each prediction here")
        return report
    log = PredictionLog(path)
    try:
        frame = log.predictions(since)
        bounds = log.bounds()
        report["recording"] = {**log.settings(), "words": bounds.words(), "rows": log.count()}
    finally:
        log.close()
    inputs = pd.DataFrame(list(frame["inputs"])) if not frame.empty else pd.DataFrame()
    report["traffic"] = _traffic(frame)
    report["latency_ms"] = _latency(frame)
    report["predictions"] = prediction_mix(data, frame["prediction"] if not frame.empty else pd.Series(dtype=object))
    report["drift"] = input_drift(data, inputs)
    report["feedback"] = live_metrics(data, frame[frame["has_label"]] if not frame.empty else frame)
    return report


def drift_frame(drift: dict[str, Any]) -> pd.DataFrame:
    """The drift report's columns as a table, drifted ones first (then by PSI)."""
    columns = ["column", "drifted", "verdict", "psi", "test", "p_value", "reference_mean", "current_mean",
               "missing_share"]
    frame = pd.DataFrame(drift.get("columns", []))
    if frame.empty:
        return pd.DataFrame(columns=columns)
    return frame.sort_values(["drifted", "psi"], ascending=[False, False])[columns].reset_index(drop=True)


def check_batch(data: RunData, rows: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Predictions for a batch of new rows (uploaded on the page) and the same drift report on them."""
    predicted = data.trained.predict_frame(rows)
    return pd.concat([rows.reset_index(drop=True), predicted.reset_index(drop=True)], axis=1), \
        input_drift(data, rows)


__all__ = ["check_batch", "drift_frame", "input_drift", "live_metrics", "monitor_report", "prediction_mix", "training_rows"]
