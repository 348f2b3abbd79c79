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
import threading
import time
from dataclasses import dataclass
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
    paused_s_: float  # added to by a callback that holds the loop (Steering): not counted as training time

    @property
    def steps_per_epoch_(self) -> int: ...
    def progress(self) -> dict[str, Any]: ...
    def snapshot(self) -> dict[str, Any]: ...
    def restore(self, state: dict[str, Any] | None) -> None: ...
    def emit(self, message: str) -> None: ...
    def nonfinite_seen(self) -> bool: ...
    def set_learning_rate(self, lr: float) -> str: ...
    def training_state(self) -> dict[str, Any]: ...


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


@dataclass(frozen=True)
class SteerRequest:
    """One request to a live run: "pause", "resume" or "lr" with its value (core.vocab.STEER_ACTIONS)."""
    id: int
    action: str
    value: float | None = None


class SteerSource(Protocol):
    """Where steering requests come from and where the loop says what it did (core.runs.steering: the store)."""

    def requests(self) -> list[SteerRequest]: ...  # not yet applied, oldest first
    def applied(self, request: SteerRequest, epoch: float, note: str) -> None: ...
    def paused(self, paused: bool, trainer: TrainerView) -> None: ...  # the run's status follows
    def beat(self, trainer: TrainerView) -> None: ...  # while paused: the heartbeat (and progress) goes on


class Steering(Callback):
    """Pause, resume and learning-rate changes asked from outside, applied between two steps.

    Polls `source` at most every `interval_s`. A pause holds the loop right there: it waits on an
    Event with a timeout of `wait_s` (no busy loop), beating the heartbeat and asking `should_stop`
    each time, so a paused run still stops, and a change of learning rate while paused applies
    from the first step after it resumes."""

    def __init__(self, source: SteerSource, should_stop: Callable[[], str | None] = lambda: None,
                 interval_s: float = 0.5, wait_s: float = 0.5):
        self.source, self.should_stop = source, should_stop
        self.interval_s, self.wait_s = interval_s, wait_s
        self.wake = threading.Event()  # set() ends a wait early (a signal handler, a test)
        self._next = 0.0

    def on_step_end(self, trainer: TrainerView, *, step: int, **kwargs: Any) -> None:
        now = time.monotonic()
        if now >= self._next:
            self._next = now + self.interval_s
            self._poll(trainer)

    def on_epoch_end(self, trainer: TrainerView, *, epoch: int, logs: dict[str, float], **kwargs: Any) -> None:
        self._poll(trainer)

    def _poll(self, trainer: TrainerView) -> None:
        if self._apply(trainer, self.source.requests()):
            self._hold(trainer)

    def _apply(self, trainer: TrainerView, requests: list[SteerRequest]) -> bool | None:
        """Applies `requests` in order; True if the last of pause/resume among them was a pause,
        False if it was a resume, None if there was neither."""
        pause: bool | None = None
        for request in requests:
            where = _where(trainer)
            if request.action == "lr" and request.value is not None:
                note = trainer.set_learning_rate(float(request.value))
                trainer.emit(note)
            elif request.action in ("pause", "resume"):
                pause = request.action == "pause"
                note = f"{'paused' if pause else 'resumed'} at epoch {trainer.epoch_}, step {trainer.step_in_epoch_}"
            else:
                note = f"ignored: unknown control {request.action!r}"
            self.source.applied(request, where, note)
        return pause

    def _hold(self, trainer: TrainerView) -> None:
        trainer.emit(f"paused at epoch {trainer.epoch_}, step {trainer.step_in_epoch_}")
        self.source.paused(True, trainer)
        started = time.monotonic()
        try:
            while True:
                self.wake.wait(self.wait_s)
                self.wake.clear()
                verdict = self.should_stop()
                if verdict:
                    status = "interrupted" if verdict.startswith("interrupted") else "cancelled"
                    raise CancelFit(verdict, status)
                self.source.beat(trainer)
                if self._apply(trainer, self.source.requests()) is False:
                    break
        finally:
            trainer.paused_s_ += time.monotonic() - started
        trainer.emit(f"resumed at epoch {trainer.epoch_}, step {trainer.step_in_epoch_}")
        self.source.paused(False, trainer)


def _where(trainer: TrainerView) -> float:
    """Epochs done, counting a part-done epoch by its steps: where a curve marks a change."""
    steps = max(trainer.steps_per_epoch_, 1)
    done = trainer.step_in_epoch_ / steps
    return float(trainer.epoch_ - 1 + done) if trainer.epoch_ else 0.0


class Checkpointer(Callback):
    """Saves the whole training state (trainer.training_state) at an epoch's end, at most every `every_s`,
    so a run killed outright can still resume from its last checkpoint (core.runs.checkpoints)."""

    def __init__(self, save: Callable[[dict[str, Any]], None], every_s: float = 60.0):
        self.save, self.every_s = save, every_s
        self._next = time.monotonic() + every_s

    def on_epoch_end(self, trainer: TrainerView, *, epoch: int, logs: dict[str, float], **kwargs: Any) -> None:
        if time.monotonic() < self._next or epoch >= trainer.config.train.epochs:
            return
        self.save(trainer.training_state())
        self._next = time.monotonic() + self.every_s
