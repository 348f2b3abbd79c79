"""`workbench runs`: the run list."""
from __future__ import annotations

import argparse
import json
import time

from core.engine import Engine
from core.runs.compare import run_metric
from core.vocab import STATUSES


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("runs", help="list recorded runs")
    p.add_argument("--status", choices=STATUSES)
    p.add_argument("--workspace")
    p.add_argument("--json", action="store_true")


def run(args: argparse.Namespace) -> int:
    engine = Engine(args.workspace)
    runs = engine.store.list_runs(status=args.status)
    if args.json:
        keys = ("run_id", "name", "status", "status_reason", "task", "model", "dataset", "metrics", "created_at",
                "duration_s", "device", "parent_id", "host", "executor")
        print(json.dumps([{k: r.to_dict()[k] for k in keys} for r in runs]))
        return 0
    if not runs:
        print("no runs yet: try `workbench train --data iris --target species`")
        return 0
    print(f"{'run':<20} {'name':<24} {'status':<11} {'model':<8} {'dataset':<14} {'test':>10}  created")
    for r in runs:
        metric = run_metric(r)
        score = r.metrics.get("test", {}).get(metric) if metric else None
        shown = f"{score:.4f}" if isinstance(score, float) else "-"
        created = time.strftime("%Y-%m-%d %H:%M", time.localtime(r.created_at))
        print(f"{r.run_id:<20} {r.name[:24]:<24} {r.status:<11} {r.model or '-':<8} {(r.dataset or '-')[:14]:<14} "
              f"{shown:>10}  {created}")
    return 0
