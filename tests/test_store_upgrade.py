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
from core.runs import database
from core.runs.store import MetricRow, RunStore

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


# The schema as the last version before migrations wrote it (RunStore's CREATE TABLE IF NOT EXISTS).
PRE_MIGRATION_SCHEMA = OLD_SCHEMA.replace(
    "    pid INTEGER,\n", "    pid INTEGER,\n    owner_pid INTEGER,\n    queue_device TEXT,\n")


def test_a_workspace_from_before_migrations_is_stamped_with_nothing_lost(tmp_path: Path) -> None:
    con = sqlite3.connect(tmp_path / "workbench.db")
    con.executescript(PRE_MIGRATION_SCHEMA)
    con.execute("INSERT INTO runs (run_id, name, status, config_json, summary_json, tags_json, pid, owner_pid,"
                " queue_device, created_at, ended_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                ("0101-000000-aaaaaa", "mlp-iris-1", "completed", '{"data": {}}', '{"metrics": {"test": {"r2": 1}}}',
                 '["x"]', DEAD_PID, 99, "cpu", 1.0, 2.0))
    con.executemany("INSERT INTO metrics (run_id, step, epoch, split, name, value, time) VALUES (?,?,?,?,?,?,?)",
                    [("0101-000000-aaaaaa", e, e, "val", "loss", 1.0 / e, 3.0) for e in range(1, 4)])
    con.execute("DELETE FROM metrics WHERE id = 3")  # AUTOINCREMENT: id 3 is never handed out again
    (tmp_path / "runs" / "0101-000000-aaaaaa").mkdir(parents=True)
    (tmp_path / "runs" / "0101-000000-aaaaaa" / "m.json").write_text("{}")
    con.execute("INSERT INTO artifacts VALUES (?,?,?,?,?,?)", ("0101-000000-aaaaaa", "model_meta",
                "runs/0101-000000-aaaaaa/m.json", "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a", 2, 4.0))
    con.commit()
    con.close()
    store = RunStore(tmp_path)
    version = sqlite3.connect(tmp_path / "workbench.db").execute("SELECT version_num FROM workbench_version").fetchall()
    assert version == [(database.HEAD,)]
    run = store.get("0101-000000-aaaaaa")
    assert (run.name, run.status, run.metrics, run.tags, run.owner_pid, run.queue_device, run.ended_at) == \
        ("mlp-iris-1", "completed", {"test": {"r2": 1}}, ["x"], 99, "cpu", 2.0)
    assert [(r["id"], r["value"]) for r in store.epoch_rows(run.run_id)] == [(1, 1.0), (2, 0.5)]
    assert store.artifact_path(run.run_id, "model_meta") == tmp_path / "runs/0101-000000-aaaaaa/m.json"
    store.log_metrics(run.run_id, [MetricRow(4, 4, "val", "loss", 0.25)])
    assert store.epoch_rows(run.run_id, after_id=2)[0]["id"] == 4
    assert database.ensure_schema(store.db_url) is None  # current now: opening again changes nothing


def test_workbench_db_upgrade_says_what_it_did(tmp_path: Path, capsys) -> None:
    from workbench.cli import main

    _old_workspace(tmp_path, live_pid=DEAD_PID)
    assert main(["db", "upgrade", "--workspace", str(tmp_path)]) == 0
    said = capsys.readouterr().out
    assert "upgraded" in said and database.HEAD in said and str(tmp_path / "workbench.db") in said
    assert main(["db", "upgrade", "--workspace", str(tmp_path)]) == 0
    assert "already at" in capsys.readouterr().out
    assert main(["db", "status", "--workspace", str(tmp_path), "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["revision"] == status["head"] == database.HEAD and status["runs"] == 3


def test_a_database_at_the_baseline_gets_hosts_and_executors(tmp_path: Path) -> None:
    from alembic import command

    url = database.database_url(tmp_path)
    with database.writing(url, serial=True) as con:
        command.upgrade(database._alembic_config(con), "0001")
    with database.writing(url) as con:
        con.exec_driver_sql("INSERT INTO runs (run_id, name, status, config_json, created_at) VALUES"
                            " ('0101-000000-aaaaaa', 'old', 'completed', '{}', 1.0)")
    store = RunStore(tmp_path)
    assert database.current_revision(url) == database.HEAD
    old = store.get("0101-000000-aaaaaa")
    assert (old.name, old.host, old.executor) == ("old", None, None)
    new = store.get(store.create_run({}, executor="cli"))
    assert (new.host, new.executor) == (__import__("socket").gethostname(), "cli")
