"""Crash recovery: runs whose process died become interrupted, and their leftovers are tidied.

A worker killed mid-write leaves a half-written temp file (core.atomic writes via one) and
perhaps an artifact row whose file is gone or changed. Start-up calls `mark_orphans`; the run
manager's reaper calls `recover` for one run once its process is gone.
"""
from __future__ import annotations

import fnmatch
import logging
import os
import time
from pathlib import Path

from core.atomic import sha256_file
from core.errors import RunNotFound
from core.runs.store import RunStore, this_host
from core.vocab import ACTIVE, TERMINAL

log = logging.getLogger(__name__)

TRAINING = ("running", "paused")  # a process holds the run: it must be alive and beating
TEMP_GLOB = ".*.tmp"  # core.atomic's temp files: a process killed mid-write leaves one behind


def mark_orphans(store: RunStore, stale_after_s: float = 120.0) -> list[str]:
    """Runs whose worker is gone become interrupted (called at start-up), and every run that
    has ended loses the temp files a killed writer left behind.

    A process id means something only on its own machine: a run another machine trains (a team's
    shared database, a Ray node) is judged by its heartbeat alone, and one queued there is left to it
    (a Ray run waits for a node in Ray's queue, whichever machine submitted it)."""
    marked = []
    # only a run in a live status can be an orphan: reading every run (its JSON parsed) cost each CLI
    # command ~0.1 s per 500 runs in the workspace
    runs = store.list_runs(status=ACTIVE)
    here = this_host()
    for run in runs:
        if run.host not in (None, here) or run.executor == "ray":  # a Ray job's pid is its node's
            if run.status in TRAINING and _stale(run.heartbeat_at or run.started_at, stale_after_s):
                if store.set_status(run.run_id, "interrupted", f"the training process on {run.host} stopped "
                                                               "sending heartbeats"):
                    marked.append(run.run_id)
            continue
        if run.status in TRAINING and (not pid_alive(run.pid) or _stale(run.heartbeat_at, stale_after_s)):
            if store.set_status(run.run_id, "interrupted", "the training process stopped unexpectedly"):
                marked.append(run.run_id)
        elif run.status == "queued" and not pid_alive(run.pid or run.owner_pid):
            if store.set_status(run.run_id, "interrupted", "the app stopped before this run started"):
                marked.append(run.run_id)
    for run_id in marked:
        recover(store, run_id)
    for run_id in store.run_ids(TERMINAL):  # never a live run's folder: its writer may be mid-write
        if run_id not in marked:
            _sweep_temp_files(store, run_id)
    return marked


def recover(store: RunStore, run_id: str) -> list[str]:
    """Tidy a run whose process died: remove half-written temp files and forget artifacts whose
    file is gone or no longer matches its recorded sha256. Returns what was removed, in words.

    Call it only once the run's process is gone (the reaper, start-up recovery)."""
    removed = _sweep_temp_files(store, run_id)
    for kind, art in store.artifacts(run_id).items():
        path = Path(art["path"])
        try:
            intact = sha256_file(path) == art["sha256"]
        except OSError:
            intact = False
        if not intact:
            store.forget_artifact(run_id, kind)
            removed.append(f"artifact {kind} ({path.name}: missing or changed)")
    if removed:
        log.warning("run %s: removed %s", run_id, ", ".join(removed))
    return removed


def _sweep_temp_files(store: RunStore, run_id: str) -> list[str]:
    removed = []
    try:
        folder = store.run_dir(run_id)
        # os.walk, not Path.rglob: a third of the time over a workspace of many runs
        leftovers = [Path(top, name) for top, _dirs, names in os.walk(folder)
                     for name in fnmatch.filter(names, TEMP_GLOB)]
    except RunNotFound:
        return removed
    for path in leftovers:
        try:
            path.unlink()
            removed.append(path.name)
        except OSError as exc:
            log.warning("cannot remove the temp file %s: %s", path, exc)
    return removed


def pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie child has exited; treat it as gone
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(") ")[-1][:1] != "Z"
    except OSError:
        return True


def _stale(heartbeat_at: float | None, after_s: float) -> bool:
    return heartbeat_at is not None and time.time() - heartbeat_at > after_s
