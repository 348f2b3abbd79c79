"""RunStore: runs, metrics and artifacts in one SQLite file.

SQLite in WAL mode lets a page read metrics while a worker process writes them.
Connections are per thread (sqlite3 objects must not cross threads); the store
itself holds only the path, so it is safe to share.

A workspace written by an older version is upgraded in place when a store opens it
(`_upgrade`: columns added, values moved into them), so no run is lost to a new version.
"""
from __future__ import annotations

import json
import os
import re
import sqlite3
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

from core.atomic import sha256_file
from core.data.ref import plain_name
from core.data.split import SPLIT_FILE, Split, save_split
from core.errors import RunNotFound
from core.numbers import finite_or_none
from core.vocab import ACTIVE, TERMINAL
_RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,127}")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
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
    owner_pid INTEGER,
    queue_device TEXT,
    stop_requested INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL,
    started_at REAL,
    ended_at REAL,
    heartbeat_at REAL
);
CREATE TABLE IF NOT EXISTS metrics (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id TEXT NOT NULL,
    step INTEGER NOT NULL,
    epoch INTEGER NOT NULL,
    split TEXT NOT NULL,
    name TEXT NOT NULL,
    value REAL,
    time REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS metrics_by_run ON metrics(run_id, id);
CREATE TABLE IF NOT EXISTS artifacts (
    run_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    path TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    bytes INTEGER NOT NULL,
    created_at REAL NOT NULL,
    PRIMARY KEY (run_id, kind)
);
"""

# Columns added since the first release, with where an older version kept their values: each is
# added to a workbench.db that lacks it, and filled from there, on open.
_ADDED_COLUMNS = (
    ("owner_pid", "INTEGER", "$.owner_pid"),  # was in progress_json, which the first heartbeat overwrote
    ("queue_device", "TEXT", "$.queue_device"),
)


def _missing_columns(con: sqlite3.Connection) -> list[str]:
    have = {row[1] for row in con.execute("PRAGMA table_info(runs)")}
    return [column for column, _, _ in _ADDED_COLUMNS if column not in have]


def _upgrade(con: sqlite3.Connection) -> list[str]:
    """Bring an older workspace's runs table up to _SCHEMA, keeping every value; returns the columns added.
    Call it in a write transaction: it looks again at what is missing there."""
    missing = _missing_columns(con)
    added = []
    for column, kind, old_place in _ADDED_COLUMNS:
        if column not in missing:
            continue
        con.execute(f"ALTER TABLE runs ADD COLUMN {column} {kind}")
        # json_valid: one damaged progress_json must not stop the whole workspace from opening
        con.execute(f"UPDATE runs SET {column} = json_extract(progress_json, ?)"
                    " WHERE json_valid(progress_json)", (old_place,))
        added.append(column)
    return added


@dataclass
class RunRecord:
    run_id: str
    name: str
    status: str
    status_reason: str | None
    task: str | None
    model: str | None
    dataset: str | None
    device: str | None
    config: dict[str, Any]
    summary: dict[str, Any]
    progress: dict[str, Any]
    tags: list[str]
    parent_id: str | None
    pid: int | None  # the process that trains (or drives) the run
    owner_pid: int | None  # the app process whose queue holds the run until a worker starts it
    queue_device: str | None  # the device queue it waits in (core.runs.queue.queue_of)
    stop_requested: bool
    created_at: float
    started_at: float | None
    ended_at: float | None
    heartbeat_at: float | None

    @property
    def duration_s(self) -> float | None:
        if self.started_at is None:
            return None
        return (self.ended_at or time.time()) - self.started_at

    @property
    def metrics(self) -> dict[str, Any]:
        return self.summary.get("metrics", {})

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id, "name": self.name, "status": self.status,
            "status_reason": self.status_reason, "task": self.task, "model": self.model,
            "dataset": self.dataset, "device": self.device, "metrics": self.metrics,
            "duration_s": self.summary.get("duration_s", self.duration_s),
            "samples_per_s": self.summary.get("samples_per_s"), "tags": self.tags,
            "parent_id": self.parent_id, "created_at": self.created_at,
            "started_at": self.started_at, "ended_at": self.ended_at, "config": self.config,
        }


@dataclass
class MetricRow:
    step: int
    epoch: int
    split: str
    name: str
    value: float | None
    time: float = field(default_factory=time.time)


class RunStore:
    """The sink every run writes to and every page reads from."""

    def __init__(self, workspace: str | Path):
        self.workspace = Path(workspace)
        self.workspace.mkdir(parents=True, exist_ok=True)
        self.runs_dir = self.workspace / "runs"
        self.runs_dir.mkdir(exist_ok=True)
        self.db_path = self.workspace / "workbench.db"
        self._local = threading.local()
        self._con().executescript(_SCHEMA)  # executescript manages its own transaction
        if _missing_columns(self._con()):
            with self._tx() as con:  # one process upgrades; the others then find nothing to do
                _upgrade(con)

    # --- connections -------------------------------------------------------
    def _con(self) -> sqlite3.Connection:
        con = getattr(self._local, "con", None)
        if con is None or getattr(self._local, "pid", None) != os.getpid():
            con = sqlite3.connect(self.db_path, timeout=60, isolation_level=None, check_same_thread=True)
            con.execute("PRAGMA journal_mode=WAL")
            con.execute("PRAGMA busy_timeout=60000")
            con.execute("PRAGMA synchronous=NORMAL")
            con.row_factory = sqlite3.Row
            self._local.con, self._local.pid = con, os.getpid()
        return con

    def _tx(self) -> "_Transaction":
        return _Transaction(self._con())

    def close(self) -> None:
        con = getattr(self._local, "con", None)
        if con is not None:
            con.close()
            self._local.con = None

    # --- runs ----------------------------------------------------------------
    def create_run(self, config: Mapping[str, Any], *, name: str | None = None, task: str | None = None,
                   model: str | None = None, dataset: str | None = None, parent_id: str | None = None,
                   status: str = "queued", tags: Iterable[str] = (), pid: int | None = None,
                   owner_pid: int | None = None, queue_device: str | None = None,
                   split: Split | None = None, summary: Mapping[str, Any] | None = None) -> str:
        """Record a new run. `pid` (who trains it) or `owner_pid` (whose queue holds it) are written in
        the same transaction, so start-up recovery never mistakes a new run for an orphan.

        `split`: the rows the run must train on (a cross-validation fold), written as the run folder's
        split file before the run exists in the table, so no worker can start it without one."""
        run_id = time.strftime("%m%d-%H%M%S-") + uuid.uuid4().hex[:6]
        if split is not None:
            save_split(split, self.run_dir(run_id) / SPLIT_FILE)
        with self._tx() as con:
            name = self._free_name(con, name.strip()) if name and name.strip() else self._default_name(con, model, dataset)
            con.execute(
                "INSERT INTO runs (run_id, name, status, task, model, dataset, config_json, parent_id,"
                " tags_json, created_at, pid, owner_pid, queue_device, summary_json)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (run_id, name, status, task, model, dataset, json.dumps(config), parent_id,
                 json.dumps(list(tags)), time.time(), pid, owner_pid, queue_device, json.dumps(dict(summary or {}))),
            )
        self.run_dir(run_id).mkdir(parents=True, exist_ok=True)
        return run_id

    @staticmethod
    def _default_name(con: sqlite3.Connection, model: str | None, dataset: str | None) -> str:
        stem = f"{model or 'run'}-{dataset or 'data'}"
        n = con.execute("SELECT COUNT(*) FROM runs WHERE name LIKE ?", (stem + "-%",)).fetchone()[0] + 1
        while con.execute("SELECT 1 FROM runs WHERE name = ?", (f"{stem}-{n}",)).fetchone():
            n += 1  # a run was deleted, or renamed to a name the count reaches
        return f"{stem}-{n}"

    @staticmethod
    def _free_name(con: sqlite3.Connection, wanted: str) -> str:
        n = 1
        name = wanted
        while con.execute("SELECT 1 FROM runs WHERE name = ?", (name,)).fetchone():
            n += 1
            name = f"{wanted} ({n})"
        return name

    def unique_name(self, wanted: str) -> str:
        """The name a new run asking for `wanted` gets: `wanted`, or 'wanted (2)', 'wanted (3)', ... when a run
        already has it (create_run names runs so; two runs never share a name)."""
        return self._free_name(self._con(), wanted.strip())

    def run_dir(self, run_id: str) -> Path:
        # Run ids are ours, but one may come from a URL or a command line: it must name a
        # folder directly inside runs/, never a path ("../x", "/etc", "a\\b", NUL bytes).
        if not isinstance(run_id, str) or not _RUN_ID.fullmatch(run_id):
            raise RunNotFound(f"not a run id: {shown_id(run_id)}")
        return self.runs_dir / run_id

    def get(self, run_id: str) -> RunRecord:
        row = self._con().execute("SELECT * FROM runs WHERE run_id = ?", (run_id,)).fetchone()
        if row is None:
            # accept a unique prefix or an exact name, as people type them
            rows = self._con().execute(
                "SELECT * FROM runs WHERE run_id LIKE ? OR name = ?", (run_id + "%", run_id)).fetchall()
            if len(rows) != 1:
                raise RunNotFound(f"no run '{run_id}' (see `workbench runs` for the list)")
            row = rows[0]
        return _record(row)

    def list_runs(self, status: str | None = None, parent_id: str | None = None,
                  include_children: bool = True) -> list[RunRecord]:
        sql, args = "SELECT * FROM runs WHERE 1=1", []
        if status:
            sql += " AND status = ?"
            args.append(status)
        if parent_id:
            sql += " AND parent_id = ?"
            args.append(parent_id)
        elif not include_children:
            sql += " AND parent_id IS NULL"
        rows = self._con().execute(sql + " ORDER BY created_at DESC", args).fetchall()
        return [_record(r) for r in rows]

    def update(self, run_id: str, **fields_: Any) -> None:
        cols = {"summary": "summary_json", "progress": "progress_json", "tags": "tags_json", "config": "config_json"}
        sets, args = [], []
        for key, value in fields_.items():
            col = cols.get(key, key)
            sets.append(f"{col} = ?")
            args.append(json.dumps(value) if col.endswith("_json") else value)
        with self._tx() as con:
            con.execute(f"UPDATE runs SET {', '.join(sets)} WHERE run_id = ?", (*args, run_id))

    def set_status(self, run_id: str, status: str, reason: str | None = None, *, only_if_active: bool = True) -> bool:
        """Move a run to `status`. A terminal status is never overwritten (stopping twice is harmless)."""
        now = time.time()
        ended = now if status in TERMINAL else None
        started = now if status == "running" else None
        guard = f" AND status IN {ACTIVE}" if only_if_active else ""
        with self._tx() as con:
            cur = con.execute(
                f"UPDATE runs SET status = ?, status_reason = ?, ended_at = COALESCE(?, ended_at),"
                f" started_at = COALESCE(started_at, ?) WHERE run_id = ?{guard}",
                (status, reason, ended, started, run_id),
            )
            return cur.rowcount == 1

    def heartbeat(self, run_id: str, progress: Mapping[str, Any] | None = None) -> None:
        with self._tx() as con:
            if progress is None:
                con.execute("UPDATE runs SET heartbeat_at = ? WHERE run_id = ?", (time.time(), run_id))
            else:
                con.execute("UPDATE runs SET heartbeat_at = ?, progress_json = ? WHERE run_id = ?",
                            (time.time(), json.dumps(dict(progress)), run_id))

    def request_stop(self, run_id: str) -> None:
        """Ask a run to stop. A run still waiting in the queue has nothing to stop: it is cancelled at once."""
        with self._tx() as con:
            con.execute("UPDATE runs SET stop_requested = 1 WHERE run_id = ?", (run_id,))
            con.execute("UPDATE runs SET status = 'cancelled', status_reason = ?, ended_at = ?"
                        " WHERE run_id = ? AND status = 'queued'",
                        ("stopped by the user before it started", time.time(), run_id))

    def stop_requested(self, run_id: str) -> bool:
        row = self._con().execute("SELECT stop_requested FROM runs WHERE run_id = ?", (run_id,)).fetchone()
        return bool(row and row[0])

    def delete(self, run_id: str) -> None:
        import shutil

        record = self.get(run_id)
        if record.status in ACTIVE:
            self.request_stop(run_id)
        with self._tx() as con:
            for table in ("metrics", "artifacts", "runs"):
                con.execute(f"DELETE FROM {table} WHERE run_id = ?", (record.run_id,))
        shutil.rmtree(self.run_dir(record.run_id), ignore_errors=True)

    # --- metrics -------------------------------------------------------------
    def log_metrics(self, run_id: str, rows: Iterable[MetricRow]) -> None:
        batch = [(run_id, r.step, r.epoch, r.split, r.name, finite_or_none(r.value), r.time) for r in rows]
        if batch:
            with self._tx() as con:
                con.executemany(
                    "INSERT INTO metrics (run_id, step, epoch, split, name, value, time) VALUES (?,?,?,?,?,?,?)",
                    batch)

    def epoch_rows(self, run_id: str, after_id: int = 0) -> list[dict[str, Any]]:
        """The metric rows a run has logged (one per epoch and metric), those with id > after_id: pages
        poll with the last id they drew. RunRecord.metrics is another thing: the final summary's values."""
        rows = self._con().execute(
            "SELECT id, step, epoch, split, name, value, time FROM metrics WHERE run_id = ? AND id > ? ORDER BY id",
            (run_id, after_id)).fetchall()
        return [dict(r) for r in rows]

    def metrics_frame(self, run_ids: Iterable[str]):
        import pandas as pd

        ids = list(run_ids)
        if not ids:
            return pd.DataFrame(columns=["run_id", "id", "step", "epoch", "split", "name", "value", "time"])
        marks = ",".join("?" * len(ids))
        return pd.read_sql_query(
            f"SELECT run_id, id, step, epoch, split, name, value, time FROM metrics WHERE run_id IN ({marks})"
            " ORDER BY id", self._con(), params=ids)

    def metric_spans(self, run_ids: Iterable[str], split: str = "val"):
        """Per run and metric of `split`: the lowest and highest value logged (run_id, name, min, max).

        Aggregated in SQLite, so a table of runs costs the same after a million logged rows as after ten."""
        import pandas as pd

        ids = list(run_ids)
        if not ids:
            return pd.DataFrame(columns=["run_id", "name", "min", "max"])
        marks = ",".join("?" * len(ids))
        return pd.read_sql_query(
            f"SELECT run_id, name, MIN(value) AS min, MAX(value) AS max FROM metrics"
            f" WHERE split = ? AND run_id IN ({marks}) GROUP BY run_id, name", self._con(), params=[split, *ids])

    # --- artifacts ------------------------------------------------------------
    def add_artifact(self, run_id: str, kind: str, path: str | Path) -> None:
        p = Path(path)
        rel = p.relative_to(self.workspace) if p.is_absolute() and p.is_relative_to(self.workspace) else p
        with self._tx() as con:
            con.execute(
                "INSERT OR REPLACE INTO artifacts (run_id, kind, path, sha256, bytes, created_at) VALUES (?,?,?,?,?,?)",
                (run_id, kind, str(rel), sha256_file(p), p.stat().st_size, time.time()))

    def artifacts(self, run_id: str) -> dict[str, dict[str, Any]]:
        rows = self._con().execute("SELECT * FROM artifacts WHERE run_id = ?", (run_id,)).fetchall()
        return {r["kind"]: {**dict(r), "path": str(self.workspace / r["path"])} for r in rows}

    def artifact_path(self, run_id: str, kind: str) -> Path | None:
        art = self.artifacts(run_id).get(kind)
        return Path(art["path"]) if art else None

    def forget_artifact(self, run_id: str, kind: str) -> None:
        with self._tx() as con:
            con.execute("DELETE FROM artifacts WHERE run_id = ? AND kind = ?", (run_id, kind))


class _Transaction:
    """BEGIN IMMEDIATE ... COMMIT: writers queue on the busy timeout instead of failing."""

    def __init__(self, con: sqlite3.Connection):
        self.con = con

    def __enter__(self) -> sqlite3.Connection:
        self.con.execute("BEGIN IMMEDIATE")
        return self.con

    def __exit__(self, exc_type, exc, tb) -> None:
        self.con.execute("COMMIT" if exc_type is None else "ROLLBACK")


def shown_id(run_id: object) -> str:
    """A run id as it may be echoed in a message: printable, short, quoted."""
    text = "".join(ch if ch.isprintable() else "?" for ch in str(run_id))
    return repr(text[:60] + ("..." if len(text) > 60 else ""))


def _record(row: sqlite3.Row) -> RunRecord:
    return RunRecord(
        run_id=row["run_id"], name=row["name"], status=row["status"], status_reason=row["status_reason"],
        task=row["task"], model=row["model"], dataset=plain_name(row["dataset"]) if row["dataset"] else row["dataset"],
        device=row["device"],
        config=json.loads(row["config_json"]), summary=json.loads(row["summary_json"]),
        progress=json.loads(row["progress_json"]), tags=json.loads(row["tags_json"]),
        parent_id=row["parent_id"], pid=row["pid"], owner_pid=row["owner_pid"], queue_device=row["queue_device"],
        stop_requested=bool(row["stop_requested"]),
        created_at=row["created_at"], started_at=row["started_at"], ended_at=row["ended_at"],
        heartbeat_at=row["heartbeat_at"],
    )

