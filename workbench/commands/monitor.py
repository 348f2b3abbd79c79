"""`workbench monitor RUN`: what a served run has met: traffic, latency, predictions, input drift, live metrics."""
from __future__ import annotations

import argparse
import json
import time

from core.engine import Engine
from core.lifecycle.monitor import monitor_report
from core.vocab import metric_label


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("monitor", help="a served run's traffic, latency, prediction mix, input drift and live "
                                       "metrics (from what `workbench serve` recorded)")
    p.add_argument("run", help="a run id (or a unique prefix, or its name)")
    p.add_argument("--days", type=float, help="only the predictions of the last DAYS days (default: all kept)")
    p.add_argument("--workspace")
    p.add_argument("--json", action="store_true", help="print one JSON object")


def run(args: argparse.Namespace) -> int:
    engine = Engine(args.workspace)
    try:
        since = time.time() - args.days * 86400 if args.days else None
        report = monitor_report(engine.store, engine.catalog, args.run, since=since)
    finally:
        engine.close()
    if args.json:
        print(json.dumps(report, default=str))
        return 0
    print(f"run {report['name']} ({report['run_id']})")
    if report.get("recording") is None:
        print(f"  {report['note']}")
        return 0
    traffic, latency = report["traffic"], report["latency_ms"]
    print(f"  log: {report['log']} ({report['recording']['words']})")
    print(f"  traffic: {traffic['predictions']} predictions in {traffic['requests']} requests")
    if latency["requests"]:
        print(f"  latency: p50 {latency['p50']:.2f} ms, p95 {latency['p95']:.2f} ms per request")
    drift = report["drift"]
    if drift.get("note"):
        print(f"  drift: {drift['note']}")
    print(f"  drifted columns: {', '.join(drift['drifted']) or 'none'} (of {len(drift['columns'])} compared)")
    for column in drift["columns"][:10]:
        print(f"    {column['column'][:24]:<24} PSI {column['psi']:6.3f}  {column['test']} p={column['p_value']:.2g}"
              f"  {column['verdict']}")
    feedback = report["feedback"]
    if feedback["metrics"]:
        shown = ", ".join(f"{metric_label(k)} {v:.4f} (test {feedback['test'].get(k, float('nan')):.4f})"
                          for k, v in feedback["metrics"].items())
        print(f"  live, on {feedback['labelled']} labelled predictions: {shown}")
    else:
        print(f"  live metrics: {feedback.get('note', 'none')}")
    return 0
