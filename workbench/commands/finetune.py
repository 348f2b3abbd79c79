"""`workbench finetune RUN --data NEW.csv` or `--feedback`: a new run from a run's weights (or retrained)."""
from __future__ import annotations

import argparse
import json
import os
import sys

from core.engine import Engine
from core.errors import ConfigError
from core.lifecycle.feedback import feedback_dataset, finetune_config
from core.runs.execute import execute_run


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("finetune", help="fine-tune a completed run on new data of the same columns, or retrain "
                                        "it with the labelled feedback its server received")
    p.add_argument("run", help="the parent run: an id (or a unique prefix, or its name)")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--data", help="new rows with the parent's columns and target (a CSV/Parquet path)")
    source.add_argument("--feedback", action="store_true",
                        help="the parent's data plus the served rows whose labels came back through /feedback")
    p.add_argument("--fresh", action="store_true", help="train from fresh weights instead of the parent's")
    p.add_argument("--freeze", type=int, default=0, metavar="N",
                   help="keep the parent's first N layers with weights as they are (default 0)")
    p.add_argument("--epochs", type=int)
    p.add_argument("--lr", type=float, help="learning rate (default: the parent's)")
    p.add_argument("--name", help="a name for the new run (default: the parent's name + -ft)")
    p.add_argument("--workspace")
    p.add_argument("--json", action="store_true", help="print one JSON object as the last line of stdout")


def run(args: argparse.Namespace) -> int:
    if args.freeze < 0:
        raise ConfigError("--freeze is a number of layers, 0 or more")
    engine = Engine(args.workspace)
    try:
        parent = engine.store.get(args.run)
        added = None
        if args.feedback:
            ref, added = feedback_dataset(engine.store, engine.catalog, parent)
            source = str(ref.path)
        else:
            source = str(engine.catalog.resolve(args.data).path)  # a missing file is bad input, not a failed run
        config = finetune_config(parent, source, warm=not args.fresh, freeze=args.freeze, epochs=args.epochs,
                                 lr=args.lr, name=args.name)
        ref = engine.catalog.resolve(config.data.source)
        config = config.evolve(data={"content_hash": ref.sha256})
        run_id = engine.store.create_run(config.to_dict(), name=config.name, task=config.data.task,
                                         model=config.model.kind, dataset=ref.label, pid=os.getpid())
        status = execute_run(engine.store, engine.catalog, run_id)
        record = engine.store.get(run_id)
    finally:
        engine.close()
    result = {"run_id": run_id, "parent": parent.run_id, "status": status, "status_reason": record.status_reason,
              "warm_start": not args.fresh, "freeze": args.freeze, "feedback_rows": added,
              "metrics": {k: record.metrics.get(k, {}) for k in ("val", "test")}}
    if args.json:
        print(json.dumps(result))
    else:
        how = "retrained" if args.fresh else "fine-tuned"
        print(f"run {run_id}: {status}, {how} from {parent.name}" + (f" with {added} feedback rows" if added else ""))
        for split, values in result["metrics"].items():
            if values:
                print(f"  {split}: " + ", ".join(f"{k}={v:.4f}" for k, v in values.items() if v is not None))
    if status == "failed":
        print(f"workbench: run {run_id} failed: {record.status_reason}", file=sys.stderr)
        return 2 if record.summary.get("error_kind") == "input" else 1
    return 0 if status == "completed" else 1
