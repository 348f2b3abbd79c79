"""The run store's tables as SQLAlchemy Core objects: one definition for SQLite and PostgreSQL.

The database itself is built and changed only by the alembic migrations in core/runs/migrations;
tests/test_store_schema.py checks that these objects and the migrated database agree.
"""
from __future__ import annotations

from sqlalchemy import BigInteger, Column, Float, Index, Integer, MetaData, String, Table, Text, text

METADATA = MetaData()

# alembic's own table, under a name of ours: Optuna keeps its studies in the same PostgreSQL database
# and stamps its schema in "alembic_version"
VERSION_TABLE = "workbench_version"
# the same table as alembic makes it, for stamping a database built whole from METADATA
version = Table(VERSION_TABLE, MetaData(), Column("version_num", String(32), primary_key=True))

runs = Table(
    "runs", METADATA,
    Column("run_id", Text, primary_key=True),
    Column("name", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("status_reason", Text),
    Column("task", Text),
    Column("model", Text),
    Column("dataset", Text),
    Column("device", Text),
    Column("config_json", Text, nullable=False),
    Column("summary_json", Text, nullable=False, server_default=text("'{}'")),
    Column("progress_json", Text, nullable=False, server_default=text("'{}'")),
    Column("tags_json", Text, nullable=False, server_default=text("'[]'")),
    Column("parent_id", Text),
    Column("pid", Integer),
    Column("owner_pid", Integer),
    Column("queue_device", Text),
    Column("host", Text),  # the machine of pid (or of owner_pid while queued); None: recorded before 0002
    Column("executor", Text),  # core.vocab.EXECUTORS; None: before 0002
    Column("stop_requested", Integer, nullable=False, server_default=text("0")),
    Column("created_at", Float, nullable=False),
    Column("started_at", Float),
    Column("ended_at", Float),
    Column("heartbeat_at", Float),
)

metrics = Table(
    "metrics", METADATA,
    # SQLite: INTEGER PRIMARY KEY AUTOINCREMENT (ids never reused, so a page's "rows after id N" holds);
    # PostgreSQL: a bigint identity
    Column("id", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True),
    Column("run_id", Text, nullable=False),
    Column("step", Integer, nullable=False),
    Column("epoch", Integer, nullable=False),
    Column("split", Text, nullable=False),
    Column("name", Text, nullable=False),
    Column("value", Float),
    Column("time", Float, nullable=False),
    Index("metrics_by_run", "run_id", "id"),
    sqlite_autoincrement=True,
)

artifacts = Table(
    "artifacts", METADATA,
    Column("run_id", Text, primary_key=True),
    Column("kind", Text, primary_key=True),
    Column("path", Text, nullable=False),
    Column("sha256", Text, nullable=False),
    Column("bytes", BigInteger().with_variant(Integer(), "sqlite"), nullable=False),
    Column("created_at", Float, nullable=False),
)

# requests to steer a live run (core.vocab.STEER_ACTIONS), in the order they were asked; the training
# loop applies each once, at a step boundary, and says when (applied_at) and where (applied_epoch:
# epochs done, fractional mid-epoch) so a curve can mark it
run_controls = Table(
    "run_controls", METADATA,
    Column("id", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True),
    Column("run_id", Text, nullable=False),
    Column("action", Text, nullable=False),
    Column("value", Float),
    Column("created_at", Float, nullable=False),
    Column("applied_at", Float),
    Column("applied_epoch", Float),
    Column("note", Text),
    Index("run_controls_by_run", "run_id", "id"),
    sqlite_autoincrement=True,
)
