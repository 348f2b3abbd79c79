"""Optuna's study storage: the team's database when there is one, else its own SQLite file.

With WORKBENCH_DB_URL naming a PostgreSQL database, studies live in that database beside the
runs (Optuna's tables and its own `alembic_version`; the store's version table is
`workbench_version`), so drivers and trials in several processes or on several machines share
one study. Without it, a separate `optuna.db` in the workspace rather than workbench.db: Optuna
holds its SQLAlchemy pool and SQLite's write lock on its own schedule, and there it would make the
run store's writers (a worker logging metrics every half second) wait on it.

Trials beat a heartbeat (the driver records it while it polls its run): a trial whose driver
died, here or on another machine, stops beating and is failed by the next driver that looks
(`fail_crashed_trials`).
"""
from __future__ import annotations

import logging
import os
import socket
import threading
import warnings
from pathlib import Path

import optuna
from optuna.trial import TrialState

from core.runs.database import database_url, is_sqlite, redacted
from core.runs.recovery import pid_alive

OPTUNA_DB = "optuna.db"
HEARTBEAT_S = 20  # how often a running trial's driver says it is alive
GRACE_S = 90  # a trial silent this long has lost its driver
DRIVER_ATTR = "driver"  # "host:pid" of the process that asked for the trial

_storages: dict[str, optuna.storages.RDBStorage] = {}
_lock = threading.Lock()

# Optuna prints through its own stderr handler; send its records through `logging` like ours.
optuna.logging.disable_default_handler()
optuna.logging.enable_propagation()
optuna.logging.set_verbosity(optuna.logging.WARNING)

log = logging.getLogger(__name__)

# The driver asks and tells (Study.optimize would run no trial as a run) and beats the heartbeat itself;
# Optuna warns at each ask that heartbeats are meant for optimize, and that they are experimental.
warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed to be used", category=UserWarning)
warnings.filterwarnings("ignore", message=".*``(heartbeat_interval|grace_period)``.*",
                        category=optuna.exceptions.ExperimentalWarning)
warnings.filterwarnings("ignore", message="fail_stale_trials", category=optuna.exceptions.ExperimentalWarning)


def storage_url(workspace: str | Path) -> str:
    """The team's database (WORKBENCH_DB_URL) when it is not SQLite, else the workspace's optuna.db."""
    url = database_url(workspace)
    if not is_sqlite(url):
        return url
    return f"sqlite:///{Path(workspace).resolve() / OPTUNA_DB}"


def optuna_storage(workspace: str | Path) -> optuna.storages.RDBStorage:
    """The workspace's RDB storage, created once per process (its engine and pool are shared by threads)."""
    url = storage_url(workspace)
    with _lock:
        storage = _storages.get(url)
        if storage is None:
            if is_sqlite(url):
                # timeout: wait on a writer in another thread or process instead of failing "database is locked"
                engine_kwargs = {"connect_args": {"timeout": 60}}
            else:  # a team's server may have restarted since this process last asked it something
                engine_kwargs = {"pool_pre_ping": True}
            storage = optuna.storages.RDBStorage(url, engine_kwargs=engine_kwargs, heartbeat_interval=HEARTBEAT_S,
                                                 grace_period=GRACE_S)
            _storages[url] = storage
            log.debug("optuna storage at %s", redacted(url))
        return storage


def study_names(workspace: str | Path) -> list[str]:
    return optuna.get_all_study_names(optuna_storage(workspace))


# --- whose trial is it, and is its driver alive -------------------------------------------------
def this_driver() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def claim(trial: optuna.Trial) -> None:
    """Mark the trial as this process's and beat its first heartbeat."""
    trial.study._storage.set_trial_system_attr(trial._trial_id, DRIVER_ATTR, this_driver())
    beat(trial.study, trial._trial_id)


def beat(study: optuna.Study, trial_id: int) -> None:
    study._storage.record_heartbeat(trial_id)


def fail_crashed_trials(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    """Running trials whose driver is gone end as failed; returns them (as they were before).

    Gone: a process of this machine that no longer exists (known at once), or a heartbeat older
    than GRACE_S (a driver on any machine; Optuna's own stale-trial check)."""
    running = {t._trial_id: t for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))}
    if not running:
        return []
    host = socket.gethostname()
    failed = []
    for trial_id, t in running.items():
        owner = t.system_attrs.get(DRIVER_ATTR)
        owner_host, _, pid = str(owner or "").rpartition(":")
        # no owner: asked for before drivers were recorded, so by a driver that is gone by now
        if owner is None or (owner_host == host and pid.isdigit() and int(pid) != os.getpid()
                             and not pid_alive(int(pid))):
            if _fail(study, trial_id):
                failed.append(t)
    before = {t._trial_id for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))}
    optuna.storages.fail_stale_trials(study)
    after = {t._trial_id for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))}
    failed += [running[i] for i in before - after if i in running]
    for t in failed:
        log.warning("study %s: trial %d lost its driver (%s); marked failed", study.study_name, t.number,
                    t.system_attrs.get(DRIVER_ATTR, "unknown"))
    return failed


def fail_own_trials(study: optuna.Study) -> None:
    """This process's running trials end as failed (its driver is giving up on an error)."""
    me = this_driver()
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if t.system_attrs.get(DRIVER_ATTR) == me:
            _fail(study, t._trial_id)


def _fail(study: optuna.Study, trial_id: int) -> bool:
    try:
        return study._storage.set_trial_state_values(trial_id, state=TrialState.FAIL)
    except optuna.exceptions.UpdateFinishedTrialError:  # another driver got there first
        return False

