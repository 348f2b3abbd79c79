"""What importance snapshots cost a run: the same runs with shap_every on and off, side by side in one process.

  python bench/insight_snapshots.py [--rows 20000] [--epochs 10] [--repeats 2] [--device cpu]

For each model (logistic, MLP 64-64) a synthetic table (seeded, --rows x 20 numeric columns, one of
them deciding the class) trains with shap_every=0 and shap_every=1 (a snapshot every epoch, five times
the default rate) alternately, --repeats times each. Prints one JSON line per pair and a summary: the
median ratio of the run's fit time with snapshots to without, and the snapshots' own share of the fit
as they measured it (shap_over_time.json). The budget is 10% at the default rate (every epochs // 5).
The machine's load is printed with them: on a shared machine, run it several times.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def log(**kw) -> None:
    print(json.dumps(kw), flush=True)


def main() -> None:
    import numpy as np
    import pandas as pd

    from core.config import DataConfig, ModelConfig, RunConfig, TrainConfig
    from core.engine import Engine
    from core.explain.over_time import importance_history
    from core.runs.execute import execute_run

    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    workspace = Path(tempfile.mkdtemp(prefix="wb-bench-insight-"))
    rng = np.random.default_rng(0)
    X = rng.normal(size=(args.rows, 20))
    frame = pd.DataFrame(X, columns=[f"c{i}" for i in range(20)])
    frame["label"] = np.where(frame.c3 + 0.3 * frame.c7 > 0, "yes", "no")
    frame.to_csv(workspace / "table.csv", index=False)
    engine = Engine(workspace)
    summary = {}
    try:
        for kind, params in (("logistic", {}), ("mlp", {"hidden_sizes": [64, 64]})):
            ratios, shares = [], []
            for repeat in range(args.repeats):
                fit = {}
                for every in (0, 1):
                    config = RunConfig(data=DataConfig(source=str(workspace / "table.csv"), target="label"),
                                       model=ModelConfig(kind=kind, params=params),
                                       train=TrainConfig(epochs=args.epochs, device=args.device, early_stopping=False,
                                                         shap_every=every))
                    run_id = engine.store.create_run(config.to_dict(), model=kind, dataset="table")
                    assert execute_run(engine.store, engine.catalog, run_id) == "completed"
                    fit[every] = engine.store.get(run_id).summary["duration_s"]
                    if every:
                        history = importance_history(engine.store, run_id)
                        shares.append(history.seconds / history.fit_seconds)
                ratios.append(fit[1] / fit[0])
                log(model=kind, repeat=repeat, seconds_without=round(fit[0], 3), seconds_with=round(fit[1], 3),
                    ratio=round(fit[1] / fit[0], 3), snapshot_share=round(shares[-1], 4), load=os.getloadavg()[0])
            summary[kind] = {"ratio_every_epoch": round(statistics.median(ratios), 3),
                             "snapshot_share_every_epoch": round(statistics.median(shares), 4),
                             "snapshot_share_at_default_rate": round(statistics.median(shares) / 5, 4)}
    finally:
        engine.close()
    log(summary=summary, rows=args.rows, epochs=args.epochs, load=os.getloadavg()[0])


if __name__ == "__main__":
    main()
