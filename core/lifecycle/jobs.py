"""Optimisations in background threads of the app's server process, one per run at a time.

A module-level registry (not session state) so that leaving the Optimize page does not stop one; the
page polls `state(run_id)`. Fine-tuning epochs after pruning train in this thread too: they are few
and small (the run's own rows), where a run's full training goes to a worker process.
"""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field

from core.data import Catalog
from core.errors import WorkbenchError
from core.lifecycle.optimize import OptimizeRequest, optimize_run
from core.runs.store import RunStore

log = logging.getLogger(__name__)


@dataclass
class JobState:
    running: bool = True
    step: str = "starting"
    error: str | None = None
    started_at: float = field(default_factory=time.time)
    ended_at: float | None = None


_jobs: dict[str, tuple[threading.Thread, JobState]] = {}
_lock = threading.Lock()


def start(store: RunStore, catalog: Catalog, run_id: str, request: OptimizeRequest) -> bool:
    """Optimise in a daemon thread unless one already does for this run; True if a new one started."""
    request.validate()  # bad settings are said at once, on the page
    with _lock:
        current = _jobs.get(run_id)
        if current is not None and current[0].is_alive():
            return False
        job = JobState()
        thread = threading.Thread(target=_work, args=(store, catalog, run_id, request, job),
                                  name=f"optimize-{run_id}", daemon=True)
        _jobs[run_id] = (thread, job)
        thread.start()
        return True


def state(run_id: str) -> JobState | None:
    with _lock:
        found = _jobs.get(run_id)
    return found[1] if found else None


def join(run_id: str, timeout_s: float | None = None) -> bool:
    with _lock:
        found = _jobs.get(run_id)
    if found is None:
        return True
    found[0].join(timeout_s)
    return not found[0].is_alive()


def _work(store: RunStore, catalog: Catalog, run_id: str, request: OptimizeRequest, job: JobState) -> None:
    def step(text: str) -> None:
        job.step = text

    try:
        optimize_run(store, catalog, run_id, request, progress=step)
        job.step = "done"
    except WorkbenchError as exc:
        job.error = str(exc)
    except Exception as exc:  # noqa: BLE001 - the page shows one line; the log has the trace
        log.exception("optimising %s", run_id)
        job.error = f"internal error ({type(exc).__name__}: {exc})"
    finally:
        job.running, job.ended_at = False, time.time()
        store.close()  # this thread's sqlite connection


__all__ = ["JobState", "join", "start", "state"]
