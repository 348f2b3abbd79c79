"""A finished sequence run's numbers: forecast errors, and the baselines on the very same test windows.

A forecast is judged by MAE, RMSE, sMAPE and MASE (core.evaluation.forecast) beside persistence and
seasonal naive; a sequence classifier beside the class prior (always the training part's most
frequent class, with its class shares as probabilities).
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from core.data.prepare_sequence import SequencePrepared
from core.data.prepared import PreparedData
from core.data.sequences import SequenceData
from core import evaluation  # its names load on first use: sklearn only once a run is evaluated

PRIMARY_BASELINE = {"forecast": "persistence", "classify": "class_prior"}


def _forecast():  # noqa: ANN202 - the module, imported on first use (it imports sklearn.metrics)
    from core.evaluation import forecast

    return forecast


def is_sequence(prepared: PreparedData | None) -> bool:
    return isinstance(prepared, SequencePrepared)


def n_inputs(prepared: PreparedData) -> int:
    """What a sequence model's first layer reads: the channels of each step."""
    return int(prepared.X["train"].shape[-1])


def _data(prepared: PreparedData) -> SequenceData:
    if not isinstance(prepared, SequencePrepared):
        raise ValueError("not a sequence run")
    return prepared.sequences


def mase_scale(data: SequenceData) -> float | None:
    """The in-sample MAE of the seasonal-naive (or naive) forecast on the training part."""
    if data.train_runs is None:
        return None
    target = data.rows.frame[data.layout.target].to_numpy(dtype="float64", na_value=np.nan)
    return _forecast().naive_scale(target, data.train_runs, data.layout.seasonal_period or 1)


def sequence_metrics(prepared: PreparedData, part: str, outputs: np.ndarray) -> dict[str, float]:
    data = _data(prepared)
    if data.layout.mode == "forecast":
        decode = prepared.preprocessor.decode_target
        return _forecast().forecast_metrics(decode(prepared.y[part]), decode(outputs[:, 0]), mase_scale(data))
    return evaluation.compute_metrics(prepared.schema.task, prepared.y[part], outputs)


def baselines(prepared: PreparedData) -> dict[str, Any]:
    """{"name", "label", "val", "test"} of the baseline a user compares with first, and "all" of them."""
    data = _data(prepared)
    found: dict[str, dict[str, Any]] = {}
    if data.layout.mode == "forecast":
        scale = mase_scale(data)
        decode = prepared.preprocessor.decode_target
        for name in _forecast().BASELINE_LABELS:
            if name not in data.baselines["test"]:
                continue
            entry: dict[str, Any] = {"label": _forecast().BASELINE_LABELS[name]}
            for part in ("val", "test"):
                guess = data.baselines[part][name]
                entry[part] = _forecast().forecast_metrics(decode(prepared.y[part]), guess, scale)
                entry[f"{part}_windows"] = int(np.isfinite(guess).sum())
            if name == "seasonal_naive":
                entry["period"] = data.layout.seasonal_period
            found[name] = entry
    else:
        counts = np.bincount(prepared.y["train"].astype(np.int64), minlength=prepared.schema.n_classes)
        prior = counts / max(counts.sum(), 1)
        logits = np.log(np.clip(prior, 1e-12, 1.0))
        if prepared.schema.task == "binary":  # one logit: log-odds of the second class
            logits = logits[1:] - logits[:1]
        entry = {"label": "class prior (the most frequent class)"}
        for part in ("val", "test"):
            entry[part] = evaluation.compute_metrics(prepared.schema.task, prepared.y[part],
                                          np.tile(logits, (len(prepared.y[part]), 1)))
        found["class_prior"] = entry
    primary = PRIMARY_BASELINE[data.layout.mode]
    chosen = found[primary]
    return {"name": primary, "label": chosen["label"], "val": chosen["val"], "test": chosen["test"], "all": found}


def prediction_columns(prepared: PreparedData, part: str) -> dict[str, np.ndarray]:
    """Beside each test prediction: its series, its time, and each baseline's forecast."""
    data = _data(prepared)
    out: dict[str, np.ndarray] = {"series": data.keys[part].astype(str)}
    if data.layout.mode == "forecast":
        times = data.times[part]
        if data.layout.time_column and data.layout.spacing and not data.layout.spacing.endswith("per step"):
            out["time"] = pd.to_datetime(times, unit="s").astype(str).to_numpy()
        else:
            out["time"] = times.astype(np.float64)
        for name, guess in data.baselines[part].items():
            out[f"baseline_{name}"] = np.asarray(guess, dtype=np.float64)
    return out


def meta(prepared: PreparedData) -> dict[str, Any]:
    """What model.json says about the input, so serving and explaining know the window."""
    data = _data(prepared)
    return {"data_kind": "sequence", "input_shape": [data.layout.window, len(data.layout.channels)],
            "layout": data.layout.to_dict()}


__all__ = ["PRIMARY_BASELINE", "is_sequence", "n_inputs", "mase_scale", "sequence_metrics", "baselines", "prediction_columns", "meta"]
