"""`workbench serve RUN_OR_BUNDLE`: a REST prediction server on 127.0.0.1 (docs at /docs)."""
from __future__ import annotations

import argparse
import logging
import socket
import sys
from pathlib import Path

from core.engine import Engine
from core.errors import WorkbenchError
from core.export import load_trained
from core.export.http_guards import allowed_hosts
from core.lifecycle.recorder import DEFAULT_DAYS, DEFAULT_ROWS, PredictionLog, RecordSettings, monitor_path
from core.runs.store import RunStore
from core.runs.trained import TrainedModel
from workbench.commands.ui import is_loopback

log = logging.getLogger(__name__)


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serve", help="serve a run or bundle as a REST API: POST /predict, GET /health, /docs")
    p.add_argument("source", metavar="RUN_OR_BUNDLE", help="a run id, prefix or name, or a bundle folder")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--host", default="127.0.0.1",
                   help="bind address (default 127.0.0.1); anything else exposes the model to the network")
    p.add_argument("--allow-host", action="append", default=[], metavar="NAME",
                   help="another Host name clients may use (e.g. the machine's name when --host 0.0.0.0)")
    p.add_argument("--no-record", action="store_true",
                   help="do not record predictions (default: each is recorded for `workbench monitor`)")
    p.add_argument("--record-rows", type=int, metavar="N",
                   help=f"predictions the log keeps (default: $WORKBENCH_MONITOR_ROWS or {DEFAULT_ROWS:,})")
    p.add_argument("--record-days", type=float, metavar="DAYS",
                   help=f"days a prediction is kept (default: $WORKBENCH_MONITOR_DAYS or {DEFAULT_DAYS:g})")
    p.add_argument("--workspace")


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from core.export.server import create_app

    engine = Engine(args.workspace)
    try:
        trained, label = load_trained(engine.store, args.source)
        settings = record_settings(args)
        sink = prediction_log(engine.store, args.source, trained, settings)
    finally:
        engine.close()
    if not is_loopback(args.host):
        print(f"workbench: warning: serving on {args.host} makes the model reachable from other machines; "
              "it has no login", file=sys.stderr)
    _check_port_free(args.host, args.port)
    app = create_app(trained, hosts=allowed_hosts([args.host, *args.allow_host]), label=label, sink=sink)
    shown = f"[{args.host}]" if ":" in args.host else args.host
    print(f"serving {label} on http://{shown}:{args.port} (API docs at /docs; Ctrl+C stops)", file=sys.stderr)
    if sink is not None:
        print(f"recording predictions in {sink.path} ({settings.words()}; --no-record turns it off); "
              "POST labels to /feedback", file=sys.stderr)
    else:
        print("not recording predictions (--no-record or WORKBENCH_MONITOR=0)", file=sys.stderr)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", server_header=False)
    return 0


def record_settings(args: argparse.Namespace) -> RecordSettings:
    env = RecordSettings.from_env()
    return RecordSettings(enabled=env.enabled and not args.no_record,
                          max_rows=args.record_rows if args.record_rows is not None else env.max_rows,
                          max_days=args.record_days if args.record_days is not None else env.max_days).validate()


def prediction_log(store: RunStore, source: str, trained: TrainedModel, settings: RecordSettings) -> PredictionLog | None:
    """The log in the served run's folder; a bundle of a run this workspace lacks logs into its own folder."""
    if not settings.enabled:
        return None
    path = Path(source).expanduser()
    if path.is_dir():
        run_id = str(trained.meta.get("run_id") or "")
        try:
            folder = store.run_dir(store.get(run_id).run_id) if run_id else path
        except WorkbenchError:
            folder = path
    else:
        folder = store.run_dir(store.get(source).run_id)
    return PredictionLog(monitor_path(folder), settings)


def _check_port_free(host: str, port: int) -> None:
    # uvicorn would log a traceback-like error and exit 1; say it in one line instead
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise WorkbenchError(f"cannot listen on {host}:{port} ({exc.strerror}): pick another --port") from None
