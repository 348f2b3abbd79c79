"""`workbench db`: the run store's database: which one, at which schema version, and upgrading it.

Any store upgrades its database when it opens it; `workbench db upgrade` does it on its own (a team
upgrades its shared PostgreSQL once, before everyone's new version opens it) and says what it did.
"""
from __future__ import annotations

import argparse
import json

from sqlalchemy import func, inspect, select

from core.runs import database
from core.runs.tables import runs as runs_table
from core.workspace import default_workspace


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("db", help="the run database: status, upgrade")
    actions = p.add_subparsers(dest="action", required=True)
    for name, words in (("upgrade", "bring the database to this version's schema (in place, nothing lost)"),
                        ("status", "which database, at which schema version, how many runs")):
        a = actions.add_parser(name, help=words)
        a.add_argument("--workspace", help="default: $WORKBENCH_HOME or the per-user data folder")
        a.add_argument("--json", action="store_true")
    p.set_defaults(command="db")


def run(args: argparse.Namespace) -> int:
    workspace = args.workspace or default_workspace()
    url = database.database_url(workspace)
    shown = database.redacted(url)
    try:
        if args.action == "upgrade":
            change = database.ensure_schema(url)
            if args.json:
                print(json.dumps({"database": shown, "before": change.before if change else database.HEAD,
                                  "after": database.HEAD, "changed": change is not None}))
            elif change is None:
                print(f"{shown}: already at {database.HEAD}")
            elif change.created:
                print(f"{shown}: created at {change.after}")
            else:
                print(f"{shown}: upgraded from {change.before or 'the schema before migrations'} to {change.after}")
            return 0
        status = _status(url)
    finally:
        database.dispose(url)
    if args.json:
        print(json.dumps({"database": shown, **status}))
    else:
        runs = "no tables yet" if status["runs"] is None else f"{status['runs']} runs"
        print(f"{shown} ({status['backend']}): schema {status['revision'] or '(none)'}, this version's "
              f"{status['head']}; {runs}")
    return 0


def _status(url: str) -> dict:
    with database.reading(url) as con:
        has_runs = inspect(con).has_table("runs")
        count = con.execute(select(func.count()).select_from(runs_table)).scalar() if has_runs else None
    return {"backend": "sqlite" if database.is_sqlite(url) else "postgresql",
            "revision": database.current_revision(url), "head": database.HEAD, "runs": count}
