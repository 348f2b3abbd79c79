"""Runs and trials on a Ray cluster: a local head (tests/ray_head.py) and the team's PostgreSQL.

A run submitted with `workbench train --executor ray` and a 2-trial search complete there and show in
`workbench runs` with executor ray and their node as host; a stop through Ray cancels a training run,
and one still waiting for a GPU the cluster lacks is cancelled at once and never trains."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from core.config import DataConfig, ModelConfig, RunConfig, TrainConfig
from core.runs import ray_executor, ray_job
from core.tuning.search import create_study, run_study, study_trials
from core.tuning.space import SearchParam
from tests.helpers import wait_for
from workbench.cli import main

IRIS = RunConfig(data=DataConfig("iris", "species"), model=ModelConfig("mlp", {"hidden_sizes": [8]}),
                 train=TrainConfig(epochs=1, batch_size=32, early_stopping=False, device="cpu"))
TRIALS = 2
LONG = RunConfig(data=DataConfig("digits", "label"), model=ModelConfig("mlp", {"hidden_sizes": [16]}),
                 train=TrainConfig(epochs=300, batch_size=4, early_stopping=False, device="cpu"))


def _cli(*args: str, workspace: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "workbench.cli", *args, "--workspace", str(workspace)],
                          capture_output=True, text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})


def _listed(capsys, workspace: Path) -> dict[str, dict]:
    """`workbench runs --json` (in this process: the CLI's start-up is the train command's to test)."""
    capsys.readouterr()
    assert main(["runs", "--json", "--workspace", str(workspace)]) == 0
    return {r["run_id"]: r for r in json.loads(capsys.readouterr().out)}


def test_a_run_submitted_to_ray_completes_and_says_where_it_ran(postgres_url, ray_address, workspace: Path, capsys):
    started = time.monotonic()
    out = _cli("train", "--data", "iris", "--epochs", "2", "--device", "cpu", "--executor", "ray", "--json",
               "--quiet", workspace=workspace)
    wall_s = time.monotonic() - started
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["status"] == "completed" and result["metrics"]["test"]["accuracy"] > 0.3
    assert result["executor"] == "ray" and result["host"]
    listed = _listed(capsys, workspace)[result["run_id"]]
    assert listed["executor"] == "ray" and listed["host"] == result["host"]
    ray = ray_executor.executor_for(workspace)  # the run has ended; its process may still be exiting
    assert wait_for(lambda: ray.state(result["run_id"]).ended, 60, interval_s=0.2, what="the job ending")
    assert ray.state(result["run_id"]).status == "SUCCEEDED"
    assert main(["show", result["run_id"], "--logs", "--workspace", str(workspace)]) == 0
    assert "core.runs.ray_job" in capsys.readouterr().out  # the job's log, as Ray keeps it
    print(f"ray run wall time {wall_s:.1f} s")


def test_a_search_runs_its_trials_on_ray_one_after_another(postgres_url, ray_address, engine, workspace: Path, capsys):
    # two trials: the second is proposed and submitted only once the first has ended (a cluster's trials
    # go one after another); each is a Ray job that imports torch, so more add seconds and prove nothing new
    parent_id = create_study(engine, IRIS, [SearchParam("lr", "float", 1e-3, 1e-1, log=True)], TRIALS,
                             name="on-ray", executor="ray")
    started = time.monotonic()
    assert run_study(engine, parent_id, poll_s=0.1) == "completed"
    wall_s = time.monotonic() - started
    trials = study_trials(engine, parent_id)
    assert [t.state for t in trials] == ["complete"] * TRIALS
    listed = _listed(capsys, workspace)
    children = [listed[r.run_id] for r in engine.store.list_runs(parent_id=parent_id)]
    assert len(children) == TRIALS
    assert all(c["executor"] == "ray" and c["status"] == "completed" and c["host"] for c in children)
    records = sorted((engine.store.get(c["run_id"]) for c in children), key=lambda r: r.created_at)
    assert records[1].created_at >= records[0].ended_at  # the next trial was asked for once the first ended
    trained_s = sum(r.duration_s or 0 for r in records)
    print(f"{TRIALS} ray trials wall time {wall_s:.1f} s, of which the runs themselves (start to end in the store) "
          f"{trained_s:.1f} s")


def test_a_stop_through_ray_cancels_a_training_run(postgres_url, ray_address, engine):
    run_id = engine.manager.submit(LONG, name="long", executor="ray")
    wait_for(lambda: engine.store.get(run_id).progress.get("step", 0) > 0, 180, interval_s=0.2,
             what="the run training on Ray")
    ray = ray_executor.executor_for(engine.workspace)
    assert ray.stop(run_id)  # Ray's SIGTERM alone, no stop flag in the store
    record = wait_for(lambda: (r := engine.store.get(run_id)).status not in ("queued", "running") and r, 60,
                      interval_s=0.2, what="the run ending")
    assert record.status == "cancelled" and record.status_reason == "stopped through Ray"
    wait_for(lambda: ray.state(run_id).ended, 60, interval_s=0.2, what="the job ending")


def test_a_run_waiting_for_a_gpu_is_stopped_before_it_starts(postgres_url, ray_address, engine):
    run_id = engine.manager.submit(IRIS.evolve(train={"device": "cuda:1"}), executor="ray")
    ray = ray_executor.executor_for(engine.workspace)
    record = engine.store.get(run_id)
    assert record.status == "queued" and record.config["train"]["device"] == "cuda"  # Ray picks the GPU
    assert ray_executor.gpus_needed(RunConfig.from_dict(record.config)) == 1
    assert ray.state(run_id).status == "PENDING"  # the head has no GPU: the job waits for one
    engine.manager.stop(run_id)
    record = wait_for(lambda: (r := engine.store.get(run_id)).status != "queued" and r, 60, interval_s=0.2,
                      what="the queued run cancelled")
    assert record.status == "cancelled" and record.status_reason == "stopped by the user before it started"
    # Ray cannot stop a job before it starts: when a node frees, the job finds the run cancelled and ends
    assert ray_job.main([str(engine.workspace), run_id]) == 0
    assert engine.store.get(run_id).status == "cancelled" and not engine.store.epoch_rows(run_id)
