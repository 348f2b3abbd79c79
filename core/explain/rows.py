"""Which rows to explain: the first test rows, rows matching a filter, or the most wrong predictions.

Row numbers are those of predictions.parquet's `row` column (and the run's split).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from core.data.columns import numeric_values
from core.data.split import SPLIT_FILE, load_split
from core.errors import WorkbenchError
from core.runs.store import RunRecord, RunStore

OPERATORS = ("==", "!=", "<", "<=", ">", ">=", "contains")


def completed(store: RunStore, run_id: str) -> RunRecord:
    record = store.get(run_id)
    if not record.has_model:
        raise WorkbenchError(f"run {record.name} is {record.status}: only a completed run, or one stopped "
                             "with its kept weights evaluated, can be explained")
    return record


def test_rows(store: RunStore, run_id: str, n: int) -> list[int]:
    """The first n rows of the run's test split, in row order."""
    split = load_split(store.run_dir(completed(store, run_id).run_id) / SPLIT_FILE)
    return [int(r) for r in np.sort(split.test)[: max(n, 0)]]


def predictions(store: RunStore, run_id: str) -> pd.DataFrame:
    path = store.artifact_path(completed(store, run_id).run_id, "predictions")
    if path is None or not path.is_file():
        raise WorkbenchError(f"run {run_id} has no predictions file; train it again")
    return pd.read_parquet(path)


def most_wrong(store: RunStore, run_id: str, n: int, split: str = "test") -> list[int]:
    """Rows whose prediction is furthest from the truth: least probability on the true class, or largest error."""
    pred = predictions(store, run_id)
    pred = pred[pred["split"] == split] if split else pred
    if pred.empty:
        return []
    return [int(r) for r in pred.loc[wrongness(pred).sort_values(ascending=False, kind="stable").index, "row"][:n]]


def wrongness(pred: pd.DataFrame) -> pd.Series:
    """How wrong each prediction is: 1 - probability of the true class, or the absolute error."""
    proba_cols = [c for c in pred.columns if c.startswith("proba_")]
    if not proba_cols:
        return (pred["y_true"].astype(float) - pred["y_pred"].astype(float)).abs()
    labels = [c[len("proba_"):] for c in proba_cols]
    truth = pred["y_true"].astype(str).map({label: i for i, label in enumerate(labels)})
    proba = pred[proba_cols].to_numpy(dtype=np.float64)
    hit = np.where(truth.notna(), proba[np.arange(len(pred)), truth.fillna(0).astype(int)], 0.0)
    return pd.Series(1.0 - hit, index=pred.index)


def filter_rows(frame: pd.DataFrame, column: str, op: str, value: str, within: list[int] | None = None,
                limit: int | None = None) -> list[int]:
    """Rows where `column op value` holds; a number compares as a number. No expression is evaluated."""
    if column not in frame.columns:
        raise WorkbenchError(f"no column '{column}' to filter on")
    if op not in OPERATORS:
        raise WorkbenchError(f"filter operator must be one of {' '.join(OPERATORS)}")
    part = frame if within is None else frame.iloc[np.asarray(within, dtype=np.int64)]
    series = part[column]
    if op == "contains":
        mask = series.astype(str).str.contains(str(value), case=False, regex=False).to_numpy()
    else:
        target: float | str
        try:
            if not pd.api.types.is_numeric_dtype(series.dtype):
                raise ValueError
            target, left = float(value), numeric_values(series)
        except ValueError:
            target, left = str(value).strip(), series.astype(str).str.strip().to_numpy()
        if op in ("<", "<=", ">", ">=") and isinstance(target, str):
            raise WorkbenchError(f"'{value}' is not a number: use == or contains for text")
        compare = {"==": np.equal, "!=": np.not_equal, "<": np.less, "<=": np.less_equal,
                   ">": np.greater, ">=": np.greater_equal}[op]
        mask = np.asarray(compare(left, target), dtype=bool)
    index = np.arange(len(frame)) if within is None else np.asarray(within, dtype=np.int64)
    found = [int(r) for r in index[mask]]
    return found[:limit] if limit is not None else found


def parse_row_ids(text: str) -> list[int]:
    """'3, 17 42' -> [3, 17, 42]; ranges like 10-14 expand (at most 10,001 rows each). Anything else is ignored;
    repeats are dropped, the order kept."""
    out: list[int] = []
    for part in text.replace(",", " ").split():
        lo, dash, hi = part.partition("-")
        if dash and lo.isdigit() and hi.isdigit() and int(hi) >= int(lo):
            out.extend(range(int(lo), min(int(hi), int(lo) + 10_000) + 1))
        elif part.isdigit():
            out.append(int(part))
    return list(dict.fromkeys(out))


def rows_with_predictions(store: RunStore, run_id: str, frame: pd.DataFrame, rows: list[int]) -> pd.DataFrame:
    """The chosen rows of `frame`, indexed by row number, with the run's prediction, its split and how wrong it
    is beside their values (for rows in val/test; without a readable predictions file, the values alone)."""
    table = frame.iloc[rows].copy()
    table.insert(0, "row", rows)
    try:
        pred = predictions(store, run_id)
    except (WorkbenchError, OSError, ValueError):  # the table is a convenience; explanations do not need it
        return table.set_index("row")
    pred = pred.assign(wrongness=wrongness(pred))[["row", "split", "y_pred", "wrongness"]]
    return table.merge(pred, on="row", how="left").set_index("row")


__all__ = ["OPERATORS", "completed", "test_rows", "predictions", "most_wrong", "wrongness", "filter_rows",
           "parse_row_ids", "rows_with_predictions"]
