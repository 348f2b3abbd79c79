"""Choosing a GPU of several: config names, resolve_device's errors, per-GPU queues, the CLI and the Train page.

CUDA is stood in for with monkeypatch (is_available, device_count, names); the `gpu` tests at the end
train on real GPUs (run them through the device tool).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
from streamlit.testing.v1 import AppTest

from core.config import DataConfig, OptimConfig, RunConfig, TrainConfig
from core.errors import ConfigError
from core.runs import manager as manager_module
from core.runs.manager import RunManager
from core.runs.queue import queue_of, queue_positions
from core.training import device as device_module
from core.training.device import device_label, resolve_device
from tests.helpers import wait_for
from workbench.cli import main
from workbench.ui.forms import build_config, config_to_cli, device_options

APP = Path(__file__).resolve().parents[1] / "workbench" / "app.py"
H100 = {"id": "cuda", "name": "NVIDIA H100", "free_gb": 79.2, "total_gb": 79.6}
CPU = {"id": "cpu", "name": "CPU (2 threads)", "free_gb": None, "total_gb": None}
TWO_GPUS = [{**H100, "index": 0}, {**H100, "index": 1, "free_gb": 40.4}, CPU]


def config(device: str) -> RunConfig:
    return RunConfig(data=DataConfig("iris", "species"), train=TrainConfig(epochs=1, device=device))


@pytest.fixture
def gpus(monkeypatch: pytest.MonkeyPatch):
    """Pretend this machine has `n` CUDA GPUs (0: none); nothing is ever put on them."""
    def set_count(n: int) -> None:
        monkeypatch.setattr(torch.cuda, "is_available", lambda: n > 0)
        monkeypatch.setattr(torch.cuda, "device_count", lambda: n)
        monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "NVIDIA H100")
        monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    return set_count


# --- the config ------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["auto", "cpu", "cuda", "mps", "cuda:0", "cuda:1", "cuda:12"])
def test_device_names_a_config_accepts(name: str) -> None:
    assert config(name).validate().train.device == name
    assert RunConfig.from_yaml(config(name).to_yaml()).train.device == name


# ids: a test whose keywords hold "gpu" would be taken for a `gpu` test (conftest) and skipped
@pytest.mark.parametrize("name", ["cuda:x", "cuda:-1", "gpu", "cuda:", "cuda:01", "CUDA", "cuda:1 ", "cuda0"],
                         ids=lambda name: f"name={name!r}")
def test_a_malformed_device_says_what_is_allowed(name: str) -> None:
    with pytest.raises(ConfigError) as err:
        config(name).validate()
    message = str(err.value)
    assert repr(name) in message
    assert all(word in message for word in ("auto", "cpu", "cuda:N", "cuda:0", "mps"))


def test_an_old_config_stays_valid() -> None:
    old = "data: {source: iris, target: species}\ntrain: {device: cuda, epochs: 3}\n"
    assert RunConfig.from_yaml(old).train.device == "cuda"


# --- resolve_device and the label --------------------------------------------------------------------
def test_resolve_a_gpu_by_number(gpus) -> None:
    gpus(2)
    assert resolve_device("cuda:1") == torch.device("cuda", 1)
    assert resolve_device("cuda") == torch.device("cuda")  # the default GPU, as before
    assert resolve_device("auto") == torch.device("cuda")


@pytest.mark.parametrize("count, name, words", [
    (2, "cuda:2", "this machine has 2 GPU(s): cuda:0..cuda:1"),
    (1, "cuda:1", "this machine has 1 GPU(s): cuda:0"),
    (0, "cuda:0", "no CUDA GPU is available here"),
    (0, "cuda", "no CUDA GPU is available here"),
    (2, "cuda:x", "cuda:N"),
])
def test_a_missing_gpu_is_a_clear_error(gpus, count: int, name: str, words: str) -> None:
    gpus(count)
    with pytest.raises(ConfigError) as err:
        resolve_device(name)
    assert words in str(err.value) and repr(name) in str(err.value)


def test_the_label_names_the_gpu_when_there_are_several(gpus) -> None:
    gpus(1)
    assert device_label(torch.device("cuda")) == "cuda:NVIDIA H100"  # one GPU: as before
    gpus(2)
    assert device_label(torch.device("cuda", 1)) == "cuda:1 (NVIDIA H100)"
    assert device_label(torch.device("cuda")) == "cuda:0 (NVIDIA H100)"  # the current GPU
    assert device_label(torch.device("cpu")) == "cpu"


# --- queues ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("device, n_gpus, has_mps, queue", [
    ("cuda", 2, False, "cuda:0"),
    ("cuda:0", 2, False, "cuda:0"),
    ("cuda:1", 2, False, "cuda:1"),
    ("auto", 2, False, "cuda:0"),
    ("auto", 1, False, "cuda:0"),
    ("auto", 0, True, "mps"),
    ("auto", 0, False, "cpu"),
    ("cpu", 2, False, "cpu"),
    ("mps", 0, True, "mps"),
    ("cuda", 0, False, "cuda"),  # fails in its worker, with the reason
])
def test_queue_of(device: str, n_gpus: int, has_mps: bool, queue: str) -> None:
    assert queue_of(config(device), n_gpus, has_mps) == queue


class _Alive:
    """A worker process that keeps running until it is terminated."""

    returncode: int | None = None

    def poll(self) -> int | None:
        return self.returncode

    def terminate(self) -> None:
        self.returncode = -15

    kill = terminate

    def wait(self, timeout: float | None = None) -> int | None:
        return self.returncode


def test_runs_on_two_gpus_start_together_and_one_gpu_queues(engine, monkeypatch: pytest.MonkeyPatch) -> None:
    store = engine.store
    monkeypatch.setattr(manager_module, "_gpu_count", lambda: 2)

    def spawn(self: RunManager, run_id: str) -> _Alive:
        store.set_status(run_id, "running")  # as the worker would
        return _Alive()
    monkeypatch.setattr(RunManager, "_spawn", spawn)
    manager = RunManager(store, engine.catalog, poll_s=0.05)
    try:
        first = manager.submit(config("cuda"))
        wait_for(lambda: first in manager.active(), what="the first run to start")
        on_gpu1 = manager.submit(config("cuda:1"))
        on_gpu0 = manager.submit(config("cuda:0"))
        automatic = manager.submit(config("auto"))
        wait_for(lambda: on_gpu1 in manager.active(), what="the run on cuda:1 to start")
        assert sorted(manager.active()) == sorted([first, on_gpu1])
        queued = {r.run_id: r.queue_device for r in store.list_runs()}
        assert queued == {first: "cuda:0", on_gpu1: "cuda:1", on_gpu0: "cuda:0", automatic: "cuda:0"}
        # "cuda", "cuda:0" and "auto" wait in one queue; the UI counts places in it
        assert queue_positions(store.list_runs()) == {on_gpu0: (1, "cuda:0"), automatic: (2, "cuda:0")}
    finally:
        manager.close()


def test_slots_by_gpu_or_by_kind(engine) -> None:
    manager = RunManager(engine.store, engine.catalog, slots={"cuda": 2, "cuda:1": 3}, poll_s=60)
    try:
        assert [manager._slots_of(d) for d in ("cuda:0", "cuda:1", "cpu", "mps")] == [2, 3, 1, 1]
    finally:
        manager.close()


# --- the CLI ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("command", ["train", "tune"])
@pytest.mark.parametrize("name", ["gpu", "cuda:x", "cuda:-1"], ids=lambda name: f"name={name!r}")
def test_cli_bad_device_exit_2_one_line(capsys, command: str, name: str) -> None:
    with pytest.raises(SystemExit) as exited:
        main([command, "--data", "iris", "--target", "species", "--device", name])
    assert exited.value.code == 2
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1 and "cuda:N" in lines[0] and repr(name) in lines[0]


@pytest.mark.parametrize("command", ["train", "tune"])
def test_cli_missing_gpu_exit_2_before_any_run(capsys, engine, gpus, command: str) -> None:
    gpus(2)
    code = main([command, "--data", "iris", "--target", "species", "--device", "cuda:2", "--quiet"])
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert code == 2 and lines == ["workbench: device 'cuda:2' was asked for but this machine has 2 GPU(s): "
                                   "cuda:0..cuda:1"]
    assert engine.store.list_runs() == []


# --- the Train page --------------------------------------------------------------------------------
def test_device_options_list_each_gpu_of_several() -> None:
    options = device_options(TWO_GPUS)
    assert list(options) == ["auto", "cuda:0", "cuda:1", "cuda:all", "cpu"]
    assert options["cuda:all"] == "All 2 GPUs (one process each, DDP)"
    assert options["cuda:0"] == "GPU 0: NVIDIA H100 (79 GB free)"
    assert options["cuda:1"] == "GPU 1: NVIDIA H100 (40 GB free)"
    assert options["cpu"] == "CPU (2 threads)"


def test_device_options_with_one_gpu_or_none_are_as_before() -> None:
    one = device_options([{**H100, "index": 0}, CPU])
    assert list(one) == ["auto", "cuda", "cpu"] and one["cuda"] == "NVIDIA H100 — 79.2 of 79.6 GB free"
    assert list(device_options([CPU])) == ["auto", "cpu"]


def test_a_chosen_gpu_reaches_the_config_and_the_command() -> None:
    chosen = build_config({"device": "cuda:1"})
    assert chosen.train.device == "cuda:1" and "--device cuda:1" in config_to_cli(chosen)


def test_train_page_offers_each_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(device_module, "available_devices", lambda: TWO_GPUS)
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.run()
    at = at.switch_page("../pages/train.py").run()
    select = next(w for w in at.selectbox if w.label == "Device")
    assert select.options == ["Automatic (GPU 0)", "GPU 0: NVIDIA H100 (79 GB free)",
                              "GPU 1: NVIDIA H100 (40 GB free)", "All 2 GPUs (one process each, DDP)",
                              "CPU (2 threads)"]
    select.set_value("cuda:1").run()
    assert not at.exception and not at.error
    cli, yaml_text = (c.value for c in at.code)
    assert "--device cuda:1" in cli and RunConfig.from_yaml(yaml_text).train.device == "cuda:1"


# --- real GPUs ----------------------------------------------------------------------------------------
def _train_on(capsys: pytest.CaptureFixture[str], device: str) -> dict[str, Any]:
    code = main(["train", "--data", "iris", "--target", "species", "--epochs", "3", "--device", device,
                 "--json", "--quiet"])
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert code == 0, result
    return result


@pytest.mark.gpu
def test_trains_on_the_chosen_gpu(capsys, engine) -> None:
    n = torch.cuda.device_count()
    for index in range(min(n, 2)):
        result = _train_on(capsys, f"cuda:{index}")
        record = engine.store.get(result["run_id"])
        expected = f"cuda:{index} (" if n > 1 else "cuda:"
        assert result["device"].startswith(expected) and record.device == result["device"]
        assert record.summary["gpu_mem_mb"] > 0  # measured on that GPU


@pytest.mark.gpu
@pytest.mark.parametrize("streaming", [False, True])
def test_graphs_and_streams_stay_on_the_chosen_gpu(streaming: bool) -> None:
    """The last GPU: on a machine with several, not the current one, where a capture stream or a
    pinned buffer made without a device would land."""
    import numpy as np
    from sklearn.datasets import load_digits

    from core.models import build_model
    from core.training.trainer import Trainer

    index = torch.cuda.device_count() - 1
    X, y = load_digits(return_X_y=True)
    X = (X / 16.0).astype(np.float32)
    run = RunConfig(data=DataConfig("digits", "label"), optim=OptimConfig("adam", lr=0.003),
                    train=TrainConfig(epochs=10, batch_size=64, early_stopping=False, device=f"cuda:{index}"))
    torch.manual_seed(0)
    model = build_model("mlp", {}, 64, 10)
    trainer = Trainer(run, "multiclass", streaming=streaming).fit(model, X[:1400], y[:1400], X[1400:], y[1400:])
    assert trainer.step_mode_ == ("streaming" if streaming else "cuda-graph"), trainer.step_mode_reason_
    assert {p.device for p in trainer.model_.parameters()} == {torch.device("cuda", index)}
    assert trainer.history_[-1]["val/accuracy"] >= 0.85  # and it learns
