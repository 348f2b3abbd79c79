"""One run, two processes (DDP with gloo on the CPU, launched by torchrun --standalone): the same weights
as one process on the same global batch, rank 0 alone writes, and a stop or a kill reaches every rank."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from core.config import DataConfig, ModelConfig, RunConfig, TrainConfig
from core.engine import Engine
from core.errors import ConfigError
from core.runs.execute import execute_run
from core.runs.launch import RANKS_FILE, process_count
from core.runs.recovery import pid_alive
from core.runs.store import RunStore
from tests.helpers import wait_for


def iris_config(**train: object) -> RunConfig:
    # 104 training rows in batches of 25: shards of 13 and 12, and a last batch of 4 (2 and 2)
    settings = {"epochs": 1, "batch_size": 25, "early_stopping": False, "device": "cpu", **train}
    return RunConfig(data=DataConfig("iris", "species"), model=ModelConfig("mlp", {"hidden_sizes": [16]}),
                     train=TrainConfig(**settings))


def long_config() -> RunConfig:
    return RunConfig(data=DataConfig("digits", "label"), model=ModelConfig("mlp", {"hidden_sizes": [32]}),
                     train=TrainConfig(epochs=300, batch_size=8, early_stopping=False, device="cpu", processes=2))


def rank_pids(store: RunStore, run_id: str) -> list[int]:
    path = store.run_dir(run_id) / RANKS_FILE
    return json.loads(path.read_text())["pids"] if path.is_file() else []


@pytest.mark.timeout(300)
def test_two_processes_train_the_weights_one_process_trains(engine: Engine) -> None:
    store = engine.store
    single = store.create_run(iris_config().to_dict())
    double = store.create_run(iris_config(processes=2).to_dict())
    assert execute_run(store, engine.catalog, single) == "completed"
    assert execute_run(store, engine.catalog, double) == "completed"  # torchrun, two ranks, gloo
    one, two = (load_file(store.artifact_path(r, "weights")) for r in (single, double))
    assert one.keys() == two.keys()
    assert max(float((one[k] - two[k]).abs().max()) for k in one) < 1e-5
    record = store.get(double)
    assert record.device == "cpu \u00d7 2" and record.pid == os.getpid()  # the launcher is the run's process
    assert record.summary["step_mode"] == "ddp" and record.summary["rows"]["train"] == 104
    ranks = json.loads((store.run_dir(double) / RANKS_FILE).read_text())
    assert ranks["world"] == 2 and ranks["backend"] == "gloo" and len(set(ranks["pids"])) == 2
    # one writer: every metric of the epoch once, with the global batch's training loss
    rows = store.epoch_rows(double)
    assert len(rows) == len({(r["split"], r["name"]) for r in rows}) == len(store.epoch_rows(single))
    loss = {r["run_id"]: r["value"] for r in store.metrics_frame([single, double]).query("name == 'loss' and split == 'train'")
            .to_dict("records")}
    assert loss[double] == pytest.approx(loss[single], abs=1e-5)
    assert record.metrics["test"]["accuracy"] == pytest.approx(store.get(single).metrics["test"]["accuracy"])


def test_processes_are_checked_before_anything_starts() -> None:
    with pytest.raises(ConfigError, match="cpu or on cuda:all"):
        iris_config(processes=2, device="cuda:0").validate()
    with pytest.raises(ConfigError, match="processes"):
        iris_config(processes=0).validate()
    assert process_count(iris_config(processes=3)) == 3 and process_count(iris_config()) == 1
    all_gpus = iris_config(device="cuda:all")
    assert process_count(all_gpus, n_gpus=4) == 4
    assert process_count(iris_config(device="cuda:all", processes=2), n_gpus=4) == 2
    with pytest.raises(ConfigError, match="no CUDA GPU"):
        process_count(all_gpus, n_gpus=0)
    with pytest.raises(ConfigError, match="3 GPUs"):
        process_count(iris_config(device="cuda:all", processes=3), n_gpus=2)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on a machine without a GPU")
def test_all_gpus_without_a_gpu_fails_the_run_in_words(engine: Engine) -> None:
    run_id = engine.store.create_run(iris_config(device="cuda:all").to_dict())
    assert execute_run(engine.store, engine.catalog, run_id) == "failed"
    assert "no CUDA GPU" in engine.store.get(run_id).status_reason


@pytest.mark.timeout(300)
def test_a_stop_reaches_every_rank(engine: Engine) -> None:
    store = engine.store
    run_id = store.create_run(long_config().to_dict())
    ended: list[str] = []
    launcher = threading.Thread(target=lambda: ended.append(execute_run(store, engine.catalog, run_id)))
    launcher.start()
    try:
        wait_for(lambda: len(rank_pids(store, run_id)) == 2 and store.get(run_id).progress.get("step", 0) > 0,
                 240, what="both ranks training")
        pids = rank_pids(store, run_id)
        store.request_stop(run_id)  # what the Stop button does
        launcher.join(120)
    finally:
        store.request_stop(run_id)
        launcher.join(60)
    record = store.get(run_id)
    assert ended == ["cancelled"] and (record.status, record.status_reason) == ("cancelled", "stopped by the user")
    assert "checkpoint" in store.artifacts(run_id)  # rank 0 kept the last weights
    wait_for(lambda: not any(pid_alive(p) for p in pids), 30, what="every rank gone")


@pytest.mark.timeout(300)
def test_a_kill_reaches_every_rank(workspace: Path) -> None:
    cli = subprocess.Popen([sys.executable, "-m", "workbench.cli", "train", "--data", "digits", "--epochs", "300",
                            "--batch-size", "8", "--hidden", "32", "--no-early-stopping", "--device", "cpu",
                            "--processes", "2", "--quiet", "--workspace", str(workspace)],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    store = RunStore(workspace)
    try:
        run = wait_for(lambda: next(iter(store.list_runs(status="running")), None), 240, what="the run")
        wait_for(lambda: len(rank_pids(store, run.run_id)) == 2 and store.get(run.run_id).progress.get("step", 0) > 0,
                 240, what="both ranks training")
        pids = rank_pids(store, run.run_id)
        os.kill(cli.pid, signal.SIGKILL)  # the launcher: torchrun dies with it, and each rank with torchrun
        cli.wait(30)
        wait_for(lambda: not any(pid_alive(p) for p in pids), 30, what="every rank gone after the kill")
    finally:
        cli.kill()
    Engine(workspace).close()  # start-up recovery: the launcher is gone
    assert store.get(run.run_id).status == "interrupted"


def test_the_live_panel_says_how_many_processes_train() -> None:
    from workbench.ui.live import progress_stats

    stats = dict(progress_stats({"device": "cuda:0", "step_mode": "ddp", "processes": 4, "samples_per_s": 1.0}))
    assert stats["Device"] == "cuda:0 · 4 processes (DDP)"


@pytest.mark.gpu
@pytest.mark.timeout(300)
def test_all_gpus_train_with_nccl_as_one_gpu_does(engine: Engine) -> None:
    """Every GPU of the machine (one on a lent device: one rank, still through torchrun and nccl)."""
    store, n = engine.store, torch.cuda.device_count()
    single = store.create_run(iris_config(device="cuda:0", epochs=3).to_dict())
    every = store.create_run(iris_config(device="cuda:all", epochs=3).to_dict())
    assert execute_run(store, engine.catalog, single) == "completed"
    assert execute_run(store, engine.catalog, every) == "completed"
    one, all_ = (load_file(store.artifact_path(r, "weights")) for r in (single, every))
    gap = max(float((one[k] - all_[k]).abs().max()) for k in one)
    ranks = json.loads((store.run_dir(every) / RANKS_FILE).read_text())
    print(f"nccl: {n} rank(s), largest weight difference to one GPU {gap:.2e}; samples/s "
          f"{store.get(single).summary['samples_per_s']:.0f} (one GPU) vs {store.get(every).summary['samples_per_s']:.0f}")
    assert ranks == {"pids": ranks["pids"], "backend": "nccl", "world": n}
    assert gap < 1e-5 and store.get(every).summary["step_mode"] == "ddp"
