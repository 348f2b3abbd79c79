"""Callbacks: everything around the loop (logging, stopping, checks) hooks in here.

One dispatcher, no-op hooks (skorch's Callback, Lightning Fabric's `call`): the
training loop stays short and the trainer never knows a UI exists. Hooks are
called by name with keyword arguments (skorch's `notify`), and each takes
`**kwargs`, so an argument added to a hook later breaks no callback.

Callbacks see the trainer through `TrainerView`: the public surface they may
read, and the two results (stop, best epoch) they may set. This module never
imports the trainer, which imports it.
"""
from __future__ import annotations

import copy
import logging
import math
import time
from typing import Any, Callable, Protocol

from core.config import RunConfig
from core.errors import WorkbenchError
from core.vocab import metric_direction

log = logging.getLogger(__name__)


class CancelFit(Exception):
    """Raised between steps when a stop was requested; the run ends as cancelled (or interrupted)."""

    def __init__(self, reason: str = "stopped by the user", status: str = "cancelled"):
        super().__init__(reason)
        self.reason = reason
        self.status = status


class NonFiniteLoss(WorkbenchError):
    """The loss became NaN or infinite; the run fails and keeps its last finite weights."""


class TrainerView(Protocol):
    """What a callback may use of the trainer (core.training.trainer.Trainer has all of it)."""

    config: RunConfig
    model_: Any  # the torch module being trained (read it; train it only through the trainer)
    epoch_: int
    global_step_: int
    step_in_epoch_: int
    batch_size_: int
    best_epoch_: int | None
    stop_training_: bool  # set by a callback: the trainer stops after this epoch

    @property
    def steps_per_epoch_(self) -> int: ...
    def progress(self) -> dict[str, Any]: ...
    def snapshot(self) -> dict[str, Any]: ...
    def restore(self, state: dict[str, Any] | None) -> None: ...
    def emit(self, message: str) -> None: ...
    def nonfinite_seen(self) -> bool: ...


class Callback:
    """No-op hooks; a subclass overrides the ones it needs, keeping `**kwargs` in each."""

    def on_fit_start(self, trainer: TrainerView, **kwargs: Any) -> None: ...
    def on_epoch_start(self, trainer: TrainerView, *, epoch: int, **kwargs: Any) -> None: ...
    def on_step_end(self, trainer: TrainerView, *, step: int, **kwargs: Any) -> None: ...
    def on_epoch_end(self, trainer: TrainerView, *, epoch: int, logs: dict[str, float], **kwargs: Any) -> None: ...
    def on_event(self, trainer: TrainerView, *, message: str, **kwargs: Any) -> None: ...
    def on_fit_end(self, trainer: TrainerView, *, status: str, **kwargs: Any) -> None: ...


class EarlyStopping(Callback):
    """Stop when `monitor` has not improved for `patience` epochs; restore the best weights."""

    def __init__(self, monitor: str = "val/loss", patience: int = 8, min_delta: float = 0.0):
        self.monitor, self.patience, self.min_delta = monitor, patience, min_delta
        self.mode = metric_direction(monitor)
        self.best: float | None = None
        self.best_epoch: int | None = None
        self.best_state: dict[str, Any] | None = None
        self.wait = 0

    def on_epoch_end(self, trainer: TrainerView, *, epoch: int, logs: dict[str, float], **kwargs: Any) -> None:
        value = logs.get(self.monitor)
        if value is None or not math.isfinite(value):
            return
        better = self.best is None or (
            value < self.best - self.min_delta if self.mode == "min" else value > self.best + self.min_delta)
        if better:
            self.best, self.best_epoch, self.wait = value, epoch, 0
            self.best_state = trainer.snapshot()
        else:
            self.wait += 1
            if self.wait >= self.patience:
                trainer.stop_training_ = True
                trainer.emit(f"early stopping: {self.monitor} has not improved for {self.patience} epochs "
                             f"(best {self.best:.4g} at epoch {self.best_epoch})")

    def on_fit_end(self, trainer: TrainerView, *, status: str, **kwargs: Any) -> None:
        if self.best_state is not None:
            trainer.restore(self.best_state)
            trainer.best_epoch_ = self.best_epoch


class StopCheck(Callback):
    """Polls `should_stop()` at most every `interval_s` between steps (cooperative stopping)."""

    def __init__(self, should_stop: Callable[[], str | None], interval_s: float = 0.2):
        self.should_stop, self.interval_s = should_stop, interval_s
        self._next = 0.0

    def on_step_end(self, trainer: TrainerView, *, step: int, **kwargs: Any) -> None:
        now = time.monotonic()
        if now < self._next:
            return
        self._next = now + self.interval_s
        self._check()

    def on_epoch_end(self, trainer: TrainerView, *, epoch: int, logs: dict[str, float], **kwargs: Any) -> None:
        self._check()

    def _check(self) -> None:
        verdict = self.should_stop()
        if verdict:
            status = "interrupted" if verdict.startswith("interrupted") else "cancelled"
            raise CancelFit(verdict, status)


class LastGoodWeights(Callback):
    """Keeps the weights of the last finite epoch so that a NaN never reaches the saved model."""

    def __init__(self) -> None:
        self.state: dict[str, Any] | None = None

    def on_fit_start(self, trainer: TrainerView, **kwargs: Any) -> None:
        self.state = trainer.snapshot()

    def on_epoch_end(self, trainer: TrainerView, *, epoch: int, logs: dict[str, float], **kwargs: Any) -> None:
        if math.isfinite(logs.get("train/loss", float("nan"))):
            self.state = trainer.snapshot()


class History(Callback, list[dict[str, float]]):
    """Plain-data history, a list with one dict of floats per epoch (never tensors), as skorch's."""

    def on_epoch_end(self, trainer: TrainerView, *, epoch: int, logs: dict[str, float], **kwargs: Any) -> None:
        self.append({"epoch": float(epoch), **logs})


def clone_state(module_state: dict[str, Any]) -> dict[str, Any]:
    return {k: v.detach().clone() if hasattr(v, "detach") else copy.deepcopy(v) for k, v in module_state.items()}


class NaNGuard(Callback):
    """Fails the run within `every` steps of a NaN/inf loss (one host sync per `every` steps)."""

    def __init__(self, every: int = 5):
        self.every = every

    def on_step_end(self, trainer: TrainerView, *, step: int, **kwargs: Any) -> None:
        if step % self.every == 0:
            self._check(trainer, step)

    def on_epoch_end(self, trainer: TrainerView, *, epoch: int, logs: dict[str, float], **kwargs: Any) -> None:
        self._check(trainer, 0)

    def _check(self, trainer: TrainerView, step: int) -> None:
        if trainer.nonfinite_seen():
            raise NonFiniteLoss(f"non-finite loss (NaN or inf) at epoch {trainer.epoch_}, step {step}: "
                                "lower the learning rate, add gradient clipping, or check the data for "
                                "extreme values; the last finite weights were kept")
