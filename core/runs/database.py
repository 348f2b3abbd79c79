"""Which database a workspace uses, its SQLAlchemy engine in this process, and its schema version.

SQLite (the embedded default, `workbench.db` in the workspace) or PostgreSQL, named by
WORKBENCH_DB_URL (`postgresql://user:password@host/db`; psycopg 3 drives it). One code path:
the store's statements are SQLAlchemy Core, the schema is alembic's (core/runs/migrations).

Engines are made per process, on first use: a pool inherited through fork() holds the parent's
sockets and file handles, so a child drops (never closes) what it inherited and opens its own.
"""
from __future__ import annotations

import logging
import os
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from sqlalchemy import Connection, Engine, create_engine, event, inspect, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from core.errors import ConfigError
from core.runs.tables import METADATA, VERSION_TABLE, version

log = logging.getLogger(__name__)

DB_URL_ENV = "WORKBENCH_DB_URL"
SQLITE_FILE = "workbench.db"
HEAD = "0003"  # the newest migration in core/runs/migrations/versions (a test checks it is alembic's head)
_PG_LOCK = 0x776F726B  # pg_advisory_xact_lock key: "work"; serialises schema upgrades and run creation

_engines: dict[str, Engine] = {}
_lock = threading.Lock()


def database_url(workspace: str | Path, url: str | None = None) -> str:
    """`url`, else $WORKBENCH_DB_URL, else the workspace's SQLite file; PostgreSQL URLs get the psycopg driver."""
    chosen = url or os.environ.get(DB_URL_ENV) or ""
    if not chosen.strip():
        return f"sqlite:///{Path(workspace).resolve() / SQLITE_FILE}"
    try:
        parsed = make_url(chosen.strip())
    except ArgumentError:
        raise ConfigError(f"{DB_URL_ENV} is not a database URL: {redacted(chosen)!r} "
                          "(e.g. postgresql://user:password@host:5432/workbench)") from None
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise ConfigError(f"the run store works with SQLite or PostgreSQL, not {parsed.get_backend_name()} "
                          f"({DB_URL_ENV}={redacted(chosen)!r})")
    return parsed.render_as_string(hide_password=False)


def redacted(url: str) -> str:
    """The URL as it may be shown or logged: no password."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<not a URL>"


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def engine_for(url: str) -> Engine:
    """This process's engine for `url` (its pool is shared by threads)."""
    with _lock:
        engine = _engines.get(url)
        if engine is None:
            engine = _engines[url] = _create(url)
        return engine


def dispose(url: str) -> None:
    """Close this process's pooled connections to `url`; the next use opens new ones."""
    with _lock:
        engine = _engines.pop(url, None)
    if engine is not None:
        engine.dispose()


def _forget_after_fork() -> None:
    # The child must not close the parent's connections (a PostgreSQL goodbye on a shared socket
    # would end the parent's session too): drop them unclosed, and start afresh.
    for engine in _engines.values():
        engine.dispose(close=False)
    _engines.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_after_fork)


def _create(url: str) -> Engine:
    if is_sqlite(url):
        # many pages and a worker thread or two read at once; SQLite connections cost little
        engine = create_engine(url, connect_args={"timeout": 60}, pool_size=8, max_overflow=32)

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_con, _record) -> None:  # noqa: ANN001 - DBAPI objects
            # pysqlite's own transaction handling opens them late and never IMMEDIATE; ours says when
            dbapi_con.isolation_level = None
            cur = dbapi_con.cursor()
            cur.execute("PRAGMA journal_mode=WAL")  # readers never wait on the worker that writes
            cur.execute("PRAGMA busy_timeout=60000")  # writers queue instead of failing "database is locked"
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        @event.listens_for(engine, "begin")
        def _begin(con: Connection) -> None:
            # a write takes the lock at BEGIN, so it waits on the busy timeout rather than failing mid-way
            con.exec_driver_sql("BEGIN IMMEDIATE" if con.get_execution_options().get("writing") else "BEGIN")
        return engine
    # pre-ping: a team's server may have restarted since this process last asked it something
    return create_engine(url, pool_pre_ping=True, pool_size=4, max_overflow=8)


@contextmanager
def writing(url: str, *, serial: bool = False) -> Iterator[Connection]:
    """A write transaction, committed at the end. `serial`: one writer at a time, also on PostgreSQL
    (SQLite's BEGIN IMMEDIATE always is), for writes that read what they are about to change."""
    engine = engine_for(url)
    with engine.connect() as con:
        con = con.execution_options(writing=True)
        with con.begin():
            if serial and not is_sqlite(url):
                con.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK})
            yield con


@contextmanager
def reading(url: str) -> Iterator[Connection]:
    with engine_for(url).connect() as con:
        yield con


# --- schema version ---------------------------------------------------------------------------
def current_revision(url: str) -> str | None:
    """The migration the database is at; None for an empty database or one from before migrations."""
    with reading(url) as con:
        return _revision_in(con)


@dataclass(frozen=True)
class SchemaChange:
    before: str | None  # None: an empty database, or one from before migrations (`created` tells which)
    after: str
    created: bool  # the tables were made afresh


def ensure_schema(url: str) -> SchemaChange | None:
    """Bring the database to HEAD, building it or upgrading an older one in place; None when it was current.
    Safe to call from many processes at once: one upgrades, the others wait on its lock and then find
    nothing to do."""
    if current_revision(url) == HEAD:
        return None
    with writing(url, serial=True) as con:
        before = _revision_in(con)
        if before == HEAD:
            return None
        created = before is None and not inspect(con).get_table_names()
        if created:
            # an empty database: built whole and stamped, as alembic advises (tests check that this
            # and the migrations give the same schema); no alembic import on the way
            METADATA.create_all(con)
            version.create(con)
            con.execute(version.insert().values(version_num=HEAD))
        else:
            _alembic_upgrade(con)
    change = SchemaChange(before, current_revision(url) or HEAD, created)
    log.info("database %s: %s", redacted(url), f"created at {change.after}" if created else
             f"upgraded from {before or 'the schema before migrations'} to {change.after}")
    return change


def _revision_in(con: Connection) -> str | None:
    if not inspect(con).has_table(VERSION_TABLE):
        return None
    return con.execute(select(version.c.version_num)).scalar()


def _alembic_upgrade(con: Connection) -> None:
    from alembic import command

    command.upgrade(_alembic_config(con), "head")


def _alembic_config(con: Connection | None = None):  # noqa: ANN202 - alembic.config.Config, imported late
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(Path(__file__).with_name("migrations")))
    if con is not None:
        config.attributes["connection"] = con  # env.py runs the migrations in the caller's transaction
    return config


def alembic_head() -> str | None:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(_alembic_config()).get_current_head()
