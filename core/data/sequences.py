"""A table -> the sequence examples a run trains, validates and tests on, scaled on train only.

    rows --order--> OrderedRows --checks--> windows (forecast) or sequences (classify)
         --split without leakage--> SequencePreprocessor.fit(train rows) --> X (n, steps, channels), y

`build_sequences` is the whole data part of a sequence run; the Data page previews with the same
code (`preview_windows`), so what it shows is what trains.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from pandas.api import types as ptypes

from core.config import SequenceConfig
from core.data.checks import Check
from core.data.columns import as_labels
from core.data.schema import Schema, build_schema, infer_task
from core.data.sequence_encoder import SequencePreprocessor
from core.data.series import OrderedRows, SeriesLayout, order_rows, resolve_layout, series_checks
from core.data.split import Split, split_indices
from core.data.windows import (
    PARTS, ForecastWindows, fill_forward, forecast_windows, gather_sequences, gather_windows, seasonal_lag,
    sequence_groups,
)
from core.errors import DataError


@dataclass
class SequenceData:
    layout: SeriesLayout
    rows: OrderedRows
    schema: Schema
    checks: list[Check]
    preprocessor: SequencePreprocessor
    split: Split  # forecast: target rows of the ordered table per part; classify: sequence numbers
    X: dict[str, np.ndarray]  # part -> float32 (n, window, channels)
    y: dict[str, np.ndarray]  # part -> encoded targets
    keys: dict[str, np.ndarray]  # part -> the series (or sequence) of each example, as text
    times: dict[str, np.ndarray] = field(default_factory=dict)  # forecast: the target's time stamp (seconds)
    baselines: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)  # part -> name -> forecasts
    windows: ForecastWindows | None = None
    # forecast: each ordered row's run (series, part, no gap) on train rows only, -1 elsewhere: MASE's scale
    train_runs: np.ndarray | None = None


def sequence_task(frame: pd.DataFrame, target: str, task: str | None, seq: SequenceConfig) -> str:
    """A numeric target with a time column is forecast (regression); otherwise as for tables, so
    wide rows with labels 1/2 are two classes."""
    if task:
        return task
    y = frame[target]
    if seq.time_column and ptypes.is_numeric_dtype(y.dtype) and not ptypes.is_bool_dtype(y.dtype) \
            and not seq.series_id:
        return "regression"
    inferred = infer_task(y)
    if seq.series_id and seq.time_column and inferred == "regression":
        return "regression"
    return inferred


def build_sequences(frame: pd.DataFrame, target: str, seq: SequenceConfig, *, task: str | None = None,
                    val_fraction: float = 0.15, test_fraction: float = 0.15, seed: int = 0,
                    split: Split | None = None) -> SequenceData:
    """Everything a sequence run needs before training. A DataError says why the data cannot work."""
    if target not in frame.columns:
        raise DataError(f"There is no column named '{target}' to predict.")
    task = sequence_task(frame, target, task, seq)
    layout = resolve_layout(frame, target, task, seq)
    rows = order_rows(frame, layout)
    checks = series_checks(rows, layout)
    blocking = [c for c in checks if c.level == "error"]
    if blocking:
        raise DataError(f"{blocking[0].message} {blocking[0].advice}".strip())
    roles = {str(c): ("numeric" if c in layout.inputs else "ignore") for c in rows.frame.columns if c != target}
    if layout.format == "long" and layout.mode == "classify":
        labels = rows.frame.groupby(rows.series, sort=False)[target].first()
        schema = build_schema(pd.DataFrame({target: labels.to_numpy(), **{c: 0.0 for c in layout.inputs}}),
                              target, task=task, roles={c: "numeric" for c in layout.inputs})
        schema = Schema(target, schema.task, roles, schema.classes)
    elif layout.mode == "forecast":  # numeric and not constant: checked above; the target may be the only input
        schema = Schema(target, task, roles, None)
    else:
        present = rows.frame.dropna(subset=[target])
        schema = build_schema(present, target, task=task, roles=roles)
    if layout.mode == "forecast":
        return _forecast(rows, layout, schema, checks, val_fraction, test_fraction)
    return _classify(rows, layout, schema, checks, val_fraction, test_fraction, seed, split)


def _forecast(rows: OrderedRows, layout: SeriesLayout, schema: Schema, checks: list[Check],
              val_fraction: float, test_fraction: float) -> SequenceData:
    pre = SequencePreprocessor(schema, layout)
    raw = pre.raw_values(rows.frame)
    target = rows.frame[layout.target].to_numpy(dtype="float64", na_value=np.nan)
    valid = np.isfinite(raw).all(axis=1) & np.isfinite(target)
    win = forecast_windows(rows, layout, valid, val_fraction, test_fraction)
    train_rows = win.row_part == 0
    pre.fit(raw[train_rows], target[train_rows])
    values = pre.scale(np.where(np.isfinite(raw), raw, 0.0))  # invalid rows are in no window anyway
    y_scaled = pre.encode_target(np.where(np.isfinite(target), target, 0.0))
    lag = seasonal_lag(layout.seasonal_period, layout.horizon) if layout.seasonal_period else None
    X, y, keys, times, baselines, idx = {}, {}, {}, {}, {}, {}
    for i, part in enumerate(PARTS):
        w = win.of(part)
        start, target_row = win.start[w], win.target_row[w]
        X[part] = gather_windows(values, start, layout.window)
        y[part] = y_scaled[target_row]
        keys[part] = rows.series[target_row]
        times[part] = rows.times[target_row] if rows.times is not None else target_row.astype(np.float64)
        baselines[part] = {"persistence": target[start + layout.window - 1]}
        if lag is not None:
            baselines[part]["seasonal_naive"] = _lagged(rows, target, valid, target_row, lag, layout)
        idx[part] = target_row
    runs = np.where(train_rows, win.run, -1)
    return SequenceData(layout, rows, schema, checks, pre, Split(idx["train"], idx["val"], idx["test"]), X, y,
                        keys, times, baselines, win, runs)


def _lagged(rows: OrderedRows, target: np.ndarray, valid: np.ndarray, target_row: np.ndarray, lag: int,
            layout: SeriesLayout) -> np.ndarray:
    """The target `lag` steps before each target row of the same series (by time where there are time
    stamps, so a gap does not shift the season); NaN where the data does not reach back that far."""
    if rows.times is not None and layout.spacing_s:
        index = pd.MultiIndex.from_arrays([rows.series, np.round(rows.times, 3)])
        wanted = pd.MultiIndex.from_arrays([rows.series[target_row],
                                            np.round(rows.times[target_row] - lag * layout.spacing_s, 3)])
        found = index.get_indexer(wanted)
    else:
        found = target_row - lag
        found = np.where((found >= 0) & (rows.series[np.maximum(found, 0)] == rows.series[target_row]), found, -1)
    ok = found >= 0
    ok[ok] &= valid[found[ok]]
    out = np.full(len(target_row), np.nan)
    out[ok] = target[found[ok]]
    return out


def _classify(rows: OrderedRows, layout: SeriesLayout, schema: Schema, checks: list[Check],
              val_fraction: float, test_fraction: float, seed: int, split: Split | None) -> SequenceData:
    pre = SequencePreprocessor(schema, layout)
    if layout.format == "wide":
        frame = rows.frame.dropna(subset=[layout.target]).reset_index(drop=True)
        rows = OrderedRows(frame, None, np.arange(len(frame)).astype(str), rows.checks)
        raw = pre.raw_values(frame)[:, :, None]  # (sequences, steps, 1 channel)
        labels = frame[layout.target]
        groups = None
    else:
        keys_all, groups = sequence_groups(rows)
        raw = pre.raw_values(rows.frame)
        labels = pd.Series([rows.frame[layout.target].iloc[g[0]] for g in groups])
        present = labels.notna().to_numpy()
        groups = [g for g, ok in zip(groups, present) if ok]
        labels = labels[present].reset_index(drop=True)
    keys = np.arange(len(labels)).astype(str) if groups is None else \
        np.asarray([rows.series[g[0]] for g in groups]).astype(str)
    split = split or split_indices(as_labels(labels).to_numpy(), schema.task, val_fraction, test_fraction, seed)
    if groups is None:
        pre.fit(raw[split.train].reshape(-1, 1))
        scaled = np.stack([fill_forward(s) for s in pre.scale(raw)]) if len(raw) else raw.astype(np.float32)
    else:
        train_rows = np.concatenate([groups[i] for i in split.train])
        pre.fit(raw[train_rows])
        scaled = gather_sequences(pre.scale(raw), groups, layout.window)
    y_all = pre.encode_target(labels)
    X = {part: np.ascontiguousarray(scaled[getattr(split, part)], dtype=np.float32) for part in PARTS}
    y = {part: y_all[getattr(split, part)] for part in PARTS}
    keys_by = {part: keys[getattr(split, part)] for part in PARTS}
    return SequenceData(layout, rows, schema, checks, pre, split, X, y, keys_by)


def preview_windows(data: SequenceData, part: str = "train", count: int = 3) -> list[pd.DataFrame]:
    """The first `count` examples of a part in the user's units: the rows a window reads (and, for a
    forecast, the target it predicts), as the Data page shows them."""
    out = []
    lay, frame = data.layout, data.rows.frame
    if lay.mode == "forecast" and data.windows is not None:
        w = data.windows.of(part)[:count]
        for start, target_row in zip(data.windows.start[w], data.windows.target_row[w]):
            shown = frame.iloc[start:start + lay.window][[c for c in (lay.time_column, lay.series_id) if c]
                                                         + list(lay.inputs)].copy()
            shown.insert(0, "step", [f"t-{lay.window - 1 - i}" if i < lay.window - 1 else "t"
                                     for i in range(lay.window)])
            target = frame.iloc[[target_row]][[c for c in (lay.time_column, lay.series_id) if c] + [lay.target]]
            target.insert(0, "step", f"t+{lay.horizon} (target)")
            out.append(pd.concat([shown, target], ignore_index=True))
        return out
    chosen = getattr(data.split, part)[:count]
    for i, n in enumerate(chosen):
        values = data.X[part][i] * data.preprocessor.std_ + data.preprocessor.mean_
        table = pd.DataFrame(values, columns=data.preprocessor.feature_names)
        table.insert(0, "step", range(1, len(table) + 1))
        table[lay.target] = [str(data.preprocessor.decode_target(data.y[part][i:i + 1])[0])] + [""] * (len(table) - 1)
        out.append(table)
    return out


def summary(data: SequenceData) -> dict[str, object]:
    """What the Data and Train pages say about the examples, in plain numbers."""
    lay = data.layout
    out: dict[str, object] = {
        "mode": lay.mode, "format": lay.format, "window": lay.window, "horizon": lay.horizon, "stride": lay.stride,
        "channels": list(lay.channels), "examples": {p: int(len(data.y[p])) for p in PARTS},
        "series": int(len(np.unique(data.rows.series))) if lay.format == "long" else None,
        "spacing": lay.spacing or None, "seasonal_period": lay.seasonal_period,
    }
    if data.rows.times is not None and len(data.rows.times) and lay.spacing_s:
        out["span"] = [str(pd.to_datetime(t, unit="s")) for t in (data.rows.times.min(), data.rows.times.max())] \
            if lay.spacing and not lay.spacing.endswith("per step") else \
            [float(data.rows.times.min()), float(data.rows.times.max())]
    return out


__all__ = ["SequenceData", "sequence_task", "build_sequences", "preview_windows", "summary"]
