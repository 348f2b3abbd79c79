"""Steering a live run through the store: the SteerSource the training loop's Steering callback reads.

A page (or anything else) asks with RunStore.request_control; the worker that trains the run finds
the request between two steps, applies it and marks it applied with the epoch it applied at. A
paused run's status says paused, and its heartbeat goes on while it waits.
"""
from __future__ import annotations

from typing import Any

from core.runs.sink import StoreLogger
from core.runs.store import RunStore
from core.training.callbacks import SteerRequest, TrainerView


class StoreSteering:
    def __init__(self, store: RunStore, run_id: str, logger: StoreLogger):
        self.store, self.run_id, self.logger = store, run_id, logger

    def requests(self) -> list[SteerRequest]:
        return [SteerRequest(c.id, c.action, c.value) for c in self.store.pending_controls(self.run_id)]

    def applied(self, request: SteerRequest, epoch: float, note: str) -> None:
        self.store.mark_control_applied(request.id, epoch, note)

    def paused(self, paused: bool, trainer: TrainerView) -> None:
        self.store.set_status(self.run_id, "paused" if paused else "running")
        self.beat(trainer)

    def beat(self, trainer: TrainerView) -> None:
        self.store.heartbeat(self.run_id, self.logger.progress(trainer))


def lr_changes(store: RunStore, run_id: str) -> list[dict[str, Any]]:
    """The learning-rate changes a run applied: where (epochs done) and to what, for a curve's markers."""
    return [{"epoch": c.applied_epoch, "lr": c.value, "note": c.note} for c in store.controls(run_id)
            if c.action == "lr" and c.applied_epoch is not None and c.value is not None]
