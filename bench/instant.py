"""How instant is a small run? Ratios against a bare `python -c "import torch"`, in one process run.

  python bench/instant.py [--repeats 3] [--skip cli,app,cv]

Measures, side by side:
  torch     the yardstick: a fresh `python -c "import torch"` (best of --repeats)
  cli       `workbench train --data iris --target species --model mlp --epochs 30 --device cpu --json`
  app       an Engine in this process: submit -> first metric row, submit -> completed (iris, 30 epochs),
            the first submit (workers still starting) apart from the warm ones
  cv        5-fold CV on iris through the Engine against one run of the same config

Prints one JSON object per line and a last one with the ratios against the issue's targets
(CLI <= 1.5x torch, submit->completed <= 0.3x, submit->first metric <= 0.15x, 5-fold CV <= 2x one run).
The machine's load is printed with them: on a shared machine, run it several times.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CLI = [sys.executable, "-m", "workbench.cli", "train", "--data", "iris", "--target", "species", "--model", "mlp",
       "--epochs", "30", "--device", "cpu", "--json"]


def log(**kw) -> None:
    print(json.dumps(kw), flush=True)


def timed_subprocess(argv: list[str], env: dict[str, str] | None = None) -> float:
    start = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, cwd=ROOT)
    return time.perf_counter() - start


def spread(values: list[float]) -> dict[str, float]:
    return {"best": round(min(values), 3), "median": round(statistics.median(values), 3)}


def iris_config(epochs: int = 30):
    from core.config import DataConfig, RunConfig

    config = RunConfig(data=DataConfig(source="iris", target="species"))
    return config.evolve(model={"kind": "mlp", "params": {}}, train={"epochs": epochs, "device": "cpu"})


def wait_for(predicate, timeout_s: float = 300.0, poll_s: float = 0.005):
    deadline = time.perf_counter() + timeout_s
    while time.perf_counter() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(poll_s)
    raise TimeoutError("the condition did not hold in time")


def app_run(engine, config) -> tuple[float, float, str]:
    """submit -> first metric row, submit -> terminal status (seconds), and the status."""
    store = engine.store
    start = time.perf_counter()
    run_id = engine.manager.submit(config)
    wait_for(lambda: store.epoch_rows(run_id) or store.get(run_id).status not in ("queued", "running"))
    first = time.perf_counter() - start
    record = wait_for(lambda: (r := store.get(run_id)).status not in ("queued", "running") and r)
    return first, time.perf_counter() - start, record.status


def app_cv(engine, config, k: int = 5) -> tuple[float, str]:
    from core.tuning.cv import submit_cv

    start = time.perf_counter()
    parent_id = submit_cv(engine, config, k)
    record = wait_for(lambda: (r := engine.store.get(parent_id)).status not in ("queued", "running") and r)
    return time.perf_counter() - start, record.status


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip", default="", help="comma-separated: cli, app, cv")
    args = parser.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    log(load=os.getloadavg(), cores=os.cpu_count(), python=sys.version.split()[0])

    torch_s = [timed_subprocess([sys.executable, "-c", "import torch"]) for _ in range(args.repeats)]
    log(step="torch import", **spread(torch_s))
    anchor = min(torch_s)
    out: dict[str, object] = {"torch_import_s": round(anchor, 3)}

    with tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as home:
        env = {**os.environ, "WORKBENCH_HOME": home}
        if "cli" not in skip:
            cli_s = [timed_subprocess(CLI, env) for _ in range(args.repeats)]
            log(step="cli iris 30 epochs", **spread(cli_s))
            out["cli_x_torch"] = round(min(cli_s) / anchor, 2)

        if skip >= {"app", "cv"}:
            log(**out)
            return 0
        os.environ["WORKBENCH_HOME"] = home
        from core.engine import Engine

        engine = Engine(Path(home) / "app")
        try:
            config = iris_config()
            if "app" not in skip:
                cold_first, cold_done, status = app_run(engine, config)
                log(step="app first submit (workers starting)", first_metric_s=round(cold_first, 3),
                    completed_s=round(cold_done, 3), status=status)
                firsts, dones = [], []
                for _ in range(args.repeats):
                    first, done, status = app_run(engine, config)
                    firsts.append(first)
                    dones.append(done)
                log(step="app submit -> first metric", **spread(firsts))
                log(step="app submit -> completed", **spread(dones), status=status)
                out["app_first_metric_x_torch"] = round(min(firsts) / anchor, 3)
                out["app_completed_x_torch"] = round(min(dones) / anchor, 3)
                out["app_first_submit_completed_x_torch"] = round(cold_done / anchor, 3)
            if "cv" not in skip:
                ones, cvs = [], []
                for _ in range(max(1, args.repeats - 1)):
                    ones.append(app_run(engine, config)[1])
                    cv_s, status = app_cv(engine, config)
                    cvs.append(cv_s)
                log(step="one run (for cv)", **spread(ones))
                log(step="5-fold cv", **spread(cvs), status=status)
                out["cv5_x_one_run"] = round(min(cvs) / min(ones), 2)
        finally:
            engine.close()
    log(load_after=os.getloadavg(), **out,
        targets={"cli_x_torch": 1.5, "app_completed_x_torch": 0.3, "app_first_metric_x_torch": 0.15,
                 "cv5_x_one_run": 2.0})
    return 0


if __name__ == "__main__":
    sys.exit(main())
