"""`workbench optimize RUN --prune 0.5 --quantize int8`: pruned and int8 variants with their trade-offs."""
from __future__ import annotations

import argparse
import json
import sys

from core.engine import Engine
from core.errors import ConfigError
from core.lifecycle.optimize import OptimizeRequest, optimize_run, skipped_steps
from core.lifecycle.prune import PRUNE_METHODS
from core.lifecycle.quantize import QUANTIZATIONS
from core.lifecycle.variants import delta
from core.vocab import metric_label


def sparsities(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"sparsities are numbers between 0 and 1 such as 0.5 or 0.25,0.5,0.75; "
                                         f"got {text!r}") from None


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("optimize", help="prune and quantise a completed run: variants with test metrics, size, "
                                        "latency")
    p.add_argument("run", help="a run id (or a unique prefix, or its name)")
    p.add_argument("--prune", type=sparsities, default=(), metavar="SPARSITY",
                   help="share of weights set to zero, e.g. 0.5, or several: 0.25,0.5,0.75")
    p.add_argument("--method", choices=PRUNE_METHODS, default="global",
                   help="global: the smallest weights over the whole model; structured: whole neurons/channels")
    p.add_argument("--finetune-epochs", type=int, default=0, metavar="N",
                   help="epochs of training after pruning, the zeros kept (default 0)")
    p.add_argument("--quantize", choices=QUANTIZATIONS,
                   help="int8: dynamic (torch, Linear/LSTM) and static (ONNX Runtime, calibrated on training rows)")
    p.add_argument("--workspace")
    p.add_argument("--json", action="store_true", help="print one JSON object")


def run(args: argparse.Namespace) -> int:
    if args.finetune_epochs < 0:
        raise ConfigError("--finetune-epochs is 0 or more")
    engine = Engine(args.workspace)
    try:
        record = engine.store.get(args.run)
        request = OptimizeRequest(prune=args.prune, method=args.method, finetune_epochs=args.finetune_epochs,
                                  quantize=args.quantize)
        say = (lambda text: None) if args.json else (lambda text: print(f"  {text}...", file=sys.stderr))
        variants = optimize_run(engine.store, engine.catalog, record.run_id, request, progress=say)
        skipped = skipped_steps(engine.store.run_dir(record.run_id))
    finally:
        engine.close()
    baseline = next((v for v in variants if v.id == "fp32"), None)
    if args.json:
        print(json.dumps({"run_id": record.run_id, "primary": baseline.primary if baseline else None,
                          "variants": [{**v.to_dict(), "change": delta(v, baseline)} for v in variants],
                          "skipped": skipped}))
        return 0
    primary = metric_label(baseline.primary) if baseline else "score"
    print(f"run {record.name} ({record.run_id}): {len(variants)} variant(s), test {primary}, latency on one CPU thread")
    print(f"  {'variant':<52} {primary[:9]:>9} {'change':>8} {'size':>9} {'x fp32':>7} {'b1 p50':>8} {'b256 p50':>9}")
    for v in variants:
        change = delta(v, baseline)
        score = v.metrics.get(v.primary)
        print(f"  {v.label[:52]:<52} {score if score is not None else float('nan'):>9.4f} "
              f"{change if change is not None else 0.0:>+8.4f} {v.size_bytes / 1024:>7.1f}KB "
              f"{v.size_ratio or 0:>7.2f} {v.latency['batch_1']['p50_ms']:>6.3f}ms "
              f"{v.latency['batch_256']['p50_ms']:>7.3f}ms")
    for step in skipped:
        print(f"  not made: {step['variant']}: {step['why']}")
    return 0
