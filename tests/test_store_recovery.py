"""core.runs.recovery: who counts as an orphan, and what is swept."""
from __future__ import annotations

import os
import time
from pathlib import Path

from core.atomic import write_atomic
from core.runs import recovery
from core.runs.store import RunStore

DEAD_PID = 2**22 + 12345  # above the default pid_max: never a live process


def test_a_queued_run_whose_owner_is_gone_is_interrupted(workspace: Path) -> None:
    store = RunStore(workspace)
    orphan = store.create_run({}, owner_pid=DEAD_PID)
    owned = store.create_run({}, owner_pid=os.getpid())
    assert recovery.mark_orphans(store) == [orphan]
    assert store.get(orphan).status_reason == "the app stopped before this run started"
    assert store.get(owned).status == "queued"


def test_a_running_run_with_a_live_pid_but_no_heartbeat_is_interrupted(workspace: Path) -> None:
    store = RunStore(workspace)
    silent = store.create_run({}, status="running", pid=os.getpid())
    alive = store.create_run({}, status="running", pid=os.getpid())
    store.update(silent, heartbeat_at=time.time() - 600)
    store.heartbeat(alive)
    assert recovery.mark_orphans(store, stale_after_s=120) == [silent]
    assert store.get(silent).status == "interrupted" and store.get(alive).status == "running"


def test_ended_runs_lose_their_temp_files_and_keep_their_status(workspace: Path) -> None:
    store = RunStore(workspace)
    run_id = store.create_run({}, status="running", pid=os.getpid())
    store.set_status(run_id, "completed")
    leftover = store.run_dir(run_id) / ".weights.safetensors.x1.tmp"
    leftover.write_bytes(b"half")
    live = store.create_run({}, status="running", pid=os.getpid())
    store.heartbeat(live)
    nested = store.run_dir(live) / "variants" / ".int8.safetensors.x2.tmp"  # a live writer's, mid-write
    nested.parent.mkdir(parents=True)
    nested.write_bytes(b"half")
    deep = store.run_dir(run_id) / "explain" / ".shap.parquet.x3.tmp"
    deep.parent.mkdir(parents=True)
    deep.write_bytes(b"half")
    assert recovery.mark_orphans(store) == []
    assert not leftover.exists() and not deep.exists() and store.get(run_id).status == "completed"
    assert nested.exists() and store.get(live).status == "running"


def test_recover_says_what_it_removed(workspace: Path) -> None:
    store = RunStore(workspace)
    run_id = store.create_run({}, status="running", pid=DEAD_PID)
    folder = store.run_dir(run_id)
    store.add_artifact(run_id, "report", write_atomic(folder / "report.json", "{}"))
    (folder / "report.json").unlink()
    (folder / ".a.json.x.tmp").write_bytes(b"")
    assert recovery.recover(store, run_id) == [".a.json.x.tmp", "artifact report (report.json: missing or changed)"]
    assert store.artifacts(run_id) == {} and recovery.recover(store, run_id) == []


def test_runs_of_another_machine_are_judged_by_their_heartbeat(workspace: Path) -> None:
    """A team's shared database: a pid on another machine says nothing here."""
    store = RunStore(workspace)
    dead_pid = DEAD_PID
    beating = store.create_run({}, status="running", pid=dead_pid)
    silent = store.create_run({}, status="running", pid=dead_pid)
    waiting = store.create_run({}, owner_pid=dead_pid)
    for run_id in (beating, silent, waiting):
        store.update(run_id, host="gpu-node-7")
    store.heartbeat(beating)
    store.update(silent, heartbeat_at=time.time() - 600)
    assert recovery.mark_orphans(store) == [silent]
    assert [store.get(r).status for r in (beating, silent, waiting)] == ["running", "interrupted", "queued"]
    assert "gpu-node-7" in store.get(silent).status_reason
