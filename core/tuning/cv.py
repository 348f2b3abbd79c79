"""k-fold cross-validation: a parent run, one child run per fold, and mean +- std per metric.

Each fold is an ordinary run (parent_id set, live curves like any other). Its test
split is the fold; train and validation come from the other folds (`val_fraction`
of them, seeded, stratified). The folds are written once to the parent's folder
(`folds.json`, the record of the whole plan), and each child gets its own `split.json`
in its folder before it is queued: the worker trains a run on the split file it finds
there, so it never needs to ask this module which fold it is.

The parent finishes when its last fold ends: the Engine hands `finalize_parents` to the
run manager's ended-run hooks (the runs layer never imports tuning).

The spread is the population standard deviation (numpy's default, ddof=0), as
scikit-learn's `cross_validate` / `GridSearchCV.cv_results_` report it, so the
numbers match what people compare them with.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np

from core.config import RunConfig
from core.data import Catalog, Split
from core.data.columns import as_labels
from core.data.split import FOLDS_FILE, hold_out, save_folds
from core.errors import ConfigError, DataError, RunNotFound
from core.numbers import finite_or_none
from core.runs.content_hash import pin_content_hash
from core.runs.prepare import prepare_data
from core.runs.service import RunService
from core.runs.store import RunRecord, RunStore
from core.training.callbacks import Callback
from core.vocab import ACTIVE, is_classification

log = logging.getLogger(__name__)

CV_TAG = "cv"
FOLD_TAG = "fold:"  # + the fold's number, 1-based: "fold:2"
MAX_FOLDS = 20
DDOF = 0  # population std, as scikit-learn reports CV spread


# --- splits -------------------------------------------------------------------------
def cv_splits(y: np.ndarray, task: str, k: int, val_fraction: float = 0.15, seed: int = 0) -> list[Split]:
    """K folds over rows 0..n-1: stratified by class for classification, plain KFold for regression."""
    n = len(y)
    if not 2 <= k <= MAX_FOLDS:
        raise ConfigError(f"cross-validation needs between 2 and {MAX_FOLDS} folds, got {k}")
    if n < 3 * k:
        raise DataError(f"{n} rows are too few for {k} folds: use fewer folds or more rows")
    if not 0 < val_fraction < 0.5:
        raise ConfigError("the validation share must be in (0, 0.5)")
    rows = np.arange(n, dtype=np.int64)
    labels = None
    if is_classification(task):
        labels = as_labels(_series(y)).fillna("<missing>").to_numpy(dtype=str)
    folds: list[Split] = []
    for rest, test in _kfold(rows, labels, k, seed):
        train, val = hold_out(rest, None if labels is None else labels[rest], val_fraction, seed)
        folds.append(Split(train=np.sort(train), val=np.sort(val), test=np.sort(test)))
    return folds


def _kfold(rows: np.ndarray, labels: np.ndarray | None, k: int, seed: int) -> Iterable[tuple[np.ndarray, np.ndarray]]:
    from sklearn.model_selection import KFold, StratifiedKFold  # not at import: the Engine imports this module

    if labels is not None:
        _, counts = np.unique(labels, return_counts=True)
        if counts.min() >= k:
            return StratifiedKFold(n_splits=k, shuffle=True, random_state=seed).split(rows, labels)
        # A class with fewer rows than folds cannot appear in every test fold.
        log.warning("a class has only %d row(s), fewer than %d folds; the folds are not stratified", counts.min(), k)
    return KFold(n_splits=k, shuffle=True, random_state=seed).split(rows)


def _series(y: np.ndarray):
    import pandas as pd

    return y if isinstance(y, pd.Series) else pd.Series(np.asarray(y))


def fold_number(record: RunRecord) -> int | None:
    for tag in record.tags:
        if tag.startswith(FOLD_TAG) and tag[len(FOLD_TAG):].isdigit():
            return int(tag[len(FOLD_TAG):])
    return None


# --- the parent run --------------------------------------------------------------------
@dataclass
class CvPlan:
    parent_id: str
    config: RunConfig  # with the data's content hash filled in
    folds: list[Split]
    task: str


def plan_cv(store: RunStore, catalog: Catalog, config: RunConfig, k: int) -> CvPlan:
    """Check the data once, cut the folds, and record the parent run (running, owned by this process)."""
    config.validate()
    if config.sequence is not None:  # folds are cut over table rows; a forecast must stay in time order
        raise ConfigError("cross-validation takes tables and images; a sequence run is split by time (a forecast) "
                          "or by sequence once: train it without --cv")
    prepared = prepare_data(config, catalog)  # bad data or a model that cannot fit fails here, before any run
    task = prepared.schema.task
    folds = cv_splits(prepared.frame[config.data.target].to_numpy(), task, k, config.data.val_fraction,
                      config.train.seed)
    pinned = pin_content_hash(config, prepared.ref)  # the folds' runs are pinned with it, and say nothing more
    config = pinned.config
    # pid: another process's start-up check sees a live owner and leaves the parent alone
    parent_id = store.create_run(config.to_dict(), name=config.name, task=task, model=config.model.kind,
                                 dataset=prepared.ref.label, status="running", tags=(CV_TAG,), pid=os.getpid(),
                                 summary=pinned.run_summary(cv_folds=k))
    store.set_status(parent_id, "running")
    save_folds(folds, store.run_dir(parent_id) / FOLDS_FILE)
    return CvPlan(parent_id, config, folds, task)


def _child_name(store: RunStore, parent_id: str, number: int) -> str:
    return f"{store.get(parent_id).name}-fold{number}"


def _child_tags(number: int) -> tuple[str, ...]:
    return ("cv-fold", f"{FOLD_TAG}{number}")


def submit_cv(service: RunService, config: RunConfig, k: int, *, executor: str | None = None) -> str:
    """K-fold CV through the run manager (one queued child per fold); returns the parent's run id.

    Each child is queued with its fold's split file in its folder. The parent completes when its
    last fold ends (the Engine wires finalize_parents to the manager's ended-run hooks).
    """
    plan = plan_cv(service.store, service.catalog, config, k)
    for number, split in enumerate(plan.folds, start=1):
        service.manager.submit(plan.config, name=_child_name(service.store, plan.parent_id, number),
                               parent_id=plan.parent_id, tags=_child_tags(number), split=split, executor=executor)
    return plan.parent_id


def run_cv_inline(store: RunStore, catalog: Catalog, config: RunConfig, k: int, *,
                  callbacks: Iterable[Callback] = (), should_stop: Callable[[], str | None] | None = None,
                  on_fold: Callable[[int, str], None] | None = None) -> str:
    """K-fold CV in this process, one fold after another (`workbench train --cv`); returns the parent's id."""
    from core.runs.execute import execute_run

    plan = plan_cv(store, catalog, config, k)
    callbacks = list(callbacks)
    for number, split in enumerate(plan.folds, start=1):
        # owned by this process, as the manager's children are: another app's start-up check leaves it alone
        child = store.create_run(plan.config.to_dict(), name=_child_name(store, plan.parent_id, number),
                                 task=plan.task, model=plan.config.model.kind,
                                 dataset=store.get(plan.parent_id).dataset, parent_id=plan.parent_id,
                                 tags=_child_tags(number), split=split, owner_pid=os.getpid())
        reason = should_stop() if should_stop else None
        if reason:
            store.set_status(child, "cancelled", reason)
            continue
        status = execute_run(store, catalog, child, callbacks=callbacks, should_stop=should_stop)
        if on_fold:
            on_fold(number, status)
    finalize_cv(store, plan.parent_id)
    return plan.parent_id


def stop_cv(service: RunService, parent_id: str) -> None:
    """Stop every fold still to run; the queued ones first so none of them starts in between."""
    children = sorted(service.store.list_runs(parent_id=parent_id), key=lambda r: r.status == "running")
    for child in children:
        if child.status in ACTIVE:
            service.manager.stop(child.run_id)
    service.store.request_stop(parent_id)
    finalize_cv(service.store, parent_id)


# --- results -----------------------------------------------------------------------------
@dataclass
class FoldResult:
    number: int
    run_id: str
    status: str
    status_reason: str | None
    metrics: dict[str, dict[str, float]]  # "val" | "test" -> name -> value


@dataclass
class CvResult:
    parent_id: str
    k: int
    folds: list[FoldResult]
    cv: dict[str, dict[str, Any]] = field(default_factory=dict)  # metric -> {mean, std, folds}
    val_means: dict[str, float | None] = field(default_factory=dict)

    @property
    def done(self) -> bool:
        return len(self.folds) >= self.k and all(f.status not in ACTIVE for f in self.folds)

    @property
    def test_means(self) -> dict[str, float | None]:
        return {name: stats["mean"] for name, stats in self.cv.items()}


def aggregate(per_fold: Sequence[Mapping[str, Any] | None]) -> dict[str, dict[str, Any]]:
    """{metric: {mean, std, folds}} over the folds' metric dicts (None: a fold that did not complete).

    `folds` keeps one entry per fold in fold order (None where there is no value);
    mean and std (ddof=0) are over the finite values only.
    """
    names: list[str] = []
    for metrics in per_fold:
        for name in metrics or {}:
            if name not in names:
                names.append(name)
    out: dict[str, dict[str, Any]] = {}
    for name in names:
        values = [finite_or_none((m or {}).get(name)) for m in per_fold]
        present = np.array([v for v in values if v is not None], dtype=np.float64)
        out[name] = {
            "mean": float(present.mean()) if present.size else None,
            "std": float(present.std(ddof=DDOF)) if present.size else None,
            "folds": values,
        }
    return out


def cv_result(store: RunStore, parent_id: str) -> CvResult:
    """The folds so far and their mean +- std: what the parent shows while its folds still run."""
    parent = store.get(parent_id)
    k = int(parent.summary.get("cv_folds") or 0)
    folds = []
    for child in store.list_runs(parent_id=parent.run_id):
        number = fold_number(child)
        if number is not None:
            folds.append(FoldResult(number, child.run_id, child.status, child.status_reason, child.metrics))
    folds.sort(key=lambda f: f.number)
    by_number = {f.number: f for f in folds}
    per_fold = [by_number[n].metrics.get("test") if n in by_number and by_number[n].status == "completed" else None
                for n in range(1, max(k, len(folds)) + 1)]
    val = aggregate([by_number[n].metrics.get("val") if n in by_number and by_number[n].status == "completed"
                     else None for n in range(1, max(k, len(folds)) + 1)])
    return CvResult(parent.run_id, k or len(folds), folds, aggregate(per_fold),
                    {name: stats["mean"] for name, stats in val.items()})


def finalize_cv(store: RunStore, parent_id: str) -> bool:
    """Once every fold has ended: the parent's summary and terminal status. False while folds still run.

    A fold's final metrics and its terminal status are one write (execute_run), so the folds read here
    are final. The parent's summary and status are one write too, taken only while the parent is
    active: of two finalizers (the manager's ended-run hook and stop_cv), the first one's stands."""
    result = cv_result(store, parent_id)
    if not result.done:
        return False
    parent = store.get(parent_id)
    if parent.status not in ACTIVE:
        return True  # finished already
    completed = [f for f in result.folds if f.status == "completed"]
    summary = {
        **parent.summary,
        "metrics": {"cv": result.cv, "test": result.test_means, "val": result.val_means},
        "folds": [{"fold": f.number, "run_id": f.run_id, "status": f.status} for f in result.folds],
        "duration_s": sum(finite_or_none(store.get(f.run_id).summary.get("duration_s")) or 0.0 for f in completed),
    }
    if completed:
        missing = len(result.folds) - len(completed)
        status, reason = "completed", f"{missing} of {len(result.folds)} folds did not complete" if missing else None
    elif any(f.status == "failed" for f in result.folds):
        first = next(f for f in result.folds if f.status == "failed")
        status, reason = "failed", f"every fold failed; fold {first.number}: {first.status_reason}"
    else:
        status, reason = "cancelled", "stopped before any fold completed"
    store.set_status(parent.run_id, status, reason, summary=summary, device=_first_device(store, completed))
    return True


def finalize_parents(store: RunStore, run_ids: Iterable[str]) -> None:
    """An ended-run hook of the run manager (the Engine wires it): finish the CV parents of these runs."""
    parents = set()
    for run_id in run_ids:
        try:
            record = store.get(run_id)
        except RunNotFound:  # deleted meanwhile
            continue
        if record.parent_id and fold_number(record) is not None:
            parents.add(record.parent_id)
    for parent_id in parents:
        try:
            parent = store.get(parent_id)
            if parent.status in ACTIVE and CV_TAG in parent.tags:
                finalize_cv(store, parent_id)
        except RunNotFound:
            continue


def _first_device(store: RunStore, folds: Sequence[FoldResult]) -> str | None:
    for f in folds:
        device = store.get(f.run_id).device
        if device:
            return device
    return None


__all__ = [
    "CV_TAG", "FOLD_TAG", "DDOF", "cv_splits", "fold_number",
    "CvPlan", "plan_cv", "submit_cv", "run_cv_inline", "stop_cv", "FoldResult", "CvResult",
    "aggregate", "cv_result", "finalize_cv", "finalize_parents",
]
