"""The study driver: `run_study` runs a study's remaining trials, one run each, and tells Optuna how they went.

It asks Optuna for a trial, submits it to the RunManager (same queue and device rules as any
run, trained in a worker process), and polls the trial's validation rows from the store: each
epoch's value goes to `trial.report`, and when the pruner says so the driver stops the run and
tells Optuna PRUNED. Trials on this machine's CPU queue run side by side, as many as the queue
trains at once (core.runs.queue.side_by_side_on_cpu), through Optuna's ask and tell; elsewhere
(a GPU, a Ray cluster) one at a time. The driver runs in the CLI process or in a thread of the UI server
(core.tuning.background); it checks the parent's stop flag between polls, so a study can be
stopped from any process.
"""
from __future__ import annotations

import logging
import math
import os
import time
from dataclasses import dataclass, field
from typing import Callable

import optuna
from optuna.trial import TrialState

from core.config import RunConfig
from core.errors import ConfigError
from core.runs.queue import shares_the_cpu, side_by_side_on_cpu
from core.runs.service import RunService
from core.runs.store import RunRecord
from core.tuning.results import run_or_none, trial_row, write_summary
from core.tuning.space import apply_values, suggest
from core.tuning.storage import HEARTBEAT_S, beat, claim, fail_crashed_trials, fail_own_trials, optuna_storage
from core.tuning.study import PRUNED_TAG, TRIAL_TAG, StudySpec, default_pruner, study_spec
from core.tuning.trials import TrialRow
from core.vocab import ACTIVE

log = logging.getLogger(__name__)


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


@dataclass
class _InFlight:
    trial: optuna.Trial
    run_id: str
    watch: _Watch = field(default_factory=_Watch)
    next_beat: float = field(default_factory=lambda: time.monotonic() + HEARTBEAT_S)


def run_study(service: RunService, parent_id: str, *, should_stop: Callable[[], bool] | None = None,
              on_trial: Callable[[TrialRow], None] | None = None,
              pruner: optuna.pruners.BasePruner | None = None, poll_s: float = 0.2) -> str:
    """Run the study's remaining trials; returns the parent's terminal status.

    Trials that share this machine's CPU queue run side by side (as many as the queue trains at
    once); a GPU's or a cluster's one after another. The TPE sampler's first trials are seeded
    random proposals, so a small search proposes the same trials either way.
    """
    store = service.store
    record = store.get(parent_id)
    spec = study_spec(record)
    base = RunConfig.from_dict(record.config)
    store.update(parent_id, pid=os.getpid())
    storage = optuna_storage(service.workspace)
    # A resumed study reseeds past its trials: the same seed again would replay the first random proposals.
    done_before = len(optuna.load_study(study_name=spec.name, storage=storage,
                                        sampler=optuna.samplers.RandomSampler()).get_trials(deepcopy=False))
    study = optuna.load_study(study_name=spec.name, storage=storage,
                              sampler=optuna.samplers.TPESampler(seed=spec.seed + done_before),
                              pruner=pruner or default_pruner(spec, base.train.epochs))
    _fail_leftovers(service, study)

    def stop_now() -> bool:
        return store.stop_requested(parent_id) or bool(should_stop and should_stop())

    def told(trial: optuna.Trial, outcome: _Outcome) -> None:
        _tell(study, trial, outcome)
        write_summary(service, parent_id, spec, study)
        if on_trial:
            on_trial(trial_row(service, study.get_trials(deepcopy=False)[trial.number]))

    stopped, error = False, None
    flying: list[_InFlight] = []
    width = 1  # until the first trial's run says which queue the trials wait in
    try:
        while True:
            if not stopped and stop_now():
                stopped = True
            # another driver's running trial counts: drivers sharing a study (several processes or
            # machines on one database) never run more than n_trials between them
            while not stopped and len(flying) < width and _finished(study) + _running(study) < spec.n_trials:
                trial = study.ask()
                claim(trial)
                started = _start_trial(service, parent_id, spec, base, trial)
                if isinstance(started, _Outcome):
                    told(trial, started)
                    continue
                flying.append(started)
                width = _side_by_side(store.get(started.run_id))
            if not flying:
                break
            for item in list(flying):
                outcome = _poll_trial(service, spec, item, stopped, stop_now)
                if outcome is None:
                    continue
                flying.remove(item)
                told(item.trial, outcome)
                stopped = stopped or outcome.stopped
            if flying:
                time.sleep(poll_s)
        if not stopped:
            stopped = _wait_for_other_drivers(service, study, stop_now, poll_s)
    except Exception as exc:  # noqa: BLE001 - the study fails with a reason rather than staying "running"
        log.exception("study %s failed", spec.name)
        error = f"the search stopped on an internal error ({type(exc).__name__}: {exc})"
        for child in store.list_runs(parent_id=parent_id):
            if child.status in ACTIVE:
                service.manager.stop(child.run_id)
        fail_own_trials(study)
    return _finalize(service, parent_id, spec, study, stopped, error)


def _side_by_side(run: RunRecord) -> int:
    """How many trials run at once: the CPU queue's side-by-side count for trials it trains here."""
    return side_by_side_on_cpu() if shares_the_cpu(run) and run.executor != "ray" else 1


def _start_trial(service: RunService, parent_id: str, spec: StudySpec, base: RunConfig,
                 trial: optuna.Trial) -> _InFlight | _Outcome:
    values = suggest(trial, spec.space)
    try:
        config = apply_values(base, values)
    except ConfigError as exc:  # a combination the model rejects: this trial fails, the search goes on
        trial.set_user_attr("reason", str(exc))
        return _Outcome(TrialState.FAIL, reason=str(exc))
    run_id = service.manager.submit(config, name=f"{spec.name}-trial{trial.number}", parent_id=parent_id,
                                   tags=(TRIAL_TAG, spec.name, f"trial:{trial.number}"), executor=spec.executor)
    trial.set_user_attr("run_id", run_id)
    return _InFlight(trial, run_id)


def _poll_trial(service: RunService, spec: StudySpec, item: _InFlight, stopping: bool,
                stop_now: Callable[[], bool]) -> _Outcome | None:
    """One look at a trial's run: its new rows reported, a stop passed on; its outcome once it has ended."""
    trial, run_id, watch = item.trial, item.run_id, item.watch
    if time.monotonic() >= item.next_beat:
        beat(trial.study, trial._trial_id)
        item.next_beat = time.monotonic() + HEARTBEAT_S
    status = service.store.get(run_id).status  # read before the rows, so the last rows are read after the end
    _report_new_rows(service, spec, trial, run_id, watch)
    if status not in ACTIVE:
        if status == "cancelled" and watch.pruned_epoch is None and not watch.user_stop and stop_now():
            # stop_study flags the study before it stops the trials, so a trial cancelled (still queued,
            # or stopped) before this driver passed the stop on was stopped with the study, not failed
            watch.user_stop = True
        return _outcome(service, spec, run_id, watch)
    if stopping and not watch.user_stop and watch.pruned_epoch is None:
        watch.user_stop = True
        service.manager.stop(run_id)
    return None


def _report_new_rows(service: RunService, spec: StudySpec, trial: optuna.Trial, run_id: str, watch: _Watch) -> None:
    for row in service.store.epoch_rows(run_id, watch.after_id):
        watch.after_id = row["id"]
        if (row["split"] != "val" or row["name"] != spec.monitor or row["value"] is None
                or row["epoch"] in watch.reported or watch.pruned_epoch is not None or watch.user_stop):
            continue
        trial.report(float(row["value"]), int(row["epoch"]))
        watch.reported.add(int(row["epoch"]))
        if trial.should_prune():
            watch.pruned_epoch = int(row["epoch"])
            service.manager.stop(run_id)
            log.info("trial %d pruned at epoch %d", trial.number, watch.pruned_epoch)


def _outcome(service: RunService, spec: StudySpec, run_id: str, watch: _Watch) -> _Outcome:
    store = service.store
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


def _fail_leftovers(service: RunService, study: optuna.Study) -> None:
    """Trials whose driver died (the app or a CLI stopped mid-trial, here or on another machine) end as
    failed, and their runs are stopped; a live driver's trials are left to it."""
    for t in fail_crashed_trials(study):
        run_id = t.user_attrs.get("run_id")
        if run_id:
            service.manager.stop(run_id)


def _running(study: optuna.Study) -> int:
    return len(study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)))


def _wait_for_other_drivers(service: RunService, study: optuna.Study, stop_now: Callable[[], bool],
                            poll_s: float) -> bool:
    """The last trials may be another driver's: the study ends when they do (or their driver is found
    dead). Returns True when the user stopped the study meanwhile."""
    while _running(study):
        if stop_now():
            return True
        _fail_leftovers(service, study)
        time.sleep(max(poll_s, 0.5))
    return False


def _finished(study: optuna.Study) -> int:
    return len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)))


def _finalize(service: RunService, parent_id: str, spec: StudySpec, study: optuna.Study, stopped: bool,
              error: str | None) -> str:
    summary = write_summary(service, parent_id, spec, study)
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
    best_run = run_or_none(service, summary["best"]["run_id"]) if summary["best"] else None
    if best_run and best_run.device:
        service.store.update(parent_id, device=best_run.device)
    service.store.set_status(parent_id, status, reason)
    return service.store.get(parent_id).status
