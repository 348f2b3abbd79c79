"""`workbench show RUN`: one run in full."""
from __future__ import annotations

import argparse
import json

from core.engine import Engine
from core.errors import WorkbenchError
from workbench.commands.train import print_baselines


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("show", help="show one run: status, metrics, config, artifacts")
    p.add_argument("run", help="a run id (or a unique prefix, or its name)")
    p.add_argument("--workspace")
    p.add_argument("--json", action="store_true")
    p.add_argument("--logs", action="store_true",
                   help="print the training process's output instead (a Ray run's as Ray keeps it)")


def run(args: argparse.Namespace) -> int:
    engine = Engine(args.workspace)
    record = engine.store.get(args.run)
    if args.logs:
        print(_logs(engine, record), end="")
        return 0
    data = record.to_dict()
    data["summary"] = record.summary
    data["artifacts"] = {k: {"path": v["path"], "sha256": v["sha256"], "bytes": v["bytes"]}
                         for k, v in engine.store.artifacts(record.run_id).items()}
    if args.json:
        print(json.dumps(data, default=str))
        return 0
    print(f"{record.name} ({record.run_id}): {record.status}" + (f" - {record.status_reason}" if record.status_reason else ""))
    print(f"  {record.model} on {record.dataset} ({record.task}), device {record.device}")
    for split, values in record.metrics.items():
        print(f"  {split}: " + ", ".join(f"{k}={v:.4f}" for k, v in values.items() if isinstance(v, float)))
    print_baselines(record.summary.get("baselines") or {}, record.task)
    for kind, art in data["artifacts"].items():
        print(f"  artifact {kind}: {art['path']}")
    return 0


def _logs(engine: Engine, record) -> str:  # noqa: ANN001 - a RunRecord
    if record.executor == "ray":
        from core.runs.ray_executor import RAY_ADDRESS_ENV, executor_for

        ray = executor_for(engine.workspace)
        if ray is None:
            raise WorkbenchError(f"run {record.run_id} ran on Ray: set {RAY_ADDRESS_ENV} to read its log there")
        return ray.logs(record.run_id)
    path = engine.store.run_dir(record.run_id) / "worker.log"
    return path.read_text(errors="replace") if path.is_file() else f"run {record.run_id} kept no log (it " \
        "trained in a `workbench train` process, whose output was its terminal's)\n"
