"""A workspace written before owner_pid and queue_device had columns opens with every run intact.

The old database is built here with the CREATE TABLE statements of that version, as that
version's RunStore wrote its rows (owner and queue inside progress_json).
"""
from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from pathlib import Path

from core.runs import recovery
from core.runs.queue import queue_positions
from core.runs.store import RunStore

OLD_SCHEMA = """
CREATE TABLE runs (
    run_id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    status TEXT NOT NULL,
    status_reason TEXT,
    task TEXT,
    model TEXT,
    dataset TEXT,
    device TEXT,
    config_json TEXT NOT NULL,
    summary_json TEXT NOT NULL DEFAULT '{}',
    progress_json TEXT NOT NULL DEFAULT '{}',
    tags_json TEXT NOT NULL DEFAULT '[]',
    parent_id TEXT,
    pid INTEGER,
    stop_requested INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL,
    started_at REAL,
    ended_at REAL,
    heartbeat_at REAL
);
CREATE TABLE metrics (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id TEXT NOT NULL,
    step INTEGER NOT NULL,
    epoch INTEGER NOT NULL,
    split TEXT NOT NULL,
    name TEXT NOT NULL,
    value REAL,
    time REAL NOT NULL
);
CREATE INDEX metrics_by_run ON metrics(run_id, id);
CREATE TABLE artifacts (
    run_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    path TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    bytes INTEGER NOT NULL,
    created_at REAL NOT NULL,
    PRIMARY KEY (run_id, kind)
);
"""
DEAD_PID = 2**22 + 12345  # above the default pid_max: never a live process


def _old_workspace(folder: Path, live_pid: int) -> dict[str, dict]:
    """A workbench.db as the previous version left it: a finished run with metrics, two queued runs."""
    con = sqlite3.connect(folder / "workbench.db")
    con.executescript(OLD_SCHEMA)
    now = time.time()
    rows = {
        "0101-000000-aaaaaa": dict(name="mlp-iris-1", status="completed",
                                   summary={"metrics": {"test": {"accuracy": 0.9}}},
                                   progress={"epoch": 5, "epochs": 5, "events": ["done"]}, pid=DEAD_PID, t=now - 30),
        "0101-000001-bbbbbb": dict(name="mlp-iris-2", status="queued", summary={},
                                   progress={"owner_pid": live_pid, "queue_device": "cuda:1"}, pid=None, t=now - 20),
        "0101-000002-cccccc": dict(name="mlp-iris-3", status="queued", summary={},
                                   progress={"owner_pid": DEAD_PID, "queue_device": "cpu"}, pid=None, t=now - 10),
    }
    for run_id, r in rows.items():
        con.execute("INSERT INTO runs (run_id, name, status, task, model, dataset, config_json, summary_json,"
                    " progress_json, tags_json, pid, created_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                    (run_id, r["name"], r["status"], "multiclass", "mlp", "iris", json.dumps({"data": {}}),
                     json.dumps(r["summary"]), json.dumps(r["progress"]), json.dumps(["x"]), r["pid"], r["t"]))
    con.executemany("INSERT INTO metrics (run_id, step, epoch, split, name, value, time) VALUES (?,?,?,?,?,?,?)",
                    [("0101-000000-aaaaaa", e, e, "val", "loss", 1.0 / e, now) for e in range(1, 6)])
    con.commit()
    con.close()
    return rows


def test_an_old_workspace_is_upgraded_in_place_with_nothing_lost(tmp_path: Path) -> None:
    rows = _old_workspace(tmp_path, live_pid=os.getpid())
    store = RunStore(tmp_path)
    columns = [r[1] for r in sqlite3.connect(tmp_path / "workbench.db").execute("PRAGMA table_info(runs)")]
    assert {"owner_pid", "queue_device"} <= set(columns)
    done, mine, orphan = (store.get(run_id) for run_id in rows)
    assert (done.name, done.status, done.tags) == ("mlp-iris-1", "completed", ["x"])
    assert done.metrics == {"test": {"accuracy": 0.9}}
    assert done.progress == rows[done.run_id]["progress"] and done.owner_pid is None and done.queue_device is None
    assert [r["value"] for r in store.epoch_rows(done.run_id)] == [1.0, 0.5, 1.0 / 3, 0.25, 0.2]
    assert (mine.owner_pid, mine.queue_device) == (os.getpid(), "cuda:1")
    assert (orphan.owner_pid, orphan.queue_device) == (DEAD_PID, "cpu")
    # the moved values do what they did: places in the queues, and start-up recovery of the orphan
    assert queue_positions(store.list_runs()) == {mine.run_id: (1, "cuda:1"), orphan.run_id: (1, "cpu")}
    assert recovery.mark_orphans(store) == [orphan.run_id]
    # new runs go in as before, and opening the upgraded workspace again changes nothing
    new = store.create_run({"data": {}}, owner_pid=7, queue_device="cpu")
    again = RunStore(tmp_path)
    assert [r.run_id for r in again.list_runs()] == [new, *reversed(list(rows))]
    assert again.get(mine.run_id).queue_device == "cuda:1" and again.get(new).owner_pid == 7


def test_a_damaged_progress_value_does_not_stop_the_upgrade(tmp_path: Path) -> None:
    rows = _old_workspace(tmp_path, live_pid=DEAD_PID)
    con = sqlite3.connect(tmp_path / "workbench.db")
    con.execute("UPDATE runs SET progress_json = '{not json' WHERE run_id = ?", (list(rows)[1],))
    con.commit()
    con.close()
    store = RunStore(tmp_path)
    assert store.get(list(rows)[2]).owner_pid == DEAD_PID  # the others' values moved all the same
    damaged = sqlite3.connect(tmp_path / "workbench.db").execute(
        "SELECT owner_pid, progress_json FROM runs WHERE run_id = ?", (list(rows)[1],)).fetchone()
    assert damaged == (None, "{not json")  # kept as it was


def test_two_processes_opening_an_old_workspace_at_once_upgrade_it_once(tmp_path: Path) -> None:
    _old_workspace(tmp_path, live_pid=DEAD_PID)
    errors: list[BaseException] = []

    def open_store() -> None:
        try:
            RunStore(tmp_path).close()
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=open_store) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []
    assert len(RunStore(tmp_path).list_runs()) == 3
