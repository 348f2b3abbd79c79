"""RunStore: runs, metrics and artifacts in one database, SQLite or PostgreSQL (core.runs.database).

A page reads metrics while a worker process writes them: SQLite in WAL mode, or a PostgreSQL
server a team shares (WORKBENCH_DB_URL). The statements are SQLAlchemy Core, one code path for
both; the store holds only the URL, so it is safe to share between threads, and each process
opens its own connections.

A workspace written by an older version is upgraded in place when a store opens it (alembic
migrations, core/runs/migrations), so no run is lost to a new version.
"""
from __future__ import annotations

import json
import re
import shutil
import socket
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

from sqlalchemy import Row, and_, delete, func, insert, select, update

from core.atomic import sha256_file
from core.data.ref import plain_name
from core.data.split import SPLIT_FILE, Split, save_split
from core.errors import ConfigError, RunNotFound, WorkbenchError
from core.numbers import finite_or_none
from core.runs import database
from core.runs.tables import (
    artifacts as artifacts_table, metrics as metrics_table, run_controls as controls_table, runs as runs_table,
)
from core.vocab import ACTIVE, RESUMABLE, STEER_ACTIONS, TERMINAL

_RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,127}")
_JSON_FIELDS = {"summary": "summary_json", "progress": "progress_json", "tags": "tags_json", "config": "config_json"}
_METRIC_COLUMNS = ("id", "step", "epoch", "split", "name", "value", "time")


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
    host: str | None  # the machine of pid, or of owner_pid while queued (None: recorded before hosts were)
    executor: str | None  # how it was started (core.vocab.EXECUTORS); None: local, before executors were kept
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

    @property
    def has_model(self) -> bool:
        """A model to explain, export and serve: a completed run's, or the kept weights of one stopped
        part-way, evaluated on the test rows when it stopped (core.runs.execute)."""
        return self.status == "completed" or (self.status in RESUMABLE and bool(self.summary.get("kept_model")))

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id, "name": self.name, "status": self.status,
            "status_reason": self.status_reason, "task": self.task, "model": self.model,
            "dataset": self.dataset, "device": self.device, "metrics": self.metrics,
            "duration_s": self.summary.get("duration_s", self.duration_s),
            "samples_per_s": self.summary.get("samples_per_s"), "tags": self.tags,
            "parent_id": self.parent_id, "created_at": self.created_at,
            "started_at": self.started_at, "ended_at": self.ended_at, "config": self.config,
            "host": self.host, "executor": self.executor,
        }


@dataclass(frozen=True)
class Control:
    """One request to steer a live run (core.vocab.STEER_ACTIONS); applied_at is None until the loop applies it."""
    id: int
    run_id: str
    action: str
    value: float | None
    created_at: float
    applied_at: float | None
    applied_epoch: float | None
    note: str | None


@dataclass
class MetricRow:
    step: int
    epoch: int
    split: str
    name: str
    value: float | None
    time: float = field(default_factory=time.time)


class RunStore:
    """The sink every run writes to and every page reads from.

    `db_url`: the database (default: $WORKBENCH_DB_URL, else the workspace's workbench.db). Run folders
    (artifacts) are always under the workspace, which every process that trains or reads a run shares."""

    def __init__(self, workspace: str | Path, db_url: str | None = None):
        self.workspace = Path(workspace)
        self.workspace.mkdir(parents=True, exist_ok=True)
        self.runs_dir = self.workspace / "runs"
        self.runs_dir.mkdir(exist_ok=True)
        self.db_url = database.database_url(self.workspace, db_url)
        database.ensure_schema(self.db_url)

    @property
    def db_path(self) -> Path | None:
        """The SQLite file, where the store is one."""
        return self.workspace / database.SQLITE_FILE if database.is_sqlite(self.db_url) else None

    def close(self) -> None:
        """Close this process's pooled connections; the store opens new ones if used again."""
        database.dispose(self.db_url)

    def _write(self, *, serial: bool = False):  # noqa: ANN202 - a context manager of a Connection
        return database.writing(self.db_url, serial=serial)

    def _read(self):  # noqa: ANN202
        return database.reading(self.db_url)

    # --- runs ----------------------------------------------------------------
    def create_run(self, config: Mapping[str, Any], *, name: str | None = None, task: str | None = None,
                   model: str | None = None, dataset: str | None = None, parent_id: str | None = None,
                   status: str = "queued", tags: Iterable[str] = (), pid: int | None = None,
                   owner_pid: int | None = None, queue_device: str | None = None,
                   split: Split | None = None, summary: Mapping[str, Any] | None = None,
                   executor: str | None = None) -> str:
        """Record a new run. `pid` (who trains it) or `owner_pid` (whose queue holds it) are written in
        the same transaction, so start-up recovery never mistakes a new run for an orphan.

        `split`: the rows the run must train on (a cross-validation fold), written as the run folder's
        split file before the run exists in the table, so no worker can start it without one.

        `executor`: how the run is started (core.vocab.EXECUTORS). Its host is this machine's until the
        process that trains it says otherwise (execute_run)."""
        run_id = time.strftime("%m%d-%H%M%S-") + uuid.uuid4().hex[:6]
        if split is not None:
            save_split(split, self.run_dir(run_id) / SPLIT_FILE)
        with self._write(serial=True) as con:  # serial: two runs never get the same name
            name = self._free_name(con, name.strip()) if name and name.strip() else self._default_name(con, model, dataset)
            con.execute(insert(runs_table).values(
                run_id=run_id, name=name, status=status, task=task, model=model, dataset=dataset,
                config_json=json.dumps(config), parent_id=parent_id, tags_json=json.dumps(list(tags)),
                created_at=time.time(), pid=pid, owner_pid=owner_pid, queue_device=queue_device,
                host=this_host(), executor=executor,
                summary_json=json.dumps(dict(summary or {}))))
        self.run_dir(run_id).mkdir(parents=True, exist_ok=True)
        return run_id

    @staticmethod
    def _default_name(con: Any, model: str | None, dataset: str | None) -> str:
        stem = f"{model or 'run'}-{dataset or 'data'}"
        n = con.execute(select(func.count()).select_from(runs_table)
                        .where(runs_table.c.name.like(_like_prefix(stem + "-"), escape="\\"))).scalar() + 1
        while _name_taken(con, f"{stem}-{n}"):
            n += 1  # a run was deleted, or renamed to a name the count reaches
        return f"{stem}-{n}"

    @staticmethod
    def _free_name(con: Any, wanted: str) -> str:
        n = 1
        name = wanted
        while _name_taken(con, name):
            n += 1
            name = f"{wanted} ({n})"
        return name

    def unique_name(self, wanted: str) -> str:
        """The name a new run asking for `wanted` gets: `wanted`, or 'wanted (2)', 'wanted (3)', ... when a run
        already has it (create_run names runs so; two runs never share a name)."""
        with self._read() as con:
            return self._free_name(con, wanted.strip())

    def run_dir(self, run_id: str) -> Path:
        # Run ids are ours, but one may come from a URL or a command line: it must name a
        # folder directly inside runs/, never a path ("../x", "/etc", "a\\b", NUL bytes).
        if not isinstance(run_id, str) or not _RUN_ID.fullmatch(run_id):
            raise RunNotFound(f"not a run id: {shown_id(run_id)}")
        return self.runs_dir / run_id

    def get(self, run_id: str) -> RunRecord:
        with self._read() as con:
            row = con.execute(select(runs_table).where(runs_table.c.run_id == run_id)).first()
            if row is None:
                # accept a unique prefix or an exact name, as people type them
                rows = con.execute(select(runs_table).where(
                    runs_table.c.run_id.like(_like_prefix(run_id), escape="\\") | (runs_table.c.name == run_id))
                    .limit(2)).all()
                if len(rows) != 1:
                    raise RunNotFound(f"no run '{run_id}' (see `workbench runs` for the list)")
                row = rows[0]
        return _record(row)

    def list_runs(self, status: str | tuple[str, ...] | None = None, parent_id: str | None = None,
                  include_children: bool = True) -> list[RunRecord]:
        """Newest first; `status`: one status or several."""
        query = select(runs_table)
        if status:
            query = query.where(runs_table.c.status.in_((status,) if isinstance(status, str) else status))
        if parent_id:
            query = query.where(runs_table.c.parent_id == parent_id)
        elif not include_children:
            query = query.where(runs_table.c.parent_id.is_(None))
        with self._read() as con:
            rows = con.execute(query.order_by(runs_table.c.created_at.desc())).all()
        return [_record(r) for r in rows]

    def run_ids(self, statuses: tuple[str, ...]) -> list[str]:
        """The ids of the runs in `statuses`, reading no run's JSON (list_runs parses every summary)."""
        with self._read() as con:
            return list(con.execute(select(runs_table.c.run_id).where(runs_table.c.status.in_(statuses))).scalars())

    def update(self, run_id: str, **fields_: Any) -> None:
        with self._write() as con:
            con.execute(update(runs_table).where(runs_table.c.run_id == run_id).values(**_columns(fields_)))

    def set_status(self, run_id: str, status: str, reason: str | None = None, *, only_if_active: bool = True,
                   **fields_: Any) -> bool:
        """Move a run to `status`. A terminal status is never overwritten (stopping twice is harmless).

        `fields_` (as in update) are written in the same statement, only if the status moves: a run's
        final summary and its terminal status land together or not at all, so whoever reads a completed
        run reads its final metrics, and a second writer (a CV parent's other finalizer) changes nothing."""
        now = time.time()
        c = runs_table.c
        values: dict[str, Any] = {**_columns(fields_), "status": status, "status_reason": reason}
        if status in TERMINAL:
            values["ended_at"] = now
        if status == "running":
            values["started_at"] = func.coalesce(c.started_at, now)
        where = c.run_id == run_id
        if only_if_active:
            where = and_(where, c.status.in_(ACTIVE))
        with self._write() as con:
            return con.execute(update(runs_table).where(where).values(**values)).rowcount == 1

    def heartbeat(self, run_id: str, progress: Mapping[str, Any] | None = None) -> None:
        values: dict[str, Any] = {"heartbeat_at": time.time()}
        if progress is not None:
            values["progress_json"] = json.dumps(dict(progress))
        with self._write() as con:
            con.execute(update(runs_table).where(runs_table.c.run_id == run_id).values(**values))

    def request_stop(self, run_id: str) -> None:
        """Ask a run to stop. A run still waiting in the queue has nothing to stop: it is cancelled at once."""
        c = runs_table.c
        with self._write() as con:
            con.execute(update(runs_table).where(c.run_id == run_id).values(stop_requested=1))
            con.execute(update(runs_table).where(c.run_id == run_id, c.status == "queued").values(
                status="cancelled", status_reason="stopped by the user before it started", ended_at=time.time()))

    def stop_requested(self, run_id: str) -> bool:
        with self._read() as con:
            flag = con.execute(select(runs_table.c.stop_requested).where(runs_table.c.run_id == run_id)).scalar()
        return bool(flag)

    def reopen(self, run_id: str, status: str = "queued", **fields_: Any) -> None:
        """A cancelled or interrupted run back to `status` to resume (core.runs.resume): its stop flag,
        end and reason cleared, and any steering asked after it ended dropped; `fields_` as in update."""
        c = runs_table.c
        with self._write() as con:
            con.execute(update(runs_table).where(c.run_id == run_id).values(
                status=status, status_reason=None, ended_at=None, stop_requested=0, **{
                    _JSON_FIELDS.get(k, k): json.dumps(v) if k in _JSON_FIELDS else v for k, v in fields_.items()}))
            con.execute(update(controls_table).where(controls_table.c.run_id == run_id,
                                                     controls_table.c.applied_at.is_(None))
                        .values(applied_at=time.time(), note="dropped: the run had ended"))

    # --- steering ------------------------------------------------------------
    def request_control(self, run_id: str, action: str, value: float | None = None) -> int:
        """Ask a live run to pause, resume or train at learning rate `value` from its next step.

        Raises ConfigError for an unknown action or a learning rate that is not a positive number, and
        WorkbenchError for a run that has ended (nothing is training to hear it)."""
        if action not in STEER_ACTIONS:
            raise ConfigError(f"unknown control {action!r}: one of {', '.join(STEER_ACTIONS)}")
        if action == "lr":
            lr = finite_or_none(value)
            if lr is None or lr <= 0:
                raise ConfigError(f"a learning rate is a positive number, not {value!r}")
            value = float(lr)
        else:
            value = None
        record = self.get(run_id)
        if record.status not in ACTIVE:
            raise WorkbenchError(f"run {record.name} is {record.status}: there is no live run to {action}")
        with self._write() as con:
            return int(con.execute(insert(controls_table).values(
                run_id=record.run_id, action=action, value=value, created_at=time.time())).inserted_primary_key[0])

    def pending_controls(self, run_id: str) -> list[Control]:
        """Requests not applied yet, oldest first."""
        c = controls_table.c
        return self._controls((c.run_id == run_id) & c.applied_at.is_(None))

    def controls(self, run_id: str) -> list[Control]:
        """Every steering request of a run, oldest first (applied ones say when and at which epoch)."""
        return self._controls(controls_table.c.run_id == run_id)

    def mark_control_applied(self, control_id: int, epoch: float, note: str | None = None) -> None:
        with self._write() as con:
            con.execute(update(controls_table).where(controls_table.c.id == control_id).values(
                applied_at=time.time(), applied_epoch=epoch, note=note))

    def _controls(self, where: Any) -> list[Control]:
        with self._read() as con:
            rows = con.execute(select(controls_table).where(where).order_by(controls_table.c.id)).all()
        return [Control(**r._mapping) for r in rows]

    def delete(self, run_id: str) -> None:
        record = self.get(run_id)
        if record.status in ACTIVE:
            self.request_stop(run_id)
        with self._write() as con:
            for table in (metrics_table, artifacts_table, controls_table, runs_table):
                con.execute(delete(table).where(table.c.run_id == record.run_id))
        shutil.rmtree(self.run_dir(record.run_id), ignore_errors=True)

    # --- metrics -------------------------------------------------------------
    def log_metrics(self, run_id: str, rows: Iterable[MetricRow]) -> None:
        batch = [{"run_id": run_id, "step": r.step, "epoch": r.epoch, "split": r.split, "name": r.name,
                  "value": finite_or_none(r.value), "time": r.time} for r in rows]
        if batch:
            with self._write() as con:
                con.execute(insert(metrics_table), batch)

    def drop_metrics_after(self, run_id: str, epoch: int) -> None:
        """Forget the rows logged after `epoch`: a resumed run trains those epochs again."""
        c = metrics_table.c
        with self._write() as con:
            con.execute(delete(metrics_table).where(c.run_id == run_id, c.epoch > epoch))

    def epoch_rows(self, run_id: str, after_id: int = 0) -> list[dict[str, Any]]:
        """The metric rows a run has logged (one per epoch and metric), those with id > after_id: pages
        poll with the last id they drew. RunRecord.metrics is another thing: the final summary's values.

        Ids grow in the order one run's rows were written (one process writes a run's rows), on SQLite
        and PostgreSQL alike."""
        c = metrics_table.c
        with self._read() as con:
            rows = con.execute(select(*(c[k] for k in _METRIC_COLUMNS))
                               .where(c.run_id == run_id, c.id > after_id).order_by(c.id)).all()
        return [dict(r._mapping) for r in rows]

    def metrics_frame(self, run_ids: Iterable[str]):
        import pandas as pd

        columns = ["run_id", *_METRIC_COLUMNS]
        ids = list(run_ids)
        if not ids:
            return pd.DataFrame(columns=columns)
        c = metrics_table.c
        with self._read() as con:
            rows = con.execute(select(*(c[k] for k in columns)).where(c.run_id.in_(ids)).order_by(c.id)).all()
        return pd.DataFrame([tuple(r) for r in rows], columns=columns)

    def metric_spans(self, run_ids: Iterable[str], split: str = "val"):
        """Per run and metric of `split`: the lowest and highest value logged (run_id, name, min, max).

        Aggregated in the database, so a table of runs costs the same after a million logged rows as after ten."""
        import pandas as pd

        columns = ["run_id", "name", "min", "max"]
        ids = list(run_ids)
        if not ids:
            return pd.DataFrame(columns=columns)
        c = metrics_table.c
        with self._read() as con:
            rows = con.execute(select(c.run_id, c.name, func.min(c.value), func.max(c.value))
                               .where(c.split == split, c.run_id.in_(ids)).group_by(c.run_id, c.name)).all()
        return pd.DataFrame([tuple(r) for r in rows], columns=columns)

    # --- artifacts ------------------------------------------------------------
    def add_artifact(self, run_id: str, kind: str, path: str | Path) -> None:
        p = Path(path)
        rel = p.relative_to(self.workspace) if p.is_absolute() and p.is_relative_to(self.workspace) else p
        digest, size = sha256_file(p), p.stat().st_size
        c = artifacts_table.c
        # one transaction: a reader sees the old row or the new, never none; serial: two writers of one
        # kind at once (a checkpoint thread and the run's end) would both find no row on PostgreSQL
        with self._write(serial=True) as con:
            con.execute(delete(artifacts_table).where(c.run_id == run_id, c.kind == kind))
            con.execute(insert(artifacts_table).values(run_id=run_id, kind=kind, path=str(rel), sha256=digest,
                                                       bytes=size, created_at=time.time()))

    def artifacts(self, run_id: str) -> dict[str, dict[str, Any]]:
        with self._read() as con:
            rows = con.execute(select(artifacts_table).where(artifacts_table.c.run_id == run_id)).all()
        return {r.kind: {**r._mapping, "path": str(self.workspace / r.path)} for r in rows}

    def artifact_path(self, run_id: str, kind: str) -> Path | None:
        art = self.artifacts(run_id).get(kind)
        return Path(art["path"]) if art else None

    def forget_artifact(self, run_id: str, kind: str) -> None:
        c = artifacts_table.c
        with self._write() as con:
            con.execute(delete(artifacts_table).where(c.run_id == run_id, c.kind == kind))


def _columns(fields_: Mapping[str, Any]) -> dict[str, Any]:
    """RunRecord field names -> column values (summary -> summary_json, as JSON)."""
    values = {}
    for key, value in fields_.items():
        column = _JSON_FIELDS.get(key, key)
        values[column] = json.dumps(value) if column.endswith("_json") else value
    return values


def this_host() -> str:
    """This machine's name, as runs record where their processes are."""
    return socket.gethostname()


def _name_taken(con: Any, name: str) -> bool:
    return con.execute(select(runs_table.c.run_id).where(runs_table.c.name == name).limit(1)).first() is not None


def _like_prefix(text: str) -> str:
    """A LIKE pattern matching what starts with `text`, its own % and _ taken literally."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def shown_id(run_id: object) -> str:
    """A run id as it may be echoed in a message: printable, short, quoted."""
    text = "".join(ch if ch.isprintable() else "?" for ch in str(run_id))
    return repr(text[:60] + ("..." if len(text) > 60 else ""))



def _record(row: Row) -> RunRecord:
    r = row._mapping
    return RunRecord(
        run_id=r["run_id"], name=r["name"], status=r["status"], status_reason=r["status_reason"],
        task=r["task"], model=r["model"], dataset=plain_name(r["dataset"]) if r["dataset"] else r["dataset"],
        device=r["device"],
        config=json.loads(r["config_json"]), summary=json.loads(r["summary_json"]),
        progress=json.loads(r["progress_json"]), tags=json.loads(r["tags_json"]),
        parent_id=r["parent_id"], pid=r["pid"], owner_pid=r["owner_pid"], queue_device=r["queue_device"],
        host=r["host"], executor=r["executor"],
        stop_requested=bool(r["stop_requested"]),
        created_at=r["created_at"], started_at=r["started_at"], ended_at=r["ended_at"],
        heartbeat_at=r["heartbeat_at"],
    )
