"""Steering a live run: the run_controls table holds pause, resume and learning-rate requests
(core.vocab.STEER_ACTIONS) until the training loop applies them, and afterwards when and at which
epoch each was applied. Runs recorded before have no requests.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    if "run_controls" in sa.inspect(op.get_bind()).get_table_names():
        return
    op.create_table(
        "run_controls",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.Text(), nullable=False),
        sa.Column("action", sa.Text(), nullable=False),
        sa.Column("value", sa.Float()),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("applied_at", sa.Float()),
        sa.Column("applied_epoch", sa.Float()),
        sa.Column("note", sa.Text()),
        sqlite_autoincrement=True,
    )
    op.create_index("run_controls_by_run", "run_controls", ["run_id", "id"])


def downgrade() -> None:
    op.drop_index("run_controls_by_run", "run_controls")
    op.drop_table("run_controls")
