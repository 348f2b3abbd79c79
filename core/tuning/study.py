"""A search study: what it searches (StudySpec), and creating, listing, opening, stopping and resuming one.

A study is a parent run (tags ["study", name]) plus an Optuna study of the same name in the
workspace's `optuna.db`; the spec lives in the parent's summary so a restart can resume it.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import optuna

from core.config import RunConfig
from core.errors import ConfigError, WorkbenchError
from core.runs.content_hash import pin_content_hash
from core.runs.prepare import prepare_data
from core.runs.service import RunService
from core.runs.store import RunRecord
from core.tuning.space import SearchParam, check_space
from core.tuning.storage import optuna_storage, study_names
from core.tuning.trials import trial_counts
from core.vocab import ACTIVE, EPOCH_METRICS, metric_direction, metrics_for_task, primary_metric


STUDY_TAG = "study"
TRIAL_TAG = "tune"
BEST_TAG = "tune-best"
PRUNED_TAG = "pruned"
MAX_TRIALS = 1000


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
    executor: str | None = None  # where trials train: "ray", "local"; None: Ray when configured (RunManager.submit)

    @property
    def monitor(self) -> str:
        """The per-epoch validation metric the pruner watches: the metric itself when the trainer logs it
        every epoch, else the logged one that moves the same way (val loss for errors, accuracy or r2 for scores)."""
        if self.metric in EPOCH_METRICS:
            return self.metric
        return "loss" if metric_direction(self.metric) == "min" else primary_metric(self.task)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "metric": self.metric, "direction": self.direction, "n_trials": self.n_trials,
                "space": [p.to_dict() for p in self.space], "task": self.task, "seed": self.seed,
                "pruning": self.pruning, "executor": self.executor}

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> "StudySpec":
        return cls(**{**raw, "space": tuple(SearchParam.from_dict(p) for p in raw["space"])})


def metric_choices(task: str) -> tuple[str, ...]:
    return metrics_for_task(task)


def default_pruner(spec: StudySpec, epochs: int) -> optuna.pruners.BasePruner:
    """MedianPruner: a trial stops when its epoch value is worse than the median of earlier trials at that
    epoch. Three complete trials first, and never in the first tenth of training, when curves still cross."""
    if not spec.pruning:
        return optuna.pruners.NopPruner()
    return optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=max(1, epochs // 10))


# --- creating, listing, stopping ------------------------------------------------------------
def create_study(service: RunService, base: RunConfig, space: Sequence[SearchParam], n_trials: int, *,
                 metric: str | None = None, name: str | None = None, pruning: bool = True,
                 executor: str | None = None) -> str:
    """Check everything a user can get wrong, then record the study (parent run + Optuna study); returns
    the parent's run id. Start it with run_study (CLI) or core.tuning.background.start (UI)."""
    base.validate()
    if not 1 <= int(n_trials) <= MAX_TRIALS:
        raise ConfigError(f"the number of trials must be between 1 and {MAX_TRIALS}, got {n_trials}")
    prepared = prepare_data(base, service.catalog)  # bad data or a model that cannot fit fails before any run
    task = prepared.schema.task
    metric = metric or primary_metric(task)
    if metric not in metric_choices(task):
        raise ConfigError(f"a {task} search can optimise {', '.join(metric_choices(task))}; not '{metric}'")
    space = check_space(base, space)
    name = _unique_name(service, (name or "").strip() or f"tune-{base.model.kind}-{prepared.ref.label}")
    pinned = pin_content_hash(base, prepared.ref)  # the trials are pinned with it, and say nothing more
    base = pinned.config.evolve(name=None)
    spec = StudySpec(name=name, metric=metric, direction="maximize" if metric_direction(metric) == "max"
                     else "minimize", n_trials=int(n_trials), space=tuple(space), task=task,
                     seed=base.train.seed, pruning=pruning, executor=executor)
    study = optuna.create_study(storage=optuna_storage(service.workspace), study_name=name,
                                direction=spec.direction)
    # pid: another process's start-up check sees a live owner and leaves the study alone
    parent_id = service.store.create_run(base.to_dict(), name=name, task=task, model=base.model.kind,
                                         dataset=prepared.ref.label, status="running", tags=(STUDY_TAG, name),
                                         pid=os.getpid(),
                                         summary=pinned.run_summary(study=spec.to_dict(), trials=trial_counts([])))
    service.store.set_status(parent_id, "running")
    study.set_user_attr("parent_id", parent_id)
    return parent_id


def _unique_name(service: RunService, wanted: str) -> str:
    taken = set(study_names(service.workspace))
    if wanted not in taken:
        return wanted
    n = 2
    while f"{wanted}-{n}" in taken:
        n += 1
    return f"{wanted}-{n}"


def list_studies(service: RunService) -> list[RunRecord]:
    """Study parent runs, newest first."""
    return [r for r in service.store.list_runs(include_children=False) if STUDY_TAG in r.tags and r.summary.get("study")]


def study_spec(record: RunRecord) -> StudySpec:
    raw = record.summary.get("study")
    if not raw:
        raise WorkbenchError(f"run {record.run_id} is not a search study")
    return StudySpec.from_dict(raw)


def load_study(service: RunService, parent_id: str) -> optuna.Study:
    spec = study_spec(service.store.get(parent_id))
    return optuna.load_study(study_name=spec.name, storage=optuna_storage(service.workspace),
                             sampler=optuna.samplers.RandomSampler(seed=spec.seed))


def stop_study(service: RunService, parent_id: str) -> None:
    """Ask the driver to stop (any process), and stop the running trial at once; stopping twice is harmless."""
    service.store.request_stop(parent_id)
    for child in service.store.list_runs(parent_id=parent_id):
        if child.status in ACTIVE:
            service.manager.stop(child.run_id)


def can_resume(record: RunRecord) -> bool:
    """A study whose driver is gone (app restarted, or stopped) with trials left to run."""
    if record.status in ACTIVE or not record.summary.get("study"):
        return False
    counts = record.summary.get("trials") or {}
    return int(counts.get("finished", 0)) < int(record.summary["study"]["n_trials"])


def resume_study(service: RunService, parent_id: str) -> None:
    """Mark a stopped or interrupted study as running again; then start its driver."""
    record = service.store.get(parent_id)
    if not can_resume(record):
        raise WorkbenchError(f"study {record.name} is {record.status} with no trials left to run")
    service.store.update(record.run_id, stop_requested=0, pid=os.getpid(), ended_at=None)
    service.store.set_status(record.run_id, "running", only_if_active=False)
