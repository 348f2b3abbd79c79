"""`workbench tune`: a hyperparameter search whose trials are ordinary runs in the store.

The study is driven from this process; each trial trains in a worker process of the
run manager, as runs started from the app do. Ctrl-C stops the running trial and
ends the study as cancelled, keeping what it found so far.
"""
from __future__ import annotations

import argparse
import json
import signal
import sys
from typing import Any

from core.vocab import OPTIMIZERS
from core.engine import Engine
from core.errors import ConfigError
from core.training.device import resolve_device
from workbench.commands.train import (
    DEVICE_HELP, add_data_arguments, add_executor_argument, chosen_executor, config_from_args, device_arg,
)


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("tune", help="search hyperparameters with Optuna; each trial is a run")
    add_data_arguments(p, "a run.yaml to start from; flags below override it")
    p.add_argument("--trials", type=int, default=20, help="how many trials (default 20)")
    p.add_argument("--metric", help="the validation metric to optimise (default: accuracy, or r2 for regression)")
    p.add_argument("--search", action="append", metavar="NAME[=RANGE]",
                   help="a setting to search, repeatable: lr, lr=1e-4:0.1, optimizer=adam,sgd, width, depth, "
                        "dropout, batch_size, weight_decay ... (default: lr, batch size, weight decay and, "
                        "for networks, width, depth, dropout)")
    p.add_argument("--no-pruning", action="store_true", help="let every trial train to the end")
    p.add_argument("--epochs", type=int, help="epochs per trial (fixed; default 30)")
    p.add_argument("--hidden", help="MLP hidden sizes when width/depth are not searched, e.g. 64,64")
    p.add_argument("--batch-size", type=int)
    p.add_argument("--lr", type=float)
    p.add_argument("--optimizer", choices=OPTIMIZERS)
    p.add_argument("--weight-decay", type=float)
    p.add_argument("--patience", type=int, help="early-stopping patience in epochs")
    p.add_argument("--no-early-stopping", action="store_true")
    p.add_argument("--device", type=device_arg, help=DEVICE_HELP)
    p.add_argument("--seed", type=int, help="seeds both the trials and Optuna's sampler")
    p.add_argument("--name", help="the study's name (default: tune-MODEL-DATA)")
    add_executor_argument(p, "each trial in a worker process of this machine")
    p.add_argument("--resume", metavar="STUDY", help="continue a stopped or interrupted study (its name or run id)")
    p.add_argument("--workspace", help="default: $WORKBENCH_HOME or the per-user data folder")
    p.add_argument("--json", action="store_true", help="print one JSON object as the last line of stdout")
    p.add_argument("--quiet", action="store_true", help="no line per trial on stderr")
    # train's flags this command does not offer, so that config_from_args can be shared
    p.set_defaults(command="tune", schedule=None, precision=None)


def run(args: argparse.Namespace) -> int:
    from core.tuning.search import create_study, resume_study, run_study, study_report
    from core.tuning.space import default_search, parse_search

    engine = Engine(args.workspace)
    if args.resume:
        parent_id = engine.store.get(args.resume).run_id
        resume_study(engine, parent_id)
    else:
        study_name, args.name = args.name, None  # --name names the study, not each trial's config
        config = config_from_args(args)
        executor = chosen_executor(args)
        if executor == "local":
            resolve_device(config.train.device)  # before any trial: each would fail on a GPU this machine lacks
        space = parse_search(args.search, config.model.kind) if args.search else default_search(config.model.kind)
        if not space:
            raise ConfigError(f"{config.model.kind} has nothing to search by default; pass --search lr, for example")
        parent_id = create_study(engine, config, space, args.trials, metric=args.metric, name=study_name,
                                 pruning=not args.no_pruning, executor=executor)
    stops: list[str] = []
    previous = {sig: signal.signal(sig, lambda signum, _f: stops.append(signal.Signals(signum).name))
                for sig in (signal.SIGTERM, signal.SIGINT)}
    quiet = args.quiet or (args.json and not sys.stderr.isatty())
    spec_metric = engine.store.get(parent_id).summary["study"]["metric"]
    n_trials = engine.store.get(parent_id).summary["study"]["n_trials"]

    def on_trial(row: Any) -> None:
        if quiet:
            return
        value = f"val {spec_metric} {row.value:.4f}" if row.value is not None else (row.reason or "")
        params = ", ".join(f"{k}={_fmt(v)}" for k, v in row.params.items())
        print(f"trial {row.number + 1}/{n_trials}: {row.state} {value}  ({params})", file=sys.stderr)

    try:
        status = run_study(engine, parent_id, should_stop=lambda: bool(stops), on_trial=on_trial)
        report = study_report(engine, parent_id)
    finally:
        engine.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if args.json:
        print(json.dumps(report))
    else:
        _print_human(report)
    return 0 if status == "completed" else 1


def _print_human(report: dict[str, Any]) -> None:
    print(f"study {report['study']} ({report['run_id']}): {report['status']}"
          + (f" ({report['status_reason']})" if report["status_reason"] else ""))
    counts = report["counts"] or {}
    print(f"  trials: {counts.get('complete', 0)} complete, {counts.get('pruned', 0)} pruned, "
          f"{counts.get('failed', 0) + counts.get('stopped', 0)} failed or stopped")
    best = report["best"]
    if best:
        params = ", ".join(f"{k}={_fmt(v)}" for k, v in best["params"].items())
        print(f"  best: trial {best['trial'] + 1}, val {report['metric']} {best['value']:.4f} (run {best['run_id']})")
        print(f"        {params}")


def _fmt(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)
