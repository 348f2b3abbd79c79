"""`workbench train`: one run in this process, recorded in the store like any other."""
from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from typing import Any

import torch

from core.config import DataConfig, RunConfig, device_problem
from core.engine import Engine
from core.errors import ConfigError
from core.runs.content_hash import pin_content_hash
from core.runs.execute import execute_run
from core.data.catalog import sample_sequence
from core.training.augment import resolve_augment
from core.training.callbacks import Callback, TrainerView
from core.training.device import cpu_threads, resolve_device
from core.vocab import ACTIVE, IMAGE_COLORS, MODEL_KINDS, OPTIMIZERS, PRECISIONS, SCHEDULES, SEQUENCE_KINDS, TASKS, primary_metric

DEVICE_HELP = ("auto (default: a GPU if there is one), cpu, cuda (the default GPU), cuda:N (GPU number N), "
               "cuda:all (every GPU, one process each) or mps")


def device_arg(value: str) -> str:
    """`--device`, checked by the config's own rule: the flag and a run.yaml say the same thing."""
    problem = device_problem(value)
    if problem:
        raise argparse.ArgumentTypeError(problem)
    return value


def add_data_arguments(p: argparse.ArgumentParser, config_help: str) -> None:
    """What to learn from: shared by `train` and `tune`, which both build a RunConfig from them."""
    p.add_argument("--config", help=config_help)
    p.add_argument("--data", help="a sample name (iris, digits, digits_images, ...), a CSV/Parquet path, or a "
                                  "zip or folder of class folders of images")
    p.add_argument("--target", help="the column to predict (default: the sample's; 'label' for images)")
    p.add_argument("--task", choices=TASKS, help="default: inferred")
    p.add_argument("--model", choices=tuple(MODEL_KINDS))


def add_sequence_arguments(p: argparse.ArgumentParser) -> None:
    """Sequence settings (SequenceConfig): any of them makes the run read sequences."""
    g = p.add_argument_group("sequences (time series and sequence classification)")
    g.add_argument("--time-column", help="the time stamps: rows are sorted by them (a numeric target is forecast)")
    g.add_argument("--series-id", help="long format: the column naming each series, or each sequence to classify")
    g.add_argument("--inputs", help="the value columns the model reads, e.g. temp,rain (default: every numeric one)")
    g.add_argument("--window", type=int, help="steps per example (default: 24 for a forecast, the whole sequence "
                                              "to classify)")
    g.add_argument("--horizon", type=int, help="forecast this many steps after the window (default 1)")
    g.add_argument("--stride", type=int, help="steps between the starts of two windows (default 1)")
    g.add_argument("--seasonal-period", type=int, help="the seasonal-naive baseline's period in steps "
                                                       "(default: from the spacing, e.g. 7 for days)")


def sequence_from_args(args: argparse.Namespace) -> dict[str, Any]:
    flags = {"time_column": args.time_column, "series_id": args.series_id, "window": args.window,
             "horizon": args.horizon, "stride": args.stride, "seasonal_period": args.seasonal_period}
    out: dict[str, Any] = {k: v for k, v in flags.items() if v is not None}
    if args.inputs:
        out["inputs"] = tuple(c.strip() for c in args.inputs.split(",") if c.strip())
    return out


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a model and record the run")
    add_data_arguments(p, "a run.yaml (exported or written by hand); flags below override it")
    add_sequence_arguments(p)
    p.add_argument("--hidden", help="MLP hidden sizes, e.g. 64,64")
    p.add_argument("--image-size", type=int, help="images: the longer side in pixels (default: from the images)")
    p.add_argument("--color", choices=IMAGE_COLORS, help="images: auto (grey when all are grey), grayscale or rgb")
    p.add_argument("--augment", help="images: e.g. flip,crop,rotation=10,color=0.2,cutout (strengths optional)")
    p.add_argument("--epochs", type=int)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--lr", type=float)
    p.add_argument("--optimizer", choices=OPTIMIZERS,
                   help="auto (default): L-BFGS for linear and logistic models, Adam for the others")
    p.add_argument("--schedule", choices=SCHEDULES)
    p.add_argument("--weight-decay", type=float)
    p.add_argument("--patience", type=int, help="early-stopping patience in epochs")
    p.add_argument("--no-early-stopping", action="store_true")
    p.add_argument("--device", type=device_arg, help=DEVICE_HELP)
    p.add_argument("--processes", type=int, metavar="N",
                   help="train one run with N processes (DDP, torchrun): on --device cpu, or the first N GPUs of "
                        "--device cuda:all (default: one per GPU)")
    p.add_argument("--precision", choices=PRECISIONS)
    p.add_argument("--seed", type=int)
    p.add_argument("--name", help="a name for the run")
    p.add_argument("--cv", type=int, metavar="K", help="k-fold cross-validation: K runs, reported as mean +- std")
    p.add_argument("--repeats", type=int, metavar="N",
                   help="train N times with seeds SEED, SEED+1, ... on one split: mean +- std and a 95%% t "
                        "interval per metric")
    add_executor_argument(p, "train in this process")
    p.add_argument("--workspace", help="default: $WORKBENCH_HOME or the per-user data folder")
    p.add_argument("--json", action="store_true", help="print one JSON object as the last line of stdout")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(command="train")


def add_executor_argument(p: argparse.ArgumentParser, local: str) -> None:
    p.add_argument("--executor", choices=("local", "ray"),
                   help=f"ray: submit to the Ray cluster at $WORKBENCH_RAY_ADDRESS (a job per run, with its GPUs); "
                        f"local: {local} (default: ray when WORKBENCH_RAY_ADDRESS is set, else local)")


def chosen_executor(args: argparse.Namespace) -> str:
    from core.runs.ray_executor import RAY_ADDRESS_ENV, ray_address

    executor = getattr(args, "executor", None) or ("ray" if ray_address() else "local")
    if executor == "ray" and not ray_address():
        raise ConfigError(f"--executor ray needs {RAY_ADDRESS_ENV}: the Ray head's job server, e.g. "
                          "http://HEAD:8265")
    return executor


def config_from_args(args: argparse.Namespace) -> RunConfig:
    if args.config:
        config = RunConfig.load(args.config)
    else:
        if not args.data or not args.target:
            raise ConfigError("train needs --data and --target (or --config run.yaml); --target may be left out "
                              "for a sample or for images")
        config = RunConfig(data=DataConfig(source=args.data, target=args.target))
    data: dict[str, Any] = {k: v for k, v in (("source", args.data), ("target", args.target), ("task", args.task))
                            if v is not None}
    if args.data is not None and args.config:
        data["content_hash"] = None  # another file: its own hash
    if getattr(args, "image_size", None) is not None:
        data["image_size"] = args.image_size
    if getattr(args, "color", None) is not None:
        data["image_color"] = args.color
    model: dict[str, Any] = {}
    if args.model is not None:
        model["kind"] = args.model
        if args.model != config.model.kind:
            model["params"] = {}
    if args.hidden:
        try:
            model["params"] = {**config.model.params, **model.get("params", {}),
                               "hidden_sizes": [int(h) for h in args.hidden.split(",") if h.strip()]}
        except ValueError:
            raise ConfigError(f"--hidden takes sizes like 64,64, not {args.hidden!r}") from None
    optim = {k: v for k, v in (("lr", args.lr), ("name", args.optimizer), ("weight_decay", args.weight_decay))
             if v is not None}
    train = {k: v for k, v in (("epochs", args.epochs), ("batch_size", args.batch_size), ("device", args.device),
                                ("precision", args.precision), ("seed", args.seed), ("patience", args.patience),
                                ("processes", getattr(args, "processes", None)))
             if v is not None}
    if args.no_early_stopping:
        train["early_stopping"] = False
    if getattr(args, "augment", None):
        train["augment"] = parse_augment(args.augment)
    schedule = {"name": args.schedule} if args.schedule else {}
    sections: dict[str, Any] = {}
    sequence = sequence_from_args(args) if hasattr(args, "time_column") else {}
    kind = model.get("kind", config.model.kind)
    if config.sequence is None and kind in SEQUENCE_KINDS:
        # a sequence model reads the table as sequences even without flags: a sample's own settings, else
        # the defaults (a numeric target is forecast in row order; each row of steps is a sequence to classify)
        sequence = {**(sample_sequence(args.data or config.data.source) or {}), **sequence}
        sections["sequence"] = sequence
    elif sequence:
        sections["sequence"] = sequence
    return config.evolve(data=data, model=model, optim=optim, train=train, schedule=schedule,
                         name=args.name or config.name, **sections)


def parse_augment(text: str) -> dict[str, Any]:
    """'flip,rotation=10' -> {'flip': True, 'rotation': 10.0}; checked by the config and the trainer."""
    out: dict[str, Any] = {}
    for part in (p.strip() for p in text.split(",") if p.strip()):
        name, eq, value = part.partition("=")
        try:
            out[name.strip()] = float(value) if eq else True
        except ValueError:
            raise ConfigError(f"--augment takes name or name=number, not {part!r}") from None
    return out


class ProgressBar(Callback):
    """A one-line progress bar on stderr, redrawn at most 5 times a second."""

    def __init__(self) -> None:
        self._next = 0.0
        self._last: dict[str, float] = {}

    def on_step_end(self, trainer: TrainerView, *, step: int, **kwargs: Any) -> None:
        if time.monotonic() >= self._next:
            self._draw(trainer)

    def on_epoch_end(self, trainer: TrainerView, *, epoch: int, logs: dict[str, float], **kwargs: Any) -> None:
        self._last = logs
        self._draw(trainer)

    def on_fit_end(self, trainer: TrainerView, *, status: str, **kwargs: Any) -> None:
        self._draw(trainer)
        sys.stderr.write("\n")

    def _draw(self, trainer: TrainerView) -> None:
        self._next = time.monotonic() + 0.2
        progress = trainer.progress()
        filled = int(24 * progress["fraction"])
        bar = "#" * filled + "." * (24 - filled)
        shown = " ".join(f"{k.replace('/', '_')} {v:.4g}" for k, v in self._last.items()
                         if k.startswith(("train/loss", "val/")))
        sys.stderr.write(f"\r[{bar}] epoch {progress['epoch']}/{progress['epochs']} {shown}   ")
        sys.stderr.flush()


def default_target(args: argparse.Namespace, engine: Engine) -> None:
    """`--data X` without `--target`: the dataset's own target (a sample's, or 'label' for images)."""
    if args.data and not args.target and not args.config:
        args.target = engine.catalog.resolve(args.data).target or None
        if args.target is None:
            raise ConfigError(f"say which column of {args.data} to predict with --target")


def run(args: argparse.Namespace) -> int:
    engine = Engine(args.workspace)
    default_target(args, engine)
    config = config_from_args(args)
    resolve_augment(config.train.augment)  # a wrong strength is bad input, not a failed run
    ref = engine.catalog.resolve(config.data.source)  # a missing file is bad input, not a failed run
    pinned = pin_content_hash(config, ref)
    if pinned.warning:  # said here at once, and kept with the run (its CV parent) among its events
        print(f"workbench: warning: {pinned.warning}", file=sys.stderr)
    if args.cv is not None and args.repeats is not None:
        raise ConfigError("choose --cv or --repeats, not both")
    if chosen_executor(args) == "ray":
        if args.cv is not None or args.repeats is not None:
            raise ConfigError("--cv and --repeats train here; leave out --executor ray (or WORKBENCH_RAY_ADDRESS)")
        return _run_on_ray(args, engine, config)  # the GPU is the cluster's question, not this machine's
    resolve_device(config.train.device)  # a GPU this machine lacks is bad input, not a failed run
    torch.set_num_threads(cpu_threads())  # as a worker trains: all cores but one, the app's
    if args.cv is not None:
        return _run_cv(args, engine, config)  # the CV parent pins the config itself, and keeps the warning
    if args.repeats is not None:
        from workbench.commands.repeats import run_repeats

        return run_repeats(args, engine, config, [] if (args.quiet or not sys.stderr.isatty() and args.json)
                           else [ProgressBar()])
    run_id = engine.store.create_run(pinned.config.to_dict(), name=config.name, task=config.data.task,
                                     model=config.model.kind, dataset=ref.label, pid=os.getpid(),
                                     summary=pinned.run_summary(), executor="cli")
    return execute_here(args, engine, run_id)


def execute_here(args: argparse.Namespace, engine: Engine, run_id: str) -> int:
    """Train the recorded run `run_id` in this process (SIGTERM and Ctrl-C stop it, with a checkpoint),
    then print its result as `workbench train` does; the exit code says how it ended."""
    stops: list[str] = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda signum, _f: stops.append(f"stopped by {signal.Signals(signum).name}"))

    def should_stop() -> str | None:
        if stops:
            return stops[0]
        return "stopped by the user" if engine.store.stop_requested(run_id) else None

    callbacks = [] if (args.quiet or not sys.stderr.isatty() and args.json) else [ProgressBar()]
    status = execute_run(engine.store, engine.catalog, run_id, callbacks=callbacks, should_stop=should_stop)
    return _report(args, engine, run_id, status)


def _run_on_ray(args: argparse.Namespace, engine: Engine, config: RunConfig) -> int:
    """Submit the run to Ray and follow it in the store until it ends; Ctrl-C or SIGTERM stops it through Ray."""
    run_id = engine.manager.submit(config, name=config.name, executor="ray")
    stops: list[str] = []
    previous = {sig: signal.signal(sig, lambda signum, _f: stops.append(signal.Signals(signum).name))
                for sig in (signal.SIGTERM, signal.SIGINT)}
    if not args.quiet:
        print(f"workbench: run {run_id} submitted to Ray as job workbench-{run_id}", file=sys.stderr)
    try:
        stopping = False
        while engine.store.get(run_id).status in ACTIVE:
            if stops and not stopping:
                stopping = True
                engine.manager.stop(run_id)
            time.sleep(0.2)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        engine.close()
    return _report(args, engine, run_id, engine.store.get(run_id).status)


def _report(args: argparse.Namespace, engine: Engine, run_id: str, status: str) -> int:
    record = engine.store.get(run_id)
    result = {
        "run_id": run_id, "status": status, "status_reason": record.status_reason, "task": record.task,
        "device": record.device, "duration_s": record.summary.get("duration_s"),
        "samples_per_s": record.summary.get("samples_per_s"), "host": record.host, "executor": record.executor,
        "metrics": {k: record.metrics.get(k, {}) for k in ("val", "test")},
        "baselines": record.summary.get("baselines", {}),
        "skipped_files": record.summary.get("skipped_files", []),
    }
    baseline = record.summary.get("baseline")
    if baseline:  # sequence runs: what the network has to beat, on the same test examples
        result["baseline"] = {"name": baseline["name"], "test": baseline["test"]}
    if args.json:
        print(json.dumps(result))
    else:
        _print_human(result)
    if result["skipped_files"] and not args.quiet:
        listed = ", ".join(f"{s['file']} ({s['why']})" for s in result["skipped_files"][:8])
        more = f" and {len(result['skipped_files']) - 8} more" if len(result["skipped_files"]) > 8 else ""
        print(f"workbench: {len(result['skipped_files'])} file(s) skipped: {listed}{more}", file=sys.stderr)
    if status == "failed":
        print(f"workbench: run {run_id} failed: {record.status_reason}", file=sys.stderr)
        return 2 if record.summary.get("error_kind") == "input" else 1
    return 0 if status == "completed" else 1


def _print_human(result: dict[str, Any]) -> None:
    print(f"run {result['run_id']}: {result['status']} on {result['device']}")
    for split, values in result["metrics"].items():
        if values:
            print(f"  {split}: " + ", ".join(f"{k}={v:.4f}" for k, v in values.items() if v is not None))
    if result.get("baseline"):
        b = result["baseline"]
        print(f"  baseline ({b['name']}), test: " + ", ".join(f"{k}={v:.4f}" for k, v in b["test"].items()
                                                             if v is not None))
    print_baselines(result.get("baselines") or {}, result.get("task"))


def print_baselines(baselines: dict[str, Any], task: str | None) -> None:
    """The baselines' test scores, one line each (the task's primary metric first)."""
    if not baselines or task is None:
        return
    metric = primary_metric(task)
    for item in baselines.values():
        test = (item.get("metrics") or {}).get("test") or {}
        if test.get(metric) is not None:
            print(f"  baseline {item.get('label')}: test {metric}={test[metric]:.4f}")


def _run_cv(args: argparse.Namespace, engine: Engine, config: RunConfig) -> int:
    """`--cv K`: the folds one after another in this process, then the parent's mean +- std."""
    from core.tuning.cv import run_cv_inline

    stops: list[str] = []
    previous = {sig: signal.signal(sig, lambda signum, _f: stops.append(f"stopped by {signal.Signals(signum).name}"))
                for sig in (signal.SIGTERM, signal.SIGINT)}
    quiet = args.quiet or not sys.stderr.isatty() and args.json

    def on_fold(number: int, status: str) -> None:
        if not quiet:
            print(f"fold {number}/{args.cv}: {status}", file=sys.stderr)

    callbacks = [] if quiet else [ProgressBar()]
    try:
        parent_id = run_cv_inline(engine.store, engine.catalog, config, args.cv, callbacks=callbacks,
                                  should_stop=lambda: stops[0] if stops else None, on_fold=on_fold)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    record = engine.store.get(parent_id)
    result = {
        "run_id": parent_id, "status": record.status, "status_reason": record.status_reason, "task": record.task,
        "device": record.device, "duration_s": record.summary.get("duration_s"), "samples_per_s": None,
        "folds": [f["run_id"] for f in record.summary.get("folds", [])],
        "metrics": {k: record.metrics.get(k, {}) for k in ("cv", "val", "test")},
    }
    if args.json:
        print(json.dumps(result))
    else:
        print(f"run {parent_id}: {record.status}, {args.cv}-fold cross-validation on {record.device}")
        for name, stats in result["metrics"]["cv"].items():
            if stats["mean"] is not None:
                print(f"  {name}: {stats['mean']:.4f} +- {stats['std']:.4f}")
    if record.status == "failed":
        print(f"workbench: run {parent_id} failed: {record.status_reason}", file=sys.stderr)
    return 0 if record.status == "completed" else 1
