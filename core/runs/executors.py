"""How the run manager starts a run's worker: the executor seam.

An executor turns a queued run id into a running worker and hands back a `WorkerHandle`, the
little the manager needs of it (poll, returncode, terminate, kill, wait: subprocess.Popen's
names, so a Popen is one). Each run still trains in a process of its own: a crash, a CUDA
error or an out-of-memory error ends that process alone and the manager records why.

- `WarmExecutor` (the default where the platform forks): runs are forked from one server
  process that has imported torch, the trainer and the evaluation libraries once
  (core.runs.zygote, preloading core.runs.preload), so a run starts in milliseconds instead
  of the seconds those imports cost. The server initialises no CUDA: each run's own process does,
  after the fork. A run that crashes takes only its own process; the server forks the next.
- `FreshProcessExecutor`: a new `python -m core.runs.worker` per run (platforms without fork,
  or WORKBENCH_WORKERS=fresh).

Another executor (a Ray cluster's) sits beside these by implementing `start`.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Callable, Protocol

from core.runs.recovery import pid_alive

WORKERS_ENV = "WORKBENCH_WORKERS"  # "warm" (default where fork exists) or "fresh"


class WorkerHandle(Protocol):
    """The manager's view of one run's worker (subprocess.Popen satisfies it)."""

    pid: int | None

    @property
    def returncode(self) -> int | None: ...

    def poll(self) -> int | None: ...

    def terminate(self) -> None: ...

    def kill(self) -> None: ...

    def wait(self, timeout: float | None = None) -> int | None: ...


class Executor(Protocol):
    def warm(self) -> None:
        """Get ready to start runs at once (the app calls it when it opens); may do nothing."""
        ...

    def start(self, run_id: str, log_path: Path) -> WorkerHandle:
        """Start the worker of `run_id` (queued in the store); its output goes to `log_path`."""
        ...

    def close(self) -> None: ...


def default_executor(workspace: Path, on_exit: Callable[[], None] | None = None) -> Executor:
    """`on_exit`: called when a run's worker has ended, where the executor learns it (the manager
    wakes its queue then, not at its next poll)."""
    wanted = os.environ.get(WORKERS_ENV, "").strip().lower()
    if wanted == "fresh" or not hasattr(os, "fork"):
        return FreshProcessExecutor(workspace)
    return WarmExecutor(workspace, on_exit)


class FreshProcessExecutor:
    """A new interpreter per run: `python -m core.runs.worker WORKSPACE RUN_ID` (seconds of imports first)."""

    def __init__(self, workspace: Path):
        self.workspace = workspace

    def warm(self) -> None:
        pass

    def start(self, run_id: str, log_path: Path) -> WorkerHandle:
        with open(log_path, "ab") as log_file:
            return subprocess.Popen(
                [sys.executable, "-m", "core.runs.worker", str(self.workspace), run_id],
                stdin=subprocess.DEVNULL, stdout=log_file, stderr=subprocess.STDOUT,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
                # A session of its own: Ctrl-C in the app's terminal reaches the app only, and the worker,
                # seeing its parent gone, ends the run as interrupted (with a checkpoint) instead of dying
                # mid-step. (Where Linux's autogroup applies, the run is also weighed as a group of its own;
                # bench/load_test.py still saw 8 local browsers halve a one-thread run on 2 cores.)
                start_new_session=True,
            )

    def close(self) -> None:
        pass


class WarmExecutor:
    """Forks each run from a server that has already imported what a run needs (core.runs.zygote).

    One server per app process, shared by every manager in it (the tests make many): the
    workspace and the environment travel with each request. `warm()` starts it ahead of need
    (the app does so when it opens, so it loads while the user picks data); otherwise the first
    run starts it. A server that has died (it never should) is replaced at the next start."""

    def __init__(self, workspace: Path, on_exit: Callable[[], None] | None = None):
        self.workspace, self.on_exit = workspace, on_exit

    def warm(self) -> None:
        _WarmServer.shared().ensure_running()

    def start(self, run_id: str, log_path: Path) -> WorkerHandle:
        # The environment of this moment goes with the run (the server's is that of its start): a
        # workspace's database URL, thread counts and the like reach the run as they would a Popen.
        request = {"run_id": run_id, "workspace": str(self.workspace), "log_path": str(log_path),
                   "env": {**os.environ, "PYTHONUNBUFFERED": "1"}}
        return _WarmServer.shared().start(request, self.on_exit)

    def close(self) -> None:
        pass  # the server is the process's: it ends with it (its stdin closes); runs going on see that and stop


class _WarmServer:
    _instance: "_WarmServer | None" = None
    _instance_lock = threading.Lock()

    @classmethod
    def shared(cls) -> "_WarmServer":
        with cls._instance_lock:
            if cls._instance is None:
                cls._instance = cls()
            return cls._instance

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[bytes] | None = None
        self._pending: list[ForkedWorker] = []  # asked for, pid not yet reported
        self._by_pid: dict[int, ForkedWorker] = {}

    def ensure_running(self) -> subprocess.Popen[bytes]:
        with self._lock:
            return self._ensure_running()

    def _ensure_running(self) -> subprocess.Popen[bytes]:
        if self._proc is not None and self._proc.poll() is None:
            return self._proc
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "core.runs.zygote"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            env={**os.environ, "PYTHONUNBUFFERED": "1"}, start_new_session=True)
        threading.Thread(target=self._read, args=(self._proc,), name="warm-workers", daemon=True).start()
        return self._proc

    def start(self, request: dict[str, object], on_exit: Callable[[], None] | None) -> "ForkedWorker":
        handle = ForkedWorker(str(request["run_id"]), on_exit)
        with self._lock:
            proc = self._ensure_running()
            self._pending.append(handle)
            try:
                assert proc.stdin is not None
                proc.stdin.write((json.dumps(request) + "\n").encode())
                proc.stdin.flush()
            except OSError:  # the server died just now: the run ends as failed to start, the next gets a new one
                self._pending.remove(handle)
                handle._ended(1)
        return handle

    def _read(self, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            message = json.loads(line)
            with self._lock:
                if "run_id" in message:
                    handle = next(h for h in self._pending if h.run_id == message["run_id"])
                    self._pending.remove(handle)
                    self._by_pid[message["pid"]] = handle
                    handle._started(message["pid"])
                    continue
                handle = self._by_pid.pop(message["pid"], None) if "code" in message else None
            if handle is not None:
                handle._ended(message["code"])
        # The server is gone: runs it had not forked yet never started; forked ones are orphans now
        # that stop themselves (their parent changed) and have written their own status.
        with self._lock:
            lost = [*self._pending, *self._by_pid.values()]
            self._pending.clear()
            self._by_pid.clear()
        for handle in lost:
            handle._lost()


class ForkedWorker:
    """A run forked by the warm server, behind Popen's names. Signals go to its pid directly."""

    def __init__(self, run_id: str, on_exit: Callable[[], None] | None = None):
        self.run_id, self.on_exit = run_id, on_exit
        self.pid: int | None = None
        self._code: int | None = None
        self._signal_when_started: int | None = None
        self._done = threading.Event()
        self._lock = threading.Lock()

    @property
    def returncode(self) -> int | None:
        return self._code

    def poll(self) -> int | None:
        return self._code

    def terminate(self) -> None:
        self._send(signal.SIGTERM)

    def kill(self) -> None:
        self._send(signal.SIGKILL)

    def wait(self, timeout: float | None = None) -> int | None:
        if not self._done.wait(timeout):
            raise subprocess.TimeoutExpired(f"run worker {self.pid}", timeout or 0.0)
        return self._code

    def _send(self, signum: int) -> None:
        with self._lock:
            if self._code is not None:
                return
            if self.pid is None:  # not forked yet: it gets the signal the moment it is
                self._signal_when_started = signum
                return
            pid = self.pid
        try:
            os.kill(pid, signum)
        except ProcessLookupError:
            pass

    def _started(self, pid: int) -> None:
        with self._lock:
            self.pid = pid
            signum = self._signal_when_started
        if signum is not None:
            self._send(signum)

    def _ended(self, code: int) -> None:
        with self._lock:
            self._code = code
        self._done.set()
        if self.on_exit is not None:
            self.on_exit()

    def _lost(self) -> None:
        """The server died: the run's own process is no child of ours to wait for, so poll it."""
        def watch() -> None:
            while pid_alive(self.pid):
                time.sleep(0.2)
            self._ended(1)  # its own status is in the store; this is only the manager's backstop
        threading.Thread(target=watch, name=f"watch-{self.run_id}", daemon=True).start()


