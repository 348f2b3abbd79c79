"""Where a run ran: runs.host (the machine of its pid, or of owner_pid while it waits in a queue) and
runs.executor (how it was started: local, cli, ray; core.vocab.EXECUTORS). Runs recorded before have
neither: they ran on the one machine that shared their SQLite file, as a local worker or the CLI.

Revision ID: 0002
Revises: 0001
Create Date: 2025-12-03
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    have = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("runs")}
    for column in ("host", "executor"):
        if column not in have:
            op.add_column("runs", sa.Column(column, sa.Text()))


def downgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("executor")
        batch.drop_column("host")
