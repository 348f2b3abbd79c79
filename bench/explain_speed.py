"""Explainer speed against the shared anchors (/work/shared/bench/explain_anchors.py), in one process.

The anchor script trains its MLP (64 -> 256 -> 256 -> 10) and times shap.DeepExplainer and a
batched expected-gradients pass on 100 rows; it is imported by path here, so our batched
DeepLIFT-SHAP runs on the very same model, rows and references right after it. Then
100 rows of breast_cancer are explained on 2 CPU threads through the workbench's own API.

Prints one JSON object per measurement, then a summary with ratios and targets (null
where a target needs a GPU and there is none).

    python bench/explain_speed.py            # the anchor as published (200k training rows)
    python bench/explain_speed.py --quick    # 20k training rows, 1 CPU thread: a CPU run under a minute

On a CPU, shap.DeepExplainer's thousand tiny passes slow down 10x or more with 2 threads on a busy
machine (thread hand-offs); --quick therefore runs the anchor comparison, both sides, on 1 thread
(--threads overrides). The breast_cancer measurement always uses 2 threads.
"""
from __future__ import annotations

import argparse
import contextlib
import importlib.util
import io
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
ANCHORS = Path(os.environ.get("WORKBENCH_ANCHORS", "/work/shared/bench"))
sys.path.insert(0, str(ROOT))

GPU_TARGET_S = 0.1  # 100 rows of the anchor MLP on an H100-class GPU
CPU_TARGET_S = 1.0  # 100 rows of breast_cancer on 2 CPU cores
MATCH_ATOL = 1e-4


def emit(**fields: Any) -> dict[str, Any]:
    print(json.dumps(fields), flush=True)
    return fields


def sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def run_anchor(quick: bool) -> tuple[ModuleType, dict[str, dict[str, Any]]]:
    """Import explain_anchors.py by path (it measures as it imports); its JSON lines become our anchors."""
    sys.path.insert(0, str(ANCHORS))
    import anchors  # the anchor's own helper module, imported the way explain_anchors imports it

    if quick:
        full = anchors.make_data
        anchors.make_data = lambda n, d, k, seed=0: full(min(n, 20_000), d, k, seed)
    spec = importlib.util.spec_from_file_location("explain_anchors", ANCHORS / "explain_anchors.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    captured = io.StringIO()
    with contextlib.redirect_stdout(captured):
        spec.loader.exec_module(module)
    found: dict[str, dict[str, Any]] = {}
    for line in captured.getvalue().splitlines():
        row = json.loads(line)
        if "method" in row:
            found[row["method"]] = row
            emit(measure=f"anchor_{row['method']}", device=module.dev.type, threads=torch.get_num_threads(),
                 **{k: v for k, v in row.items() if k != "method"})
    return module, found


def time_best(fn, repeats: int) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(repeats):
        sync()
        started = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - started)
    return min(times)


def ours_on_anchor(module: ModuleType, repeats: int) -> dict[str, Any]:
    from core.explain.deeplift import deeplift_shap

    model, rows, refs = module.m.eval(), module.ex, module.bg
    for _ in range(2):
        deeplift_shap(model, rows, refs)  # warm-up: kernels, allocator
    seconds = time_best(lambda: deeplift_shap(model, rows, refs), repeats)
    values, base = deeplift_shap(model, rows, refs)
    with torch.no_grad():
        out = model(rows).float().cpu().numpy()
    gap = float(np.abs(base + values.sum(axis=1) - out).max())
    reference = np.asarray(module.sv).reshape(values.shape)  # the anchor's own shap.DeepExplainer values
    diff = float(np.abs(values - reference).max())
    return emit(measure="deeplift_shap_anchor_mlp", device=model[0].weight.device.type,
                threads=torch.get_num_threads(), rows=len(rows),
                outputs=int(out.shape[1]), references=len(refs), seconds=round(seconds, 5),
                max_additivity_gap=gap, max_abs_diff_vs_shap_deep=diff)


def breast_cancer(repeats: int) -> list[dict[str, Any]]:
    """End to end through core.explain on 2 CPU threads, the model and data already loaded."""
    from core.config import DataConfig, ModelConfig, RunConfig, TrainConfig
    from core.engine import Engine
    from core.explain import RunContext, ShapParams, explain_shap
    from core.runs.execute import execute_run

    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    out = []
    with tempfile.TemporaryDirectory(prefix="wb-bench-explain-") as home:
        engine = Engine(home)
        try:
            for kind, params in (("logistic", {}), ("mlp", {"hidden_sizes": [64, 64]})):
                config = RunConfig(data=DataConfig(source="breast_cancer", target="diagnosis"),
                                   model=ModelConfig(kind=kind, params=params),
                                   train=TrainConfig(epochs=5, device="cpu", seed=0))
                run_id = engine.store.create_run(config.to_dict(), model=kind, dataset="breast_cancer")
                assert execute_run(engine.store, engine.catalog, run_id) == "completed"
                ctx = RunContext.load(engine.store, engine.catalog, run_id, device="cpu")
                rows = list(range(100))

                def explain(run_id: str = run_id, rows: list[int] = rows, ctx: RunContext = ctx) -> Any:
                    return explain_shap(engine.store, engine.catalog, run_id, rows, ShapParams(), context=ctx,
                                        use_cache=False)

                explain()
                seconds = time_best(explain, repeats)
                result = explain()
                out.append(emit(measure=f"breast_cancer_{kind}_shap", device="cpu", threads=2, rows=len(rows),
                                explainer=result.explainer, references=result.references,
                                seconds=round(seconds, 5), max_additivity_error=result.max_additivity_error))
        finally:
            engine.close()
            torch.set_num_threads(threads)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller anchor training set: under a minute on CPU")
    parser.add_argument("--repeats", type=int, default=None)
    parser.add_argument("--threads", type=int, default=None,
                        help="CPU threads for the anchor comparison (default: 1 with --quick, else torch's)")
    args = parser.parse_args()
    repeats = args.repeats or (3 if args.quick else 5)
    threads = args.threads or (1 if args.quick else None)
    if threads:
        torch.set_num_threads(threads)
    torch.manual_seed(0)
    module, anchor = run_anchor(args.quick)
    ours = ours_on_anchor(module, repeats)
    cancer = breast_cancer(repeats)
    gpu = module.dev.type == "cuda"
    shap_deep = anchor.get("shap_DeepExplainer", {}).get("seconds")
    floor = anchor.get("batched_expected_gradients_200", {}).get("seconds")
    emit(summary=True, device=module.dev.type, quick=args.quick,
         speedup_vs_shap_deep_explainer=round(shap_deep / ours["seconds"], 1) if shap_deep else None,
         ratio_to_expected_gradients_floor=round(ours["seconds"] / floor, 2) if floor else None,
         anchor_mlp_seconds=ours["seconds"],
         gpu_target_met=(ours["seconds"] <= GPU_TARGET_S) if gpu else None,
         exactly_additive=ours["max_additivity_gap"] < 1e-3,
         matches_shap_deep_explainer=ours["max_abs_diff_vs_shap_deep"] <= MATCH_ATOL,
         breast_cancer_seconds={r["measure"]: r["seconds"] for r in cancer},
         cpu_target_met=all(r["seconds"] <= CPU_TARGET_S for r in cancer),
         median_breast_cancer_s=statistics.median(r["seconds"] for r in cancer))
    return 0


if __name__ == "__main__":
    sys.exit(main())
