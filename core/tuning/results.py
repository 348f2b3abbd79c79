"""What a study has produced: one row per trial, the best trial, the parent's summary, the report.

The parent run's summary is rewritten after every trial (counts, best trial, its metrics), so
run tables and the Tune page read a study's progress from the store like any run's.
"""
from __future__ import annotations

from typing import Any, Mapping

import optuna
from optuna.trial import TrialState

from core.config import RunConfig
from core.errors import WorkbenchError
from core.runs.service import RunService
from core.runs.store import RunRecord
from core.tuning.study import BEST_TAG, StudySpec, load_study, study_spec
from core.tuning.trials import TrialRow, trial_counts


def trial_row(service: RunService, t: optuna.trial.FrozenTrial,
              records: Mapping[str, RunRecord] | None = None) -> TrialRow:
    run_id = t.user_attrs.get("run_id")
    record = (records or {}).get(run_id) if records is not None else run_or_none(service, run_id)
    state = {TrialState.COMPLETE: "complete", TrialState.PRUNED: "pruned", TrialState.FAIL: "failed",
             TrialState.RUNNING: "running", TrialState.WAITING: "running"}[t.state]
    if state == "failed" and t.user_attrs.get("stopped"):
        state = "stopped"
    duration = record.duration_s if record else None
    return TrialRow(number=t.number, state=state, value=t.value, params=dict(t.params), run_id=run_id,
                    run_status=record.status if record else None, duration_s=duration,
                    pruned_epoch=t.user_attrs.get("pruned_epoch"), reason=t.user_attrs.get("reason"))


def run_or_none(service: RunService, run_id: str | None) -> RunRecord | None:
    if not run_id:
        return None
    try:
        return service.store.get(run_id)
    except WorkbenchError:
        return None


def study_trials(service: RunService, parent_id: str, study: optuna.Study | None = None) -> list[TrialRow]:
    """Every trial so far, oldest first (one store query for all their runs)."""
    study = study or load_study(service, parent_id)
    records = {r.run_id: r for r in service.store.list_runs(parent_id=parent_id)}
    return [trial_row(service, t, records) for t in study.get_trials(deepcopy=False)]


def _best(service: RunService, study: optuna.Study) -> dict[str, Any] | None:
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if not complete:
        return None
    best = study.best_trial
    run_id = best.user_attrs.get("run_id")
    record = run_or_none(service, run_id)
    return {"trial": best.number, "run_id": run_id, "value": best.value, "params": dict(best.params),
            "config": record.config if record else None, "metrics": record.metrics if record else {}}


def write_summary(service: RunService, parent_id: str, spec: StudySpec, study: optuna.Study) -> dict[str, Any]:
    best = _best(service, study)
    trials = study_trials(service, parent_id, study)
    summary = {"study": spec.to_dict(), "trials": trial_counts(trials), "best": best,
               "metrics": best["metrics"] if best else {}}  # the best trial's metrics, so run tables show them
    events = service.store.get(parent_id).summary.get("events")
    if events:  # what the study said when it was created (its data had changed) stays with it
        summary["events"] = events
    service.store.update(parent_id, summary=summary)
    return summary


def best_config(service: RunService, parent_id: str) -> RunConfig:
    best = service.store.get(parent_id).summary.get("best")
    if not best or not best.get("config"):
        raise WorkbenchError("this study has no completed trial yet")
    return RunConfig.from_dict(best["config"])


def submit_best(service: RunService, parent_id: str) -> str:
    """Train the best trial's config again as a new, ordinary run (the page's one-click button)."""
    record = service.store.get(parent_id)
    config = best_config(service, parent_id)
    return service.manager.submit(config, name=f"{record.name}-best", tags=(BEST_TAG, record.name))


def study_report(service: RunService, parent_id: str) -> dict[str, Any]:
    """Plain data for `workbench tune --json`."""
    record = service.store.get(parent_id)
    spec = study_spec(record)
    best = record.summary.get("best")
    return {
        "run_id": record.run_id, "study": spec.name, "status": record.status, "status_reason": record.status_reason,
        "task": record.task, "metric": spec.metric, "direction": spec.direction, "n_trials": spec.n_trials,
        "space": [p.to_dict() for p in spec.space], "counts": record.summary.get("trials"),
        "trials": [t.to_dict() for t in study_trials(service, parent_id)],
        "best": None if not best else {k: best[k] for k in ("trial", "run_id", "value", "params", "config")},
        "duration_s": record.duration_s,
    }
