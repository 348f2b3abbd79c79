"""Baseline: the runs, metrics and artifacts tables as the store had them when migrations began.

An empty database gets them whole. A workspace written before migrations (SQLite, no version table)
keeps its tables and rows; what it lacks is added: the owner_pid and queue_device columns (a version
before them kept both values in progress_json, which this copies out; a damaged progress_json is left
as it is), and any table or index missing.

Revision ID: 0001
Revises:
Create Date: 2025-12-03
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_BIGINT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

# columns added before migrations existed, with where the version before them kept their values
_LEGACY_COLUMNS = (("owner_pid", sa.Integer(), "$.owner_pid"), ("queue_device", sa.Text(), "$.queue_device"))


def upgrade() -> None:
    inspector = sa.inspect(op.get_bind())
    tables = set(inspector.get_table_names())
    if "runs" not in tables:
        _create_runs()
    else:
        _add_legacy_columns({c["name"] for c in inspector.get_columns("runs")})
    if "metrics" not in tables:
        _create_metrics()
    elif "metrics_by_run" not in {i["name"] for i in inspector.get_indexes("metrics")}:
        op.create_index("metrics_by_run", "metrics", ["run_id", "id"])
    if "artifacts" not in tables:
        _create_artifacts()


def downgrade() -> None:
    op.drop_table("artifacts")
    op.drop_index("metrics_by_run", table_name="metrics")
    op.drop_table("metrics")
    op.drop_table("runs")


def _create_runs() -> None:
    op.create_table(
        "runs",
        sa.Column("run_id", sa.Text(), primary_key=True),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("status_reason", sa.Text()),
        sa.Column("task", sa.Text()),
        sa.Column("model", sa.Text()),
        sa.Column("dataset", sa.Text()),
        sa.Column("device", sa.Text()),
        sa.Column("config_json", sa.Text(), nullable=False),
        sa.Column("summary_json", sa.Text(), nullable=False, server_default=sa.text("'{}'")),
        sa.Column("progress_json", sa.Text(), nullable=False, server_default=sa.text("'{}'")),
        sa.Column("tags_json", sa.Text(), nullable=False, server_default=sa.text("'[]'")),
        sa.Column("parent_id", sa.Text()),
        sa.Column("pid", sa.Integer()),
        sa.Column("owner_pid", sa.Integer()),
        sa.Column("queue_device", sa.Text()),
        sa.Column("stop_requested", sa.Integer(), nullable=False, server_default=sa.text("0")),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("started_at", sa.Float()),
        sa.Column("ended_at", sa.Float()),
        sa.Column("heartbeat_at", sa.Float()),
    )


def _create_metrics() -> None:
    op.create_table(
        "metrics",
        sa.Column("id", _BIGINT, primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.Text(), nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("epoch", sa.Integer(), nullable=False),
        sa.Column("split", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("value", sa.Float()),
        sa.Column("time", sa.Float(), nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_index("metrics_by_run", "metrics", ["run_id", "id"])


def _create_artifacts() -> None:
    op.create_table(
        "artifacts",
        sa.Column("run_id", sa.Text(), primary_key=True),
        sa.Column("kind", sa.Text(), primary_key=True),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("sha256", sa.Text(), nullable=False),
        sa.Column("bytes", _BIGINT, nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
    )


def _add_legacy_columns(have: set[str]) -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    for column, kind, old_place in _LEGACY_COLUMNS:
        if column in have:
            continue
        # a plain ADD COLUMN (no batch copy of the table): every row and rowid stays where it is
        op.add_column("runs", sa.Column(column, kind))
        if sqlite:  # only SQLite workspaces are older than this column
            op.execute(sa.text(f"UPDATE runs SET {column} = json_extract(progress_json, :place)"
                               " WHERE json_valid(progress_json)").bindparams(place=old_place))
