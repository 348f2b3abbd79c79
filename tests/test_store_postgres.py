"""A team's shared PostgreSQL: three `workbench train` processes at once build the empty database's schema
and write into it, and a fourth, SIGKILLed mid-training, is found interrupted by the next start-up.
(Many writers at once within one process: tests/test_store.py, on both databases.)"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from core.engine import Engine
from core.runs.store import RunStore
from tests.helpers import wait_for

EPOCHS = 2
TEAM = 3  # processes racing to build the schema and create runs: more add start-up time, not coverage


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_cli_runs_at_once_against_postgresql(workspace: Path, postgres_url: str) -> None:
    base = [sys.executable, "-m", "workbench.cli", "train", "--device", "cpu", "--no-early-stopping", "--quiet",
            "--workspace", str(workspace)]
    env = {**os.environ, "WORKBENCH_DB_URL": postgres_url, "OMP_NUM_THREADS": "1"}
    runs = [subprocess.Popen([*base, "--data", "iris", "--epochs", str(EPOCHS), "--json", "--name", f"team-{n}"],
                             env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for n in range(TEAM)]
    victim = subprocess.Popen([*base, "--data", "digits", "--epochs", "300", "--batch-size", "4", "--name", "victim"],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    store = RunStore(workspace)
    try:
        assert store.db_path is None  # the PostgreSQL database, not a workbench.db
        killed = wait_for(lambda: next((r for r in store.list_runs(status="running") if r.name == "victim"
                                        and r.progress.get("step", 0) > 0), None), 300, what="the victim training")
        os.kill(victim.pid, signal.SIGKILL)
        victim.wait(30)
        results = []
        for proc in runs:
            out, err = proc.communicate(timeout=300)
            assert proc.returncode == 0, err
            results.append(json.loads(out.strip().splitlines()[-1]))
    finally:
        for proc in (*runs, victim):
            proc.kill()
    assert sorted(store.get(r["run_id"]).name for r in results) == [f"team-{n}" for n in range(TEAM)]
    for result in results:
        assert result["status"] == "completed" and result["metrics"]["test"]["accuracy"] > 0.5
        rows = store.epoch_rows(result["run_id"])
        names = {(r["split"], r["name"]) for r in rows}
        # every metric of every epoch, once
        assert sorted((r["epoch"], r["split"], r["name"]) for r in rows) == \
            sorted((e, split, name) for e in range(1, EPOCHS + 1) for split, name in names)
        assert {("val", "loss"), ("train", "loss"), ("val", "accuracy")} <= names
        assert store.artifact_path(result["run_id"], "weights").is_file()
    assert store.get(killed.run_id).status == "running"  # nobody has noticed yet
    Engine(workspace).close()  # the next start-up does
    record = store.get(killed.run_id)
    assert record.status == "interrupted" and "stopped unexpectedly" in record.status_reason
    store.close()
