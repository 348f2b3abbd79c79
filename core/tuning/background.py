"""Study drivers in background threads of the app's server process, one per study.

A module-level registry (not session state) so that leaving the Tune page, or closing
the browser tab, does not stop a search: the thread lives as long as the server.
The thread only drives; the trials themselves train in the manager's worker processes.
"""
from __future__ import annotations

import logging
import threading

from core.runs.service import RunService
from core.tuning.search import run_study

log = logging.getLogger(__name__)

_threads: dict[str, threading.Thread] = {}
_lock = threading.Lock()


def start(service: RunService, parent_id: str) -> bool:
    """Drive the study in a daemon thread unless one already does; True if a new thread started."""
    with _lock:
        current = _threads.get(parent_id)
        if current is not None and current.is_alive():
            return False
        thread = threading.Thread(target=_drive, args=(service, parent_id), name=f"study-{parent_id}", daemon=True)
        _threads[parent_id] = thread
        thread.start()
        return True


def is_driving(parent_id: str) -> bool:
    with _lock:
        thread = _threads.get(parent_id)
        return thread is not None and thread.is_alive()


def join(parent_id: str, timeout_s: float | None = None) -> bool:
    """Wait for a study's thread (tests, shutdown); True when it has ended."""
    with _lock:
        thread = _threads.get(parent_id)
    if thread is None:
        return True
    thread.join(timeout_s)
    return not thread.is_alive()


def _drive(service: RunService, parent_id: str) -> None:
    try:
        status = run_study(service, parent_id)
        log.info("study %s ended: %s", parent_id, status)
    except Exception:  # noqa: BLE001 - run_study finalizes its own errors; this guards the thread itself
        log.exception("study driver %s", parent_id)
    finally:
        service.store.close()  # this thread's sqlite connection
