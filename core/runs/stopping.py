"""How a run's own process learns that it should stop: SIGTERM, a stop request in the store, and
whatever else its launcher watches (the local worker: its parent app gone).

One home for the local worker (core.runs.worker) and the Ray job (core.runs.ray_job): both end a
run as cancelled, with a checkpoint, on either signal or request.
"""
from __future__ import annotations

import signal
from collections.abc import Callable

from core.runs.store import RunStore
from core.training.callbacks import Callback, StopCheck


class RunStops:
    """Installs the SIGTERM handler; `should_stop` is execute_run's check, `callbacks` its per-step one."""

    def __init__(self, store: RunStore, run_id: str, *, on_sigterm: str,
                 also: Callable[[], str | None] | None = None) -> None:
        self.store, self.run_id, self.also = store, run_id, also
        self._terminated: list[str] = []
        signal.signal(signal.SIGTERM, lambda *_: self._terminated.append(on_sigterm))

    def signalled(self) -> str | None:
        return self._terminated[0] if self._terminated else None

    def should_stop(self) -> str | None:
        if self._terminated:
            return self._terminated[0]
        if self.store.stop_requested(self.run_id):
            return "stopped by the user"
        return self.also() if self.also else None

    def callbacks(self) -> list[Callback]:
        # A signal is a flag in memory, so it is checked at every step boundary (the store is polled
        # less often): SIGTERM ends the run as cancelled, with a checkpoint, within one step.
        return [StopCheck(self.signalled, interval_s=0.0)]
