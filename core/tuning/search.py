"""Hyperparameter search: an Optuna study whose trials are ordinary runs in the run store.

A study is a parent run (tags ["study", name]) plus an Optuna study of the same name
in the workspace's `optuna.db`. The driver, `run_study`, asks Optuna for a trial,
submits it to the RunManager (same queue and device rules as any run, trained in a
worker process), and polls the trial's validation rows from the store: each epoch's
value goes to `trial.report`, and when the MedianPruner says so the driver stops the
run and tells Optuna PRUNED. The driver runs in the CLI process or in a thread of
the UI server (core.tuning.background); it checks the parent's stop flag between
polls, so a study can be stopped from any process.
"""
from __future__ import annotations

import logging
import math
import os
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

import optuna
from optuna.trial import TrialState

from core.config import RunConfig
from core.errors import ConfigError, WorkbenchError
from core.evaluation.metrics import CLASSIFICATION_METRICS, METRIC_DIRECTION, REGRESSION_METRICS, primary_metric
from core.runs.prepare import prepare_data
from core.runs.store import ACTIVE, RunRecord
from core.tuning.space import SearchParam, apply_values, check_space, suggest
from core.tuning.storage import optuna_storage, study_names

if TYPE_CHECKING:
    from core.engine import Engine

log = logging.getLogger(__name__)

STUDY_TAG = "study"
TRIAL_TAG = "tune"
BEST_TAG = "tune-best"
PRUNED_TAG = "pruned"
MAX_TRIALS = 1000
EPOCH_METRICS = ("loss", "accuracy", "r2")  # what the trainer logs for validation every epoch


@dataclass(frozen=True)
class StudySpec:
    """What a study searches and optimises; kept in the parent run's summary so a restart can resume it."""

    name: str
    metric: str  # a validation metric from the run summary (accuracy, roc_auc, r2, ...)
    direction: str  # "maximize" | "minimize"
    n_trials: int
    space: tuple[SearchParam, ...]
    task: str
    seed: int = 0
    pruning: bool = True

    @property
    def monitor(self) -> str:
        """The per-epoch validation metric the pruner watches: the metric itself when the trainer logs it
        every epoch, else the logged one that moves the same way (val loss for errors, accuracy or r2 for scores)."""
        if self.metric in EPOCH_METRICS:
            return self.metric
        if METRIC_DIRECTION[self.metric] == "min":
            return "loss"
        return "r2" if self.task == "regression" else "accuracy"

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "metric": self.metric, "direction": self.direction, "n_trials": self.n_trials,
                "space": [p.to_dict() for p in self.space], "task": self.task, "seed": self.seed,
                "pruning": self.pruning}

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> "StudySpec":
        return cls(**{**raw, "space": tuple(SearchParam.from_dict(p) for p in raw["space"])})


def metric_choices(task: str) -> tuple[str, ...]:
    return REGRESSION_METRICS if task == "regression" else CLASSIFICATION_METRICS


def default_pruner(spec: StudySpec, epochs: int) -> optuna.pruners.BasePruner:
    """MedianPruner: a trial stops when its epoch value is worse than the median of earlier trials at that
    epoch. Three complete trials first, and never in the first tenth of training, when curves still cross."""
    if not spec.pruning:
        return optuna.pruners.NopPruner()
    return optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=max(1, epochs // 10))


# --- creating, listing, stopping ------------------------------------------------------------
def create_study(engine: "Engine", base: RunConfig, space: Sequence[SearchParam], n_trials: int, *,
                 metric: str | None = None, name: str | None = None, pruning: bool = True) -> str:
    """Check everything a user can get wrong, then record the study (parent run + Optuna study); returns
    the parent's run id. Start it with run_study (CLI) or core.tuning.background.start (UI)."""
    base.validate()
    if not 1 <= int(n_trials) <= MAX_TRIALS:
        raise ConfigError(f"the number of trials must be between 1 and {MAX_TRIALS}, got {n_trials}")
    prepared = prepare_data(base, engine.catalog)  # bad data or a model that cannot fit fails before any run
    task = prepared.schema.task
    metric = metric or primary_metric(task)
    if metric not in metric_choices(task):
        raise ConfigError(f"a {task} search can optimise {', '.join(metric_choices(task))}; not '{metric}'")
    space = check_space(base, space)
    name = _unique_name(engine, (name or "").strip() or f"tune-{base.model.kind}-{prepared.ref.name}")
    base = base.evolve(data={"content_hash": prepared.ref.sha256}, name=None)
    spec = StudySpec(name=name, metric=metric, direction="maximize" if METRIC_DIRECTION[metric] == "max"
                     else "minimize", n_trials=int(n_trials), space=tuple(space), task=task,
                     seed=base.train.seed, pruning=pruning)
    study = optuna.create_study(storage=optuna_storage(engine.workspace), study_name=name,
                                direction=spec.direction)
    # pid: another process's start-up check sees a live owner and leaves the study alone
    parent_id = engine.store.create_run(base.to_dict(), name=name, task=task, model=base.model.kind,
                                        dataset=prepared.ref.name, status="running", tags=(STUDY_TAG, name),
                                        pid=os.getpid())
    engine.store.update(parent_id, summary={"study": spec.to_dict(), "trials": _counts([])})
    engine.store.set_status(parent_id, "running")
    study.set_user_attr("parent_id", parent_id)
    return parent_id


def _unique_name(engine: "Engine", wanted: str) -> str:
    taken = set(study_names(engine.workspace))
    if wanted not in taken:
        return wanted
    n = 2
    while f"{wanted}-{n}" in taken:
        n += 1
    return f"{wanted}-{n}"


def list_studies(engine: "Engine") -> list[RunRecord]:
    """Study parent runs, newest first."""
    return [r for r in engine.store.list_runs(include_children=False) if STUDY_TAG in r.tags and r.summary.get("study")]


def study_spec(record: RunRecord) -> StudySpec:
    raw = record.summary.get("study")
    if not raw:
        raise WorkbenchError(f"run {record.run_id} is not a search study")
    return StudySpec.from_dict(raw)


def load_study(engine: "Engine", parent_id: str) -> optuna.Study:
    spec = study_spec(engine.store.get(parent_id))
    return optuna.load_study(study_name=spec.name, storage=optuna_storage(engine.workspace),
                             sampler=optuna.samplers.RandomSampler(seed=spec.seed))


def stop_study(engine: "Engine", parent_id: str) -> None:
    """Ask the driver to stop (any process), and stop the running trial at once; stopping twice is harmless."""
    engine.store.request_stop(parent_id)
    for child in engine.store.list_runs(parent_id=parent_id):
        if child.status in ACTIVE:
            engine.manager.stop(child.run_id)


def can_resume(record: RunRecord) -> bool:
    """A study whose driver is gone (app restarted, or stopped) with trials left to run."""
    if record.status in ACTIVE or not record.summary.get("study"):
        return False
    counts = record.summary.get("trials") or {}
    return int(counts.get("finished", 0)) < int(record.summary["study"]["n_trials"])


def resume_study(engine: "Engine", parent_id: str) -> None:
    """Mark a stopped or interrupted study as running again; then start its driver."""
    record = engine.store.get(parent_id)
    if not can_resume(record):
        raise WorkbenchError(f"study {record.name} is {record.status} with no trials left to run")
    engine.store.update(record.run_id, stop_requested=0, pid=os.getpid(), ended_at=None)
    engine.store.set_status(record.run_id, "running", only_if_active=False)


# --- the driver ---------------------------------------------------------------------------------
@dataclass
class TrialRow:
    """One trial as the page and the CLI show it: Optuna's state joined with its run."""

    number: int
    state: str  # running | complete | pruned | failed | stopped
    value: float | None
    params: dict[str, Any]
    run_id: str | None
    run_status: str | None = None
    duration_s: float | None = None
    pruned_epoch: int | None = None
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class _Outcome:
    state: TrialState
    value: float | None = None
    stopped: bool = False  # the user stopped the study during this trial
    pruned_epoch: int | None = None
    reason: str | None = None


@dataclass
class _Watch:
    after_id: int = 0
    reported: set[int] = field(default_factory=set)
    pruned_epoch: int | None = None
    user_stop: bool = False


def run_study(engine: "Engine", parent_id: str, *, should_stop: Callable[[], bool] | None = None,
              on_trial: Callable[[TrialRow], None] | None = None,
              pruner: optuna.pruners.BasePruner | None = None, poll_s: float = 0.2) -> str:
    """Run the study's remaining trials one after another; returns the parent's terminal status.

    One trial at a time: the manager runs one run per device anyway, and a sequential
    TPE with a fixed seed proposes the same trials every time.
    """
    store = engine.store
    record = store.get(parent_id)
    spec = study_spec(record)
    base = RunConfig.from_dict(record.config)
    store.update(parent_id, pid=os.getpid())
    storage = optuna_storage(engine.workspace)
    # A resumed study reseeds past its trials: the same seed again would replay the first random proposals.
    done_before = len(optuna.load_study(study_name=spec.name, storage=storage,
                                        sampler=optuna.samplers.RandomSampler()).get_trials(deepcopy=False))
    study = optuna.load_study(study_name=spec.name, storage=storage,
                              sampler=optuna.samplers.TPESampler(seed=spec.seed + done_before),
                              pruner=pruner or default_pruner(spec, base.train.epochs))
    _fail_leftovers(engine, study)

    def stop_now() -> bool:
        return store.stop_requested(parent_id) or bool(should_stop and should_stop())

    stopped, error = False, None
    try:
        while _finished(study) < spec.n_trials and not stopped:
            if stop_now():
                stopped = True
                break
            trial = study.ask()
            outcome = _run_trial(engine, parent_id, spec, base, trial, stop_now, poll_s)
            _tell(study, trial, outcome)
            stopped = outcome.stopped
            _write_summary(engine, parent_id, spec, study)
            if on_trial:
                on_trial(_trial_row(engine, study.get_trials(deepcopy=False)[trial.number]))
    except Exception as exc:  # noqa: BLE001 - the study fails with a reason rather than staying "running"
        log.exception("study %s failed", spec.name)
        error = f"the search stopped on an internal error ({type(exc).__name__}: {exc})"
        for child in store.list_runs(parent_id=parent_id):
            if child.status in ACTIVE:
                engine.manager.stop(child.run_id)
    return _finalize(engine, parent_id, spec, study, stopped, error)


def _run_trial(engine: "Engine", parent_id: str, spec: StudySpec, base: RunConfig, trial: optuna.Trial,
               stop_now: Callable[[], bool], poll_s: float) -> _Outcome:
    store = engine.store
    values = suggest(trial, spec.space)
    try:
        config = apply_values(base, values)
    except ConfigError as exc:  # a combination the model rejects: this trial fails, the search goes on
        trial.set_user_attr("reason", str(exc))
        return _Outcome(TrialState.FAIL, reason=str(exc))
    run_id = engine.manager.submit(config, name=f"{spec.name}-trial{trial.number}", parent_id=parent_id,
                                   tags=(TRIAL_TAG, spec.name, f"trial:{trial.number}"))
    trial.set_user_attr("run_id", run_id)
    watch = _Watch()
    while True:
        status = store.get(run_id).status  # read before the rows, so the last rows are read after the end
        _report_new_rows(engine, spec, trial, run_id, watch)
        if status not in ACTIVE:
            break
        if not watch.user_stop and watch.pruned_epoch is None and stop_now():
            watch.user_stop = True
            engine.manager.stop(run_id)
        time.sleep(poll_s)
    return _outcome(engine, spec, run_id, watch)


def _report_new_rows(engine: "Engine", spec: StudySpec, trial: optuna.Trial, run_id: str, watch: _Watch) -> None:
    for row in engine.store.metrics(run_id, watch.after_id):
        watch.after_id = row["id"]
        if (row["split"] != "val" or row["name"] != spec.monitor or row["value"] is None
                or row["epoch"] in watch.reported or watch.pruned_epoch is not None or watch.user_stop):
            continue
        trial.report(float(row["value"]), int(row["epoch"]))
        watch.reported.add(int(row["epoch"]))
        if trial.should_prune():
            watch.pruned_epoch = int(row["epoch"])
            engine.manager.stop(run_id)
            log.info("trial %d pruned at epoch %d", trial.number, watch.pruned_epoch)


def _outcome(engine: "Engine", spec: StudySpec, run_id: str, watch: _Watch) -> _Outcome:
    store = engine.store
    record = store.get(run_id)
    if record.status == "cancelled" and watch.pruned_epoch is not None:
        reason = (f"pruned by the search at epoch {watch.pruned_epoch}: val {spec.monitor} was worse than the "
                  "median of earlier trials")
        # the worker wrote "stopped by the user"; say what really happened so tables show "pruned"
        store.update(run_id, tags=[*record.tags, PRUNED_TAG], status_reason=reason,
                     summary={**record.summary, "pruned_at_epoch": watch.pruned_epoch})
        return _Outcome(TrialState.PRUNED, pruned_epoch=watch.pruned_epoch, reason=reason)
    if watch.user_stop and record.status != "completed":
        return _Outcome(TrialState.FAIL, stopped=True, reason="stopped with the study")
    if record.status == "completed":
        value = record.metrics.get("val", {}).get(spec.metric)
        if value is not None and math.isfinite(value):
            return _Outcome(TrialState.COMPLETE, value=float(value), stopped=watch.user_stop)
        return _Outcome(TrialState.FAIL, stopped=watch.user_stop, reason=f"val {spec.metric} is not a number")
    return _Outcome(TrialState.FAIL, reason=f"run {record.status}: {record.status_reason}")


def _tell(study: optuna.Study, trial: optuna.Trial, outcome: _Outcome) -> None:
    if outcome.reason:
        trial.set_user_attr("reason", outcome.reason)
    if outcome.pruned_epoch is not None:
        trial.set_user_attr("pruned_epoch", outcome.pruned_epoch)
    if outcome.stopped:
        trial.set_user_attr("stopped", True)
    if outcome.state == TrialState.COMPLETE:
        study.tell(trial, outcome.value)
    else:
        study.tell(trial, state=outcome.state)


def _fail_leftovers(engine: "Engine", study: optuna.Study) -> None:
    """Trials a previous driver left running (the app stopped mid-trial) end as failed, and so do their runs."""
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        run_id = t.user_attrs.get("run_id")
        if run_id:
            engine.manager.stop(run_id)
        study.tell(t.number, state=TrialState.FAIL, skip_if_finished=True)


def _finished(study: optuna.Study) -> int:
    return len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)))


# --- results -------------------------------------------------------------------------------------
def _trial_row(engine: "Engine", t: optuna.trial.FrozenTrial, records: Mapping[str, RunRecord] | None = None) -> TrialRow:
    run_id = t.user_attrs.get("run_id")
    record = (records or {}).get(run_id) if records is not None else _get_or_none(engine, run_id)
    state = {TrialState.COMPLETE: "complete", TrialState.PRUNED: "pruned", TrialState.FAIL: "failed",
             TrialState.RUNNING: "running", TrialState.WAITING: "running"}[t.state]
    if state == "failed" and t.user_attrs.get("stopped"):
        state = "stopped"
    duration = record.duration_s if record else None
    return TrialRow(number=t.number, state=state, value=t.value, params=dict(t.params), run_id=run_id,
                    run_status=record.status if record else None, duration_s=duration,
                    pruned_epoch=t.user_attrs.get("pruned_epoch"), reason=t.user_attrs.get("reason"))


def _get_or_none(engine: "Engine", run_id: str | None) -> RunRecord | None:
    if not run_id:
        return None
    try:
        return engine.store.get(run_id)
    except WorkbenchError:
        return None


def study_trials(engine: "Engine", parent_id: str, study: optuna.Study | None = None) -> list[TrialRow]:
    """Every trial so far, oldest first (one store query for all their runs)."""
    study = study or load_study(engine, parent_id)
    records = {r.run_id: r for r in engine.store.list_runs(parent_id=parent_id)}
    return [_trial_row(engine, t, records) for t in study.get_trials(deepcopy=False)]


def _counts(trials: Sequence[TrialRow]) -> dict[str, int]:
    counts = {s: 0 for s in ("complete", "pruned", "failed", "stopped", "running")}
    for t in trials:
        counts[t.state] += 1
    counts["finished"] = counts["complete"] + counts["pruned"] + counts["failed"] + counts["stopped"]
    return counts


def _best(engine: "Engine", study: optuna.Study) -> dict[str, Any] | None:
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if not complete:
        return None
    best = study.best_trial
    run_id = best.user_attrs.get("run_id")
    record = _get_or_none(engine, run_id)
    return {"trial": best.number, "run_id": run_id, "value": best.value, "params": dict(best.params),
            "config": record.config if record else None, "metrics": record.metrics if record else {}}


def _write_summary(engine: "Engine", parent_id: str, spec: StudySpec, study: optuna.Study) -> dict[str, Any]:
    best = _best(engine, study)
    trials = study_trials(engine, parent_id, study)
    summary = {"study": spec.to_dict(), "trials": _counts(trials), "best": best,
               "metrics": best["metrics"] if best else {}}  # the best trial's metrics, so run tables show them
    engine.store.update(parent_id, summary=summary)
    return summary


def _finalize(engine: "Engine", parent_id: str, spec: StudySpec, study: optuna.Study, stopped: bool,
              error: str | None) -> str:
    summary = _write_summary(engine, parent_id, spec, study)
    counts = summary["trials"]
    done = f"{counts['finished']} of {spec.n_trials} trials"
    if error:
        status, reason = "failed", error
    elif stopped:
        status, reason = "cancelled", f"stopped by the user after {done}"
    elif counts["complete"]:
        status, reason = "completed", None
    else:
        status, reason = "failed", f"no trial completed ({done}: see the trial runs for why)"
    best_run = _get_or_none(engine, summary["best"]["run_id"]) if summary["best"] else None
    if best_run and best_run.device:
        engine.store.update(parent_id, device=best_run.device)
    engine.store.set_status(parent_id, status, reason)
    return engine.store.get(parent_id).status


def best_config(engine: "Engine", parent_id: str) -> RunConfig:
    best = engine.store.get(parent_id).summary.get("best")
    if not best or not best.get("config"):
        raise WorkbenchError("this study has no completed trial yet")
    return RunConfig.from_dict(best["config"])


def submit_best(engine: "Engine", parent_id: str) -> str:
    """Train the best trial's config again as a new, ordinary run (the page's one-click button)."""
    record = engine.store.get(parent_id)
    config = best_config(engine, parent_id)
    return engine.manager.submit(config, name=f"{record.name}-best", tags=(BEST_TAG, record.name))


def study_report(engine: "Engine", parent_id: str) -> dict[str, Any]:
    """Plain data for `workbench tune --json`."""
    record = engine.store.get(parent_id)
    spec = study_spec(record)
    best = record.summary.get("best")
    return {
        "run_id": record.run_id, "study": spec.name, "status": record.status, "status_reason": record.status_reason,
        "task": record.task, "metric": spec.metric, "direction": spec.direction, "n_trials": spec.n_trials,
        "space": [p.to_dict() for p in spec.space], "counts": record.summary.get("trials"),
        "trials": [t.to_dict() for t in study_trials(engine, parent_id)],
        "best": None if not best else {k: best[k] for k in ("trial", "run_id", "value", "params", "config")},
        "duration_s": record.duration_s,
    }


__all__ = [
    "STUDY_TAG", "TRIAL_TAG", "BEST_TAG", "PRUNED_TAG", "StudySpec", "TrialRow", "metric_choices",
    "default_pruner", "create_study", "list_studies", "study_spec", "load_study", "stop_study", "can_resume",
    "resume_study", "run_study", "study_trials", "best_config", "submit_best", "study_report",
]
