"""alembic's environment for the run store: migrations run on the connection core.runs.database hands in,
inside its transaction (it holds the lock that makes one process upgrade while the others wait)."""
from __future__ import annotations

from alembic import context

from core.runs.tables import METADATA, VERSION_TABLE

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run the store's migrations through core.runs.database.ensure_schema "
                       "(or `workbench db upgrade`), which hands alembic its connection")
context.configure(connection=connection, target_metadata=METADATA, version_table=VERSION_TABLE,
                  render_as_batch=connection.dialect.name == "sqlite")
with context.begin_transaction():
    context.run_migrations()
