"""RunManager: queues runs per device and trains each in its own worker process.

How a worker is started is the executor's business (core.runs.executors: forked warm from a
preloaded server by default, so a run starts in milliseconds; a fresh interpreter per run where
the platform cannot fork); the manager only asks it to start a run and watches the handle.

One queue per concrete device ("cuda:0", "cuda:1", "mps", "cpu"): runs on different GPUs train
at the same time, runs on one GPU one after another (core.runs.queue: which queue, in which order).

What should happen when a run ends (a cross-validation parent finishing with its last fold) is
not the manager's business: the layers above register ended-run hooks (`on_run_ended`), and the
Engine wires them. The manager imports nothing above core.runs.
"""
from __future__ import annotations

import logging
import os
import subprocess
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import torch

from core.config import RunConfig
from core.data import Catalog, Split
from core.errors import ConfigError, WorkbenchError
from core.runs import ray_executor, recovery, resume
from core.runs.executors import Executor, WorkerHandle, default_executor
from core.runs.content_hash import pin_content_hash
from core.runs.queue import in_queue_order, queue_name, queue_of, shares_the_cpu, side_by_side_on_cpu
from core.runs.store import RunStore
from core.vocab import ACTIVE

log = logging.getLogger(__name__)

RAY_POLL_S = 1.0  # how often the dispatcher asks Ray after the jobs of its runs (an HTTP call each)
RunEndedHook = Callable[[Sequence[str]], None]  # called with the ids of runs whose workers just ended


@dataclass
class _Worker:
    run_id: str
    device: str
    proc: WorkerHandle


class RunManager:
    """Starts queued runs when their device has a free slot (default: one run at a time per device).

    `slots` by queue ("cuda:1": 2) or by kind ("cuda": 2, for every GPU). `executor` starts the
    workers (default_executor: warm forked workers where the platform allows)."""

    def __init__(self, store: RunStore, catalog: Catalog, slots: dict[str, int] | None = None, poll_s: float = 0.2,
                 executor: Executor | None = None):
        self.store, self.catalog = store, catalog
        self._wake = threading.Event()
        self.executor = executor or default_executor(store.workspace, on_exit=self._wake.set)
        self.slots = {"cuda": 1, "mps": 1, "cpu": 1, **(slots or {})}
        self.cpu_side_by_side = side_by_side_on_cpu() if self.slots["cpu"] > 0 else 0
        self.poll_s = poll_s
        self._workers: dict[str, _Worker] = {}
        self._ray_runs: set[str] = set()  # runs this process handed to Ray, until they end
        self._next_ray_check = 0.0
        self._ended_hooks: list[RunEndedHook] = []
        self._lock = threading.Lock()
        self._closed = False
        self._thread = threading.Thread(target=self._loop, name="run-manager", daemon=True)
        self._thread.start()

    # --- public ---------------------------------------------------------------
    def submit(self, config: RunConfig, *, name: str | None = None, parent_id: str | None = None,
               tags: tuple[str, ...] = (), split: Split | None = None, executor: str | None = None) -> str:
        """Validate cheaply (the data must resolve), record the run as queued, and wake the dispatcher.

        `split`: rows to train on instead of the config's seeded split (a cross-validation fold);
        it is in the run's folder before the run is queued. `executor`: "ray" sends the run to the
        Ray cluster (core.runs.ray_executor), "local" to this machine's workers; None: Ray when
        WORKBENCH_RAY_ADDRESS is set, else local."""
        config.validate()
        ray = self._ray(executor)
        if ray is not None:
            config = ray_executor.for_ray(config)
            ray_executor.gpus_needed(config)  # cuda:all without a process count is bad input, said now
        ref = self.catalog.resolve(config.data.source)
        pinned = pin_content_hash(config, ref)
        config = pinned.config
        run_id = self.store.create_run(config.to_dict(), name=name or config.name, task=config.data.task,
                                       model=config.model.kind, dataset=ref.label, parent_id=parent_id, tags=tags,
                                       split=split, owner_pid=None if ray else os.getpid(),
                                       queue_device=None if ray else queue_of(config, _gpu_count(), _has_mps()),
                                       summary=pinned.run_summary(), executor="ray" if ray else None)
        if ray is not None:
            try:
                ray.submit(run_id, config)
            except Exception as exc:  # noqa: BLE001 - the run says why it never started, and so does the caller
                self.store.set_status(run_id, "failed", f"Ray did not take the run: {exc}")
                if isinstance(exc, WorkbenchError):
                    raise
                raise ConfigError(f"Ray did not take the run: {exc}") from exc
            with self._lock:
                self._ray_runs.add(run_id)
        self._wake.set()
        return run_id

    def resume(self, run_id: str) -> str:
        """Queue a cancelled or interrupted run again, to go on from its checkpoint (core.runs.resume)."""
        record = self.store.get(run_id)
        config = RunConfig.from_dict(record.config)
        resume.reopen(self.store, record.run_id, owner_pid=os.getpid(),  # here, also a run that ran on Ray
                      queue_device=queue_of(config, _gpu_count(), _has_mps()), executor=None)
        self._wake.set()
        return record.run_id

    def _ray(self, executor: str | None) -> "ray_executor.RayExecutor | None":
        if executor not in (None, "ray", "local", "cli"):
            raise ConfigError(f"executor must be local or ray, got {executor!r}")
        if executor in ("local", "cli"):
            return None
        ray = ray_executor.executor_for(self.store.workspace)
        if ray is None and executor == "ray":
            raise ConfigError(f"a run goes to Ray only with {ray_executor.RAY_ADDRESS_ENV} set to the head's job "
                              "server (http://HEAD:8265)")
        return ray

    def on_run_ended(self, hook: RunEndedHook) -> None:
        """Call `hook` with the ids of runs whose workers have ended (from the dispatcher thread, after
        their status is final). A hook that raises is logged; the other hooks and the queue go on."""
        self._ended_hooks.append(hook)

    def stop(self, run_id: str) -> None:
        record = self.store.get(run_id)
        self.store.request_stop(run_id)  # a queued run is cancelled at once, a running one stops between steps
        if record.executor == "ray" and record.status in ACTIVE:
            ray = ray_executor.executor_for(self.store.workspace)
            if ray is not None:
                try:
                    ray.stop(run_id)  # Ray's SIGTERM; the stop flag above reaches the run even if this cannot
                except WorkbenchError as exc:
                    log.warning("run %s: %s", run_id, exc)
                with self._lock:
                    self._ray_runs.add(run_id)  # the dispatcher records how it ended
        self._wake.set()

    def active(self) -> list[str]:
        with self._lock:
            return list(self._workers)

    def kill(self, run_id: str) -> None:
        """Hard kill (tests and a stuck worker); the reaper records the run as interrupted."""
        with self._lock:
            worker = self._workers.get(run_id)
        if worker:
            worker.proc.kill()

    def close(self, wait_s: float = 5.0) -> None:
        self._closed = True
        self._wake.set()
        with self._lock:
            workers = list(self._workers.values())
        for w in workers:
            w.proc.terminate()
        for w in workers:
            try:
                w.proc.wait(wait_s)
            except subprocess.TimeoutExpired:
                w.proc.kill()
        self._reap()
        self.executor.close()

    # --- dispatcher -------------------------------------------------------------
    def _loop(self) -> None:
        while not self._closed:
            try:
                ended = self._collect_ended()
                self._start_queued()  # the next run first: a CV parent's finalizer does not hold up its next fold
                if ended:
                    self._run_ended_hooks(ended)
            except Exception:  # noqa: BLE001 - the dispatcher must outlive one bad run
                log.exception("run manager loop")
            self._wake.wait(self.poll_s)
            self._wake.clear()

    def _reap(self) -> None:
        ended = self._collect_ended()
        if ended:
            self._run_ended_hooks(ended)

    def _collect_ended(self) -> list[str]:
        """The runs whose workers have ended, each with its final status (the backstop's, if it wrote none)."""
        with self._lock:
            done = [w for w in self._workers.values() if w.proc.poll() is not None]
            for w in done:
                del self._workers[w.run_id]
        for w in done:
            code = w.proc.returncode
            if code < 0:
                reason = f"the training process was killed (signal {-code})"
                self.store.set_status(w.run_id, "interrupted", reason)
                recovery.recover(self.store, w.run_id)  # a worker killed mid-write leaves a temp file behind
            else:  # a worker that exits normally has written its own status; this is the backstop
                self.store.set_status(w.run_id, "failed", f"the training process exited with code {code}")
        return [w.run_id for w in done] + self._reap_ray()

    def _reap_ray(self) -> list[str]:
        """Ray runs that have ended; a job that ended without its run saying so (killed, failed to
        start, stopped while waiting for a node) gets the status and reason from Ray."""
        with self._lock:
            watched = list(self._ray_runs)
        if not watched or time.monotonic() < self._next_ray_check:
            return []
        self._next_ray_check = time.monotonic() + RAY_POLL_S
        ended = []
        ray = ray_executor.executor_for(self.store.workspace)
        for run_id in watched:
            if self.store.get(run_id).status in ACTIVE:
                state = ray.state(run_id) if ray else None
                if state is None or not state.ended:
                    continue
                if self.store.get(run_id).status in ACTIVE:  # its own last words come first
                    status, reason = ray_executor.ended_reason(state, ray.logs(run_id))
                    self.store.set_status(run_id, status, reason)
            with self._lock:
                self._ray_runs.discard(run_id)
            ended.append(run_id)
        return ended

    def _run_ended_hooks(self, run_ids: list[str]) -> None:
        for hook in list(self._ended_hooks):
            try:
                hook(run_ids)
            except Exception:  # noqa: BLE001 - one hook's bug must not stop the queue or the other hooks
                log.exception("ended-run hook %r for %s", hook, run_ids)

    def _start_queued(self) -> None:
        for run in in_queue_order(self.store.list_runs(status="queued")):
            if run.owner_pid != os.getpid():
                continue  # another app process owns that queue entry
            device = queue_name(run)
            with self._lock:
                # A started run reads "queued" until its worker says "running": a pass in between (the
                # next submit wakes one) must not start it again. Two workers of one run wrote its metrics
                # and summary twice, and a CV parent finished on a fold's metrics that then changed.
                if run.run_id in self._workers:
                    continue
                busy = sum(1 for w in self._workers.values() if w.device == device)
                slots = self._slots_of(device)
                if shares_the_cpu(run):  # CV folds, repeats and trials: side by side, a thread each
                    slots = max(slots, self.cpu_side_by_side)
                if busy >= slots:
                    continue
                self._workers[run.run_id] = _Worker(run.run_id, device, self._spawn(run.run_id))

    def _slots_of(self, device: str) -> int:
        return self.slots.get(device, self.slots.get(device.partition(":")[0], 1))

    def _spawn(self, run_id: str) -> WorkerHandle:
        log_path = self.store.run_dir(run_id) / "worker.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        return self.executor.start(run_id, log_path)

    def wait(self, run_id: str, timeout_s: float = 120.0) -> Any:
        """Block until the run reaches a terminal status (CLI and tests); returns its record."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            record = self.store.get(run_id)
            if record.status not in ACTIVE:
                return record
            time.sleep(0.05)
        raise TimeoutError(f"run {run_id} did not finish within {timeout_s:.0f} s")


def _gpu_count() -> int:
    # device_count asks NVML where it can: the app process creates no CUDA context for queueing
    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def _has_mps() -> bool:
    return getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
