"""`workbench train ... --repeats N`: the same settings with N seeds on one split, one after another."""
from __future__ import annotations

import argparse
import json
import signal
import sys
from typing import Any

from core.config import RunConfig
from core.engine import Engine
from core.tuning.repeats import repeat_result, run_repeats_inline
from core.training.callbacks import Callback
from core.vocab import metric_label


def run_repeats(args: argparse.Namespace, engine: Engine, config: RunConfig, callbacks: list[Callback]) -> int:
    stops: list[str] = []
    previous = {sig: signal.signal(sig, lambda signum, _f: stops.append(f"stopped by {signal.Signals(signum).name}"))
                for sig in (signal.SIGTERM, signal.SIGINT)}
    quiet = not callbacks

    def on_member(number: int, status: str) -> None:
        if not quiet:
            print(f"seed {config.train.seed + number - 1} ({number}/{args.repeats}): {status}", file=sys.stderr)

    try:
        parent_id = run_repeats_inline(engine.store, engine.catalog, config, args.repeats, callbacks=callbacks,
                                       should_stop=lambda: stops[0] if stops else None, on_member=on_member)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    record = engine.store.get(parent_id)
    result = repeat_result(engine.store, parent_id)
    out: dict[str, Any] = {
        "run_id": parent_id, "status": record.status, "status_reason": record.status_reason, "task": record.task,
        "device": record.device, "duration_s": record.summary.get("duration_s"), "samples_per_s": None,
        "seeds": record.summary.get("seeds"), "members": [m.run_id for m in result.members],
        "metrics": {"val": record.metrics.get("val", {}), "test": record.metrics.get("test", {}),
                    "repeats": result.stats},
        "interval": "95% Student-t interval for the mean over the seeds (std with ddof=1)",
    }
    if args.json:
        print(json.dumps(out))
    else:
        print(f"run {parent_id}: {record.status}, {args.repeats} seeds on one split on {record.device}")
        for name, s in result.stats.get("test", {}).items():
            if s["mean"] is None:
                continue
            spread = f" +- {s['std']:.4f}, 95% interval [{s['low']:.4f}, {s['high']:.4f}]" if s["std"] is not None else ""
            print(f"  test {metric_label(name)}: {s['mean']:.4f}{spread} (n={s['n']})")
    if record.status == "failed":
        print(f"workbench: run {parent_id} failed: {record.status_reason}", file=sys.stderr)
    return 0 if record.status == "completed" else 1
