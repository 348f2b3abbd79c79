"""`workbench compare A B`: two runs (or groups of repeats) on the same test rows, by a paired bootstrap."""
from __future__ import annotations

import argparse
import json

from core.engine import Engine
from core.evaluation.stats import BOOTSTRAP_RESAMPLES
from core.tuning.paired import compare_runs
from core.vocab import METRIC_DIRECTION


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("compare", help="is run A better than run B? a paired bootstrap on their shared test rows")
    p.add_argument("a", help="a run id, name or unique prefix; a group of repeats stands for its seeds")
    p.add_argument("b", help="the run (or group) to compare it with")
    p.add_argument("--metric", choices=tuple(m for m in METRIC_DIRECTION if m != "loss"),
                   help="default: the task's primary metric (accuracy, r2)")
    p.add_argument("--resamples", type=int, default=BOOTSTRAP_RESAMPLES, help="bootstrap resamples (default 2000)")
    p.add_argument("--seed", type=int, default=0, help="the bootstrap's seed")
    p.add_argument("--workspace")
    p.add_argument("--json", action="store_true")


def run(args: argparse.Namespace) -> int:
    engine = Engine(args.workspace)
    result = compare_runs(engine.store, args.a, args.b, args.metric, resamples=args.resamples, seed=args.seed)
    if args.json:
        print(json.dumps(result.to_dict()))
        return 0
    print(result.words)
    print(f"  {result.a['name']}: {result.label} {result.a_value:.4f}   {result.b['name']}: {result.b_value:.4f}")
    if result.shared_note:
        print(f"  note: {result.shared_note}")
    return 0
