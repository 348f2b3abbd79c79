"""Optuna's study storage: its own SQLite file in the workspace, one storage object per file.

A separate `optuna.db` (not workbench.db) so that SQLAlchemy's connection pool and
locks never hold up the run store's writers. Studies there survive an app restart.
"""
from __future__ import annotations

import logging
import threading
from pathlib import Path

import optuna

OPTUNA_DB = "optuna.db"

_storages: dict[str, optuna.storages.RDBStorage] = {}
_lock = threading.Lock()

# Optuna prints through its own stderr handler; send its records through `logging` like ours.
optuna.logging.disable_default_handler()
optuna.logging.enable_propagation()
optuna.logging.set_verbosity(optuna.logging.WARNING)

log = logging.getLogger(__name__)


def storage_url(workspace: str | Path) -> str:
    return f"sqlite:///{Path(workspace).resolve() / OPTUNA_DB}"


def optuna_storage(workspace: str | Path) -> optuna.storages.RDBStorage:
    """The workspace's RDB storage, created once per process (its engine and pool are shared by threads)."""
    url = storage_url(workspace)
    with _lock:
        storage = _storages.get(url)
        if storage is None:
            # timeout: wait on a writer in another thread or process instead of failing with "database is locked"
            storage = optuna.storages.RDBStorage(url, engine_kwargs={"connect_args": {"timeout": 60}})
            _storages[url] = storage
            log.debug("optuna storage at %s", url)
        return storage


def study_names(workspace: str | Path) -> list[str]:
    return optuna.get_all_study_names(optuna_storage(workspace))
