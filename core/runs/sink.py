"""StoreLogger: the callback that streams a run's metrics and progress into the RunStore."""
from __future__ import annotations

import time
from typing import Any

from core.runs.store import MetricRow, RunStore
from core.training.callbacks import Callback, TrainerView


class StoreLogger(Callback):
    """Buffers metric rows and flushes them about every `flush_s` (small batches, not a write per step)."""

    def __init__(self, store: RunStore, run_id: str, flush_s: float = 0.5):
        self.store, self.run_id, self.flush_s = store, run_id, flush_s
        self.buffer: list[MetricRow] = []
        self.events: list[str] = []
        self._last_flush = 0.0

    def on_fit_start(self, trainer: TrainerView, **kwargs: Any) -> None:
        self._flush(trainer)

    def on_step_end(self, trainer: TrainerView, *, step: int, **kwargs: Any) -> None:
        if time.monotonic() - self._last_flush >= self.flush_s:
            self._flush(trainer)

    def on_epoch_end(self, trainer: TrainerView, *, epoch: int, logs: dict[str, float], **kwargs: Any) -> None:
        now = time.time()
        for key, value in logs.items():
            split, name = key.split("/", 1) if "/" in key else ("sys", key)
            self.buffer.append(MetricRow(trainer.global_step_, epoch, split, name, value, now))
        # the first epoch's rows at once: the first point of the curve is what someone who just pressed
        # Start waits for; later ones in batches
        if epoch == 1 or time.monotonic() - self._last_flush >= self.flush_s or epoch == trainer.config.train.epochs:
            self._flush(trainer)

    def on_event(self, trainer: TrainerView, *, message: str, **kwargs: Any) -> None:
        self.events.append(message)

    def on_fit_end(self, trainer: TrainerView, *, status: str, **kwargs: Any) -> None:
        self._flush(trainer)

    def _flush(self, trainer: TrainerView) -> None:
        rows, self.buffer = self.buffer, []
        self.store.log_metrics(self.run_id, rows)
        self.store.heartbeat(self.run_id, self.progress(trainer))
        self._last_flush = time.monotonic()

    def progress(self, trainer: TrainerView) -> dict[str, Any]:
        """The trainer's progress and the run's latest events: what the Runs and Train pages show live."""
        return {**trainer.progress(), "events": self.events[-20:]}
