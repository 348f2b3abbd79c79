"""The Trainer's public surface (skorch's): arguments in `__init__`, fitted state from `initialize()`,
callbacks notified by name with keyword arguments, progress as plain data."""
from __future__ import annotations

import ast
import inspect
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

import core.runs.sink as sink_module
import workbench.commands.train as train_command
from core.config import DataConfig, ModelConfig, OptimConfig, RunConfig, TrainConfig
from core.models import build_model
from core.runs.sink import StoreLogger
from core.runs.store import RunStore
from core.training import callbacks as callbacks_module
from core.training.callbacks import Callback, StopCheck, TrainerView
from core.training.trainer import Trainer
from workbench.commands.train import ProgressBar

ROOT = Path(__file__).resolve().parents[1]
CALLBACK_MODULES = [callbacks_module, sink_module, train_command]
HOOKS = ("on_fit_start", "on_epoch_start", "on_step_end", "on_epoch_end", "on_event", "on_fit_end")
PROGRESS_KEYS = {"epoch", "epochs", "step", "steps_per_epoch", "fraction", "elapsed_s", "eta_s", "samples_per_s",
                 "batch_size", "gpu_mem_mb", "device", "step_mode", "processes", "lr", "optimizer"}


def data(n: int = 200, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    g = np.random.default_rng(seed)
    X = g.standard_normal((n, 5)).astype(np.float32)
    y = (X[:, 0] + 0.3 * g.standard_normal(n) > 0).astype(np.int64) + (X[:, 1] > 1).astype(np.int64)
    return X[:150], y[:150], X[150:], y[150:]


def config(epochs: int = 3, **train: Any) -> RunConfig:
    return RunConfig(data=DataConfig("synthetic", "y"), model=ModelConfig("mlp", {"hidden_sizes": [8]}),
                     optim=OptimConfig("adam", lr=0.01),
                     train=TrainConfig(epochs=epochs, batch_size=32, device="cpu", **train))


def model() -> torch.nn.Module:
    torch.manual_seed(0)
    return build_model("mlp", {"hidden_sizes": [8]}, 5, 3)


class Recorder(Callback):
    """Every hook it gets, with its keyword arguments, and the trainer's progress at each step."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.progress: list[dict[str, Any]] = []

    def on_fit_start(self, trainer: Any, **kwargs: Any) -> None:
        self.calls.append(("on_fit_start", kwargs))

    def on_epoch_start(self, trainer: Any, *, epoch: int, **kwargs: Any) -> None:
        self.calls.append(("on_epoch_start", {"epoch": epoch, **kwargs}))

    def on_step_end(self, trainer: Any, *, step: int, **kwargs: Any) -> None:
        self.calls.append(("on_step_end", {"step": step, **kwargs}))
        self.progress.append(trainer.progress())

    def on_epoch_end(self, trainer: Any, *, epoch: int, logs: dict[str, float], **kwargs: Any) -> None:
        self.calls.append(("on_epoch_end", {"epoch": epoch, "logs": logs, **kwargs}))

    def on_event(self, trainer: Any, *, message: str, **kwargs: Any) -> None:
        self.calls.append(("on_event", {"message": message, **kwargs}))

    def on_fit_end(self, trainer: Any, *, status: str, **kwargs: Any) -> None:
        self.calls.append(("on_fit_end", {"status": status, **kwargs}))


def test_init_stores_its_arguments_and_nothing_else() -> None:
    cfg, cb = config(), Recorder()
    trainer = Trainer(cfg, "multiclass", [cb], cuda_graphs=False, streaming=True)
    assert vars(trainer) == {"config": cfg, "task": "multiclass", "callbacks": [cb], "cuda_graphs": False,
                             "streaming": True, "batch_transform": None, "ranks": None, "resume": None}


def test_initialize_builds_the_fitted_state_without_training() -> None:
    net = model()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    trainer = Trainer(config(), "multiclass").initialize(net, *data())
    view = [n for n in (*TrainerView.__annotations__, *vars(TrainerView)) if not n.startswith("_")]
    for name in ("device_", "model_", "optimizer_", "scheduler_", "callbacks_", "history_", "last_good_",
                 "early_stopping_", "batch_size_", "step_mode_", "events_", *view):
        assert hasattr(trainer, name), name  # all a callback may use (TrainerView) is there too
    assert trainer.history_ == [] and trainer.epoch_ == 0 and trainer.global_step_ == 0
    assert trainer.steps_per_epoch_ == 5  # 150 rows in batches of 32: 4 full and one short
    assert trainer.callbacks_[:2] == [trainer.history_, trainer.last_good_]
    assert all(torch.equal(before[k], v) for k, v in trainer.model_.state_dict().items())
    start = trainer.progress()
    assert start.keys() == PROGRESS_KEYS
    assert start["fraction"] == 0.0 and start["eta_s"] is None and start["epochs"] == 3


def test_fit_initializes_afresh_each_time() -> None:
    trainer = Trainer(config(), "multiclass")
    first = [dict(row) for row in trainer.fit(model(), *data()).history_]
    again = trainer.fit(model(), *data()).history_
    assert len(again) == 3
    assert [{k: v for k, v in r.items() if k != "samples_per_s"} for r in again] == \
        [{k: v for k, v in r.items() if k != "samples_per_s"} for r in first]


def test_hooks_are_called_by_name_with_keyword_arguments() -> None:
    recorder = Recorder()
    trainer = Trainer(config(epochs=2), "multiclass", [recorder]).fit(model(), *data())
    names = [name for name, _ in recorder.calls]
    assert names[0] == "on_fit_start" and names[-1] == "on_fit_end"
    assert names.count("on_epoch_start") == names.count("on_epoch_end") == 2
    assert [kw["step"] for name, kw in recorder.calls if name == "on_step_end"] == list(range(1, 11))
    ends = [kw for name, kw in recorder.calls if name == "on_epoch_end"]
    assert [e["epoch"] for e in ends] == [1, 2] and ends[-1]["logs"]["train/loss"] == trainer.history_[-1]["train/loss"]
    assert recorder.calls[-1] == ("on_fit_end", {"status": "completed"})


class WithANewArgument(Trainer):
    """A later version of the trainer that passes every hook one more argument."""

    def notify(self, hook: str, **kwargs: Any) -> None:
        super().notify(hook, **kwargs, added_later=1)


def test_a_new_hook_argument_breaks_no_callback(tmp_path: Path) -> None:
    store = RunStore(tmp_path)
    cfg = config(epochs=2)
    run_id = store.create_run(cfg.to_dict())
    recorder = Recorder()
    callbacks = [StoreLogger(store, run_id), StopCheck(lambda: None), ProgressBar(), recorder]
    trainer = WithANewArgument(cfg, "multiclass", callbacks).fit(model(), *data())
    trainer.emit("a message")  # on_event too
    assert len(trainer.history_) == 2  # the built-in callbacks (history, early stopping, ...) took it as well
    assert all(kw.get("added_later") == 1 for _, kw in recorder.calls)
    assert {name for name, _ in recorder.calls} == set(HOOKS)


def test_progress_moves_forward_to_the_end_and_reaches_the_store(tmp_path: Path) -> None:
    store = RunStore(tmp_path)
    cfg = config(epochs=3)
    run_id = store.create_run(cfg.to_dict())
    recorder = Recorder()
    trainer = Trainer(cfg, "multiclass", [StoreLogger(store, run_id), recorder]).fit(model(), *data())
    fractions = [p["fraction"] for p in recorder.progress]
    assert fractions == sorted(fractions) and fractions[0] == pytest.approx(1 / 15) and fractions[-1] == 1.0
    assert all(p["steps_per_epoch"] == 5 and p["device"] == "cpu" for p in recorder.progress)
    stored = store.get(run_id).progress
    assert stored == {**stored, "epoch": 3, "epochs": 3, "step": 5, "fraction": 1.0, "step_mode": "eager"}
    assert set(stored) == PROGRESS_KEYS | {"events"} and trainer.progress()["eta_s"] == 0.0


def _callback_classes() -> list[type[Callback]]:
    return [obj for module in CALLBACK_MODULES for obj in vars(module).values()
            if inspect.isclass(obj) and issubclass(obj, Callback) and obj.__module__ == module.__name__]


def test_every_hook_takes_keywords_and_more() -> None:
    classes = _callback_classes()
    assert {c.__name__ for c in classes} >= {"Callback", "EarlyStopping", "StopCheck", "LastGoodWeights",
                                              "History", "NaNGuard", "StoreLogger", "ProgressBar"}
    for cls in classes:
        for hook in HOOKS:
            if hook not in vars(cls):
                continue
            params = list(inspect.signature(vars(cls)[hook]).parameters.values())[2:]  # self, trainer
            assert params and params[-1].kind is inspect.Parameter.VAR_KEYWORD, f"{cls.__name__}.{hook}"
            assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in params[:-1]), f"{cls.__name__}.{hook}"


def test_no_callback_reads_a_private_trainer_member() -> None:
    found = []
    for module in CALLBACK_MODULES:
        path = Path(inspect.getfile(module))
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) \
                    and node.value.id == "trainer" and node.attr.startswith("_"):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno} trainer.{node.attr}")
    assert found == []
