"""Two runs, or two groups of repeats, compared on the same test rows by a paired bootstrap.

A side is one run, or a group of repeats standing for its completed members (core.tuning.repeats);
a group's metric on a set of rows is the mean of its members' metric there, as its summary reports.
Both sides are read from their saved test predictions (predictions.parquet) and matched by row
number, so only data that both were tested on counts: two runs of the same file and split share all
their test rows; runs with other split seeds share some, and the comparison says how many.
The statistics are core.evaluation.stats.paired_bootstrap's.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import partial
from typing import Any

import numpy as np
import pandas as pd

from core.errors import ConfigError, WorkbenchError
from core.evaluation.metrics import classification_metric
from core.evaluation.stats import (
    BOOTSTRAP_RESAMPLES, BOOTSTRAP_SEED, CONFIDENCE, difference_words, paired_bootstrap, resample_indices,
    resampled_scores, row_terms,
)
from core.runs.compare import run_labels
from core.runs.store import RunRecord, RunStore
from core.tuning.repeats import is_group, members
from core.vocab import is_classification, metric_direction, metric_label, metrics_for_task, primary_metric

MIN_ROWS = 10  # fewer shared test rows say nothing a bootstrap could weigh


@dataclass
class Side:
    record: RunRecord
    label: str
    run_ids: list[str]  # the run itself, or a group's completed members
    predictions: list[pd.DataFrame]  # each member's test rows, indexed by row number


@dataclass
class PairedComparison:
    metric: str
    label: str  # the metric in words
    direction: str
    a: dict[str, Any]  # name, run_id, members
    b: dict[str, Any]
    a_value: float
    b_value: float
    difference: float  # a - b
    low: float
    high: float
    confidence: float
    n_rows: int
    shared_note: str | None  # when the sides' test rows were not all the same
    resamples: int
    p_not_better: float
    method: str
    words: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def load_side(store: RunStore, ref: str, label: str | None = None) -> Side:
    record = store.get(ref)
    if is_group(record):
        done = [m for m in members(store, record.run_id) if m.status == "completed"]
        if not done:
            raise ConfigError(f"the repeats {record.name} have no completed seed to compare yet")
        run_ids = [m.run_id for m in done]
    else:
        run_ids = [record.run_id]
    predictions = [_test_rows(store, run_id) for run_id in run_ids]
    return Side(record, label or record.name, run_ids, predictions)


def _test_rows(store: RunStore, run_id: str) -> pd.DataFrame:
    path = store.artifact_path(run_id, "predictions") or store.run_dir(run_id) / "predictions.parquet"
    if not path.is_file():
        name = store.get(run_id).name
        raise ConfigError(f"run {name} has no saved test predictions (it has not completed)")
    try:
        frame = pd.read_parquet(path)
    except Exception as exc:  # noqa: BLE001 - a damaged file, in words
        raise WorkbenchError(f"the predictions of run {run_id} cannot be read ({type(exc).__name__})") from None
    return frame[frame["split"] == "test"].set_index("row")


def compare_runs(store: RunStore, ref_a: str, ref_b: str, metric: str | None = None, *,
                 resamples: int = BOOTSTRAP_RESAMPLES, seed: int = BOOTSTRAP_SEED) -> PairedComparison:
    """A against B on their shared test rows: the difference in `metric` (default: the task's primary)
    with a 95% paired bootstrap interval, and the sentence that says it."""
    records = [store.get(ref_a), store.get(ref_b)]
    if records[0].run_id == records[1].run_id:
        raise ConfigError("compare two different runs (or groups of repeats)")
    labels = run_labels(records)
    a, b = load_side(store, ref_a, labels[records[0].run_id]), load_side(store, ref_b, labels[records[1].run_id])
    task = _same_question(a, b)
    metric = metric or primary_metric(task)
    if metric not in metrics_for_task(task):
        raise ConfigError(f"{metric} is not a {task} metric; choose one of: {', '.join(metrics_for_task(task))}")
    if not 100 <= resamples <= 100_000:
        raise ConfigError(f"resamples must be between 100 and 100000, got {resamples}")
    rows = _shared_rows(a, b)
    y, preds_a, preds_b, score_a, score_b = _aligned(task, metric, a, b, rows)
    idx = resample_indices(len(rows), resamples, seed)
    full = np.arange(len(rows))[None, :]
    direction = metric_direction(metric)
    scores_a, scores_b = (resampled_scores(metric, y, preds_a, idx, score_a),
                          resampled_scores(metric, y, preds_b, idx, score_b))
    full_a, full_b = (float(resampled_scores(metric, y, preds_a, full, score_a)[0]),
                      float(resampled_scores(metric, y, preds_b, full, score_b)[0]))
    diff = paired_bootstrap(metric, direction, scores_a, scores_b, full_a, full_b, len(rows))
    n_test = {len(p) for side in (a, b) for p in side.predictions}
    note = None if n_test == {len(rows)} else (
        f"the two were tested on different rows; compared on the {len(rows)} test rows they share")
    words = difference_words(diff, a.label, b.label, metric_label(metric), direction)
    return PairedComparison(
        metric=metric, label=metric_label(metric), direction=direction,
        a=_side_dict(a), b=_side_dict(b), a_value=diff.a, b_value=diff.b, difference=diff.difference,
        low=diff.low, high=diff.high, confidence=CONFIDENCE, n_rows=len(rows), shared_note=note,
        resamples=diff.resamples, p_not_better=diff.p_not_better,
        method="paired bootstrap over the shared test rows (percentile interval)", words=words)


def _side_dict(side: Side) -> dict[str, Any]:
    return {"name": side.label, "run_id": side.record.run_id, "members": side.run_ids,
            "group": is_group(side.record)}


def _same_question(a: Side, b: Side) -> str:
    ra, rb = a.record, b.record
    if ra.task != rb.task or not ra.task:
        raise ConfigError(f"{a.label} is a {ra.task} run and {b.label} a {rb.task} run: compare runs of one task")
    ta, tb = ra.config.get("data", {}), rb.config.get("data", {})
    if ta.get("target") != tb.get("target"):
        raise ConfigError(f"{a.label} predicts '{ta.get('target')}' and {b.label} '{tb.get('target')}': "
                          "compare runs that predict the same column")
    ha, hb = ta.get("content_hash"), tb.get("content_hash")
    if ha and hb and ha != hb or ra.dataset != rb.dataset:
        raise ConfigError(f"{a.label} and {b.label} were trained on different data ({ra.dataset}, {rb.dataset}): "
                          "a paired comparison needs the same test rows")
    return ra.task


def _shared_rows(a: Side, b: Side) -> np.ndarray:
    shared = None
    for frame in (*a.predictions, *b.predictions):
        rows = set(frame.index.tolist())
        shared = rows if shared is None else shared & rows
    rows = np.array(sorted(shared or ()), dtype=np.int64)
    if len(rows) < MIN_ROWS:
        raise ConfigError(f"{a.label} and {b.label} share {len(rows)} test rows; a paired comparison needs at "
                          f"least {MIN_ROWS} (train them with the same seed, or as repeats of one split)")
    return rows


def _aligned(task: str, metric: str, a: Side, b: Side, rows: np.ndarray):
    """The shared rows' truth, each member's predictions, and each side's scorer for metrics that are no
    mean over rows."""
    first = a.predictions[0].loc[rows]
    if not is_classification(task):
        y = first["y_true"].to_numpy(dtype=np.float64)
        return (y, [p.loc[rows, "y_pred"].to_numpy(dtype=np.float64) for p in a.predictions],
                [p.loc[rows, "y_pred"].to_numpy(dtype=np.float64) for p in b.predictions], None, None)
    classes = [c[len("proba_"):] for c in first.columns if c.startswith("proba_")]
    y_labels = first["y_true"].astype(str).to_numpy()
    codes = {c: i for i, c in enumerate(classes)}
    y = np.array([codes.get(v, -1) for v in y_labels])
    if row_terms(metric, y, y) is not None:  # accuracy: predicted labels as codes
        def labels(side: Side) -> list[np.ndarray]:
            return [np.array([codes.get(v, -2) for v in p.loc[rows, "y_pred"].astype(str)]) for p in side.predictions]
        return y, labels(a), labels(b), None, None

    def probas(side: Side) -> list[np.ndarray]:
        out = []
        for p in side.predictions:
            missing = [c for c in classes if f"proba_{c}" not in p.columns]
            if missing:
                raise ConfigError(f"{side.label} knows other classes than the runs it is compared with")
            out.append(p.loc[rows, [f"proba_{c}" for c in classes]].to_numpy(dtype=np.float64))
        return out
    pa, pb = probas(a), probas(b)
    return y, pa, pb, partial(_group_score, metric, pa), partial(_group_score, metric, pb)


def _group_score(metric: str, probas: list[np.ndarray], y_rows: np.ndarray, rows: np.ndarray) -> float:
    return float(np.mean([classification_metric(metric, y_rows, p[rows]) for p in probas]))


__all__ = ["MIN_ROWS", "Side", "PairedComparison", "load_side", "compare_runs"]
