"""`workbench explain RUN`: SHAP or LIME for a completed run, cached beside it."""
from __future__ import annotations

import argparse
import json
import sys
import time

from core.engine import Engine
from core.errors import WorkbenchError

EXPLAINERS = ("auto", "linear", "deeplift", "deep", "permutation", "kernel")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("explain", help="explain a trained run with SHAP or LIME")
    p.add_argument("run", help="a run id (or a unique prefix, or its name)")
    p.add_argument("--method", choices=("shap", "lime"), default="shap")
    p.add_argument("--rows", type=int, default=None,
                   help="how many test rows to explain (default: 100 for SHAP, 5 for LIME)")
    p.add_argument("--row", type=int, action="append", dest="row_ids", metavar="ROW",
                   help="explain this row (as numbered in predictions.parquet); repeat for more")
    p.add_argument("--most-wrong", action="store_true", help="explain the test rows the model got most wrong")
    p.add_argument("--explainer", choices=EXPLAINERS, default="auto", help="SHAP explainer (default: by model)")
    p.add_argument("--space", choices=("logit", "probability", "value"),
                   help="output to explain (default: logit for classifiers, value for regressors)")
    p.add_argument("--background", type=int, default=100, help="training rows used as the reference")
    p.add_argument("--samples", type=int, default=None,
                   help="LIME perturbations per row (default 1000), or model calls per row for permutation/kernel")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-cache", action="store_true", help="compute again even if the answer is cached")
    p.add_argument("--workspace")
    p.add_argument("--json", action="store_true", help="print one JSON object as the last line of stdout")


def run(args: argparse.Namespace) -> int:
    from core.explain import (
        LimeExplanation, LimeParams, ShapExplanation, ShapParams, explain_lime, explain_shap, summary,
    )
    from core.explain.cache import cached_keys
    from core.explain.rows import most_wrong, test_rows

    if args.rows is not None and args.rows < 1:
        raise WorkbenchError("--rows must be at least 1")
    if args.background < 1:
        raise WorkbenchError("--background must be at least 1")
    engine = Engine(args.workspace)
    try:
        run_id = engine.store.get(args.run).run_id
        n = args.rows or (100 if args.method == "shap" else 5)
        if args.row_ids:
            rows = list(args.row_ids)
        elif args.most_wrong:
            rows = most_wrong(engine.store, run_id, n)
        else:
            rows = test_rows(engine.store, run_id, n)
        shap_params = ShapParams(explainer=args.explainer, space=args.space, background=args.background,
                                 nsamples=args.samples or 200, seed=args.seed)
        before = set(cached_keys(engine.store, run_id))
        progress = _progress_line if sys.stderr.isatty() and not args.json else None
        started = time.perf_counter()
        result: ShapExplanation | LimeExplanation
        if args.method == "shap":
            result = explain_shap(engine.store, engine.catalog, run_id, rows, shap_params,
                                  progress=progress, use_cache=not args.no_cache)
        else:
            params = LimeParams(num_samples=args.samples or 1000, seed=args.seed, shap=shap_params)
            result = explain_lime(engine.store, engine.catalog, run_id, rows, params,
                                  progress=progress, use_cache=not args.no_cache)
        seconds = time.perf_counter() - started
        if progress is not None:
            print(file=sys.stderr)
    finally:
        engine.close()
    out = {**summary(result), "seconds": round(seconds, 4),
           "cached": result.key in before and not args.no_cache}
    if args.json:
        print(json.dumps(out))
        return 0
    _print_human(out, result.warnings)
    return 0


def _progress_line(fraction: float, message: str) -> None:
    print(f"\r{message}: {fraction:4.0%}", end="", file=sys.stderr, flush=True)


def _print_human(out: dict, warnings: list[str]) -> None:
    cached = " (from the cache)" if out["cached"] else ""
    print(f"{out['method'].upper()} for {out['rows']} rows of run {out['run_id']} with {out['explainer']}"
          f" in {out['seconds']:.2f} s{cached}; output: {out['space']} of {', '.join(out['outputs'][:5])}")
    if "max_additivity_error" in out:
        print(f"  additivity: base + sum of values = output within {out['max_additivity_error']:.2e}")
    if out.get("agreement") is not None:
        print(f"  agreement with SHAP (rank correlation of the top features): {out['agreement']:+.2f}")
    print("  importance by column (mean |value|):")
    for name, value in list(out["importances"].items())[:15]:
        print(f"    {name:<30} {value:.4g}")
    for message in warnings:
        print(f"  note: {message}")
