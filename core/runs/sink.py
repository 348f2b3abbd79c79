"""StoreLogger: the callback that streams a run's metrics and progress into the RunStore."""
from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from core.runs.store import MetricRow, RunStore
from core.training.callbacks import Callback
from core.training.device import memory_mb

if TYPE_CHECKING:
    from core.training.trainer import Trainer


class StoreLogger(Callback):
    """Buffers metric rows and flushes them about every `flush_s` (small batches, not a write per step)."""

    def __init__(self, store: RunStore, run_id: str, flush_s: float = 0.5):
        self.store, self.run_id, self.flush_s = store, run_id, flush_s
        self.buffer: list[MetricRow] = []
        self.events: list[str] = []
        self._last_flush = 0.0
        self._epoch_t0 = time.perf_counter()

    def on_fit_start(self, trainer: "Trainer") -> None:
        self._fit_t0 = time.perf_counter()
        self._flush(trainer)

    def on_epoch_start(self, trainer: "Trainer", epoch: int) -> None:
        self._epoch_t0 = time.perf_counter()

    def on_step_end(self, trainer: "Trainer", step: int) -> None:
        if time.monotonic() - self._last_flush >= self.flush_s:
            self._flush(trainer)

    def on_epoch_end(self, trainer: "Trainer", epoch: int, logs: dict[str, float]) -> None:
        now = time.time()
        for key, value in logs.items():
            split, name = key.split("/", 1) if "/" in key else ("sys", key)
            self.buffer.append(MetricRow(trainer.global_step_, epoch, split, name, value, now))
        if time.monotonic() - self._last_flush >= self.flush_s or epoch == trainer.config.train.epochs:
            self._flush(trainer)

    def on_event(self, trainer: "Trainer", message: str) -> None:
        self.events.append(message)

    def on_fit_end(self, trainer: "Trainer", status: str) -> None:
        self._flush(trainer)

    def _flush(self, trainer: "Trainer") -> None:
        rows, self.buffer = self.buffer, []
        self.store.log_metrics(self.run_id, rows)
        self.store.heartbeat(self.run_id, self.progress(trainer))
        self._last_flush = time.monotonic()

    def progress(self, trainer: "Trainer") -> dict[str, Any]:
        epochs = trainer.config.train.epochs
        steps = trainer._steps_per_epoch()
        done = (trainer.epoch_ - 1 + trainer.step_in_epoch_ / steps) if trainer.epoch_ else 0.0
        fraction = min(1.0, max(0.0, done / epochs))
        elapsed = time.perf_counter() - getattr(self, "_fit_t0", time.perf_counter())
        epoch_elapsed = time.perf_counter() - self._epoch_t0
        live_rate = trainer.step_in_epoch_ * trainer.batch_size_ / epoch_elapsed if epoch_elapsed > 0 else 0.0
        return {
            "epoch": trainer.epoch_, "epochs": epochs, "step": trainer.step_in_epoch_, "steps_per_epoch": steps,
            "fraction": fraction, "elapsed_s": elapsed,
            "eta_s": elapsed * (1 - fraction) / fraction if fraction > 0 else None,
            "samples_per_s": trainer.samples_per_s_ or live_rate, "batch_size": trainer.batch_size_,
            "gpu_mem_mb": memory_mb(trainer.device_), "device": str(trainer.device_),
            "step_mode": trainer.step_mode_, "events": self.events[-20:],
        }
