"""Run lifecycle: stop, kill, NaN, live reads from another process, determinism."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

from core.config import DataConfig, ModelConfig, OptimConfig, RunConfig, TrainConfig
from core.engine import Engine
from tests.helpers import wait_for


def long_config(**train) -> RunConfig:
    # digits with a tiny batch: thousands of steps, long enough to act on mid-run
    return RunConfig(data=DataConfig("digits", "label"), model=ModelConfig("mlp", {"hidden_sizes": [128]}),
                     train=TrainConfig(epochs=200, batch_size=4, early_stopping=False, **train))


def test_stop_mid_run_cancelled_within_2s(engine):
    run_id = engine.manager.submit(long_config())
    wait_for(lambda: engine.store.epoch_rows(run_id), 60, what="first metrics")
    asked = time.monotonic()
    engine.manager.stop(run_id)
    wait_for(lambda: engine.store.get(run_id).status == "cancelled", 10, what="cancelled")
    assert time.monotonic() - asked < 2.0
    assert engine.store.get(run_id).status_reason == "stopped by the user"
    assert "checkpoint" in engine.store.artifacts(run_id)
    engine.manager.stop(run_id)  # stopping twice is harmless
    assert engine.store.get(run_id).status == "cancelled"


def test_queued_runs_run_one_at_a_time_and_cancel_while_queued(engine):
    first = engine.manager.submit(long_config())
    second = engine.manager.submit(long_config())
    wait_for(lambda: engine.store.get(first).status == "running", 30)
    assert engine.store.get(second).status == "queued"
    engine.manager.stop(second)
    assert engine.store.get(second).status == "cancelled"
    engine.manager.stop(first)
    wait_for(lambda: engine.store.get(first).status == "cancelled", 10)


def test_worker_sigkill_interrupted_after_restart(workspace):
    proc = subprocess.Popen([sys.executable, "-m", "workbench.cli", "train", "--data", "digits", "--target", "label",
                             "--epochs", "200", "--batch-size", "4", "--no-early-stopping", "--quiet",
                             "--workspace", str(workspace)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        probe = Engine(workspace)
        wait_for(lambda: probe.store.list_runs(status="running"), 60, what="a running run")
        run_id = probe.store.list_runs(status="running")[0].run_id
        wait_for(lambda: probe.store.epoch_rows(run_id), 60, what="metrics")
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        restarted = Engine(workspace)
        record = restarted.store.get(run_id)
        assert record.status == "interrupted"
        assert "stopped unexpectedly" in record.status_reason
    finally:
        proc.kill()


def test_manager_reaps_a_killed_worker(engine):
    run_id = engine.manager.submit(long_config())
    wait_for(lambda: engine.store.epoch_rows(run_id), 60)
    engine.manager.kill(run_id)
    wait_for(lambda: engine.store.get(run_id).status == "interrupted", 10)
    assert "killed" in engine.store.get(run_id).status_reason


def test_nan_loss_fails_with_reason(engine):
    config = RunConfig(data=DataConfig("diabetes", "progression"), model=ModelConfig("mlp"),
                       optim=OptimConfig(name="sgd", lr=1e8), train=TrainConfig(epochs=5, batch_size=16))
    run_id = engine.store.create_run(config.to_dict())
    from core.runs.execute import execute_run

    assert execute_run(engine.store, engine.catalog, run_id) == "failed"
    record = engine.store.get(run_id)
    assert "non-finite loss" in record.status_reason
    from safetensors.torch import load_file
    import torch

    weights = load_file(engine.store.artifact_path(run_id, "checkpoint"))
    assert all(torch.isfinite(t).all() for t in weights.values())


def test_second_process_reads_metrics_while_training(engine, workspace):
    run_id = engine.manager.submit(long_config())
    reader = (
        "import json, sys, time; from core.runs.store import RunStore; s = RunStore(sys.argv[1]);"
        "deadline = time.time() + 60\n"
        "while time.time() < deadline:\n"
        "    rows = s.epoch_rows(sys.argv[2]); st = s.get(sys.argv[2]).status\n"
        "    if rows and st == 'running': print(json.dumps({'rows': len(rows), 'status': st})); break\n"
        "    time.sleep(0.05)\n"
    )
    out = subprocess.run([sys.executable, "-c", reader, str(workspace), run_id], capture_output=True, text=True,
                         timeout=90)
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    assert seen["rows"] > 0 and seen["status"] == "running"
    engine.manager.stop(run_id)
    wait_for(lambda: engine.store.get(run_id).status == "cancelled", 10)


def test_same_seed_same_metrics_on_cpu(engine):
    from core.runs.execute import execute_run

    config = RunConfig(data=DataConfig("wine", "cultivar"), train=TrainConfig(epochs=8, seed=7, device="cpu"))
    ids = [engine.store.create_run(config.to_dict()) for _ in range(2)]
    for run_id in ids:
        assert execute_run(engine.store, engine.catalog, run_id) == "completed"
    a, b = (engine.store.get(i).metrics for i in ids)
    assert a == b
    curves = [[(m["name"], m["value"]) for m in engine.store.epoch_rows(i) if m["split"] != "sys"] for i in ids]
    assert curves[0] == curves[1]
