"""Prediction servers the Export page starts and stops: `workbench serve RUN` as a child of the app.

One Servers per app process (the page keeps it in st.cache_resource), so every session sees the same
servers. A server is a child in the app's own process group: stopping the app (Ctrl+C, or a signal to
its group) stops its servers too, and the app stops the ones it started when it exits.
"""
from __future__ import annotations

import atexit
import os
import signal
import socket
import subprocess
import sys
import threading
import urllib.request
from dataclasses import dataclass
from pathlib import Path

FIRST_PORT = 8000
PORTS = 50  # ports tried from FIRST_PORT on
STOP_WAIT_S = 5.0


@dataclass(frozen=True)
class ServerState:
    run_id: str
    port: int
    running: bool  # the process is alive
    ready: bool  # it answers GET /health
    log_tail: str = ""  # the end of its output, to say why it stopped

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


class Servers:
    def __init__(self, workspace: Path) -> None:
        self.workspace = Path(workspace)
        self._procs: dict[str, tuple[subprocess.Popen, int, Path]] = {}
        self._lock = threading.Lock()
        atexit.register(self.stop_all)

    def start(self, run_id: str) -> ServerState:
        """Serve `run_id` on the first free port from FIRST_PORT (a server already running is kept)."""
        with self._lock:
            current = self._procs.get(run_id)
            if current is not None and current[0].poll() is None:
                return self._state(run_id)
            port = free_port()
            folder = self.workspace / "servers"
            folder.mkdir(parents=True, exist_ok=True)
            log_path = folder / f"{run_id}.log"
            with open(log_path, "wb") as log:
                proc = subprocess.Popen(
                    [sys.executable, "-m", "workbench.cli", "serve", run_id, "--port", str(port),
                     "--workspace", str(self.workspace)],
                    stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                    env={**os.environ, "PYTHONUNBUFFERED": "1"})
            self._procs[run_id] = (proc, port, log_path)
        return self._state(run_id)

    def stop(self, run_id: str) -> None:
        with self._lock:
            entry = self._procs.pop(run_id, None)
        if entry is None:
            return
        proc = entry[0]
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)  # uvicorn finishes the request in flight, then exits
            try:
                proc.wait(STOP_WAIT_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def stop_all(self) -> None:
        for run_id in list(self._procs):
            self.stop(run_id)

    def state(self, run_id: str) -> ServerState | None:
        """The server of `run_id`, or None if none was started (or it was stopped)."""
        with self._lock:
            if run_id not in self._procs:
                return None
        return self._state(run_id)

    def _state(self, run_id: str) -> ServerState:
        proc, port, log_path = self._procs[run_id]
        running = proc.poll() is None
        tail = "" if running else _tail(log_path)
        return ServerState(run_id, port, running, running and healthy(port), tail)


def free_port(first: int = FIRST_PORT, count: int = PORTS) -> int:
    for port in range(first, first + count):
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds: a port just freed is free
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    with socket.socket() as s:  # all taken: any free one
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def healthy(port: int, timeout_s: float = 0.5) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=timeout_s) as response:
            return response.status == 200
    except OSError:
        return False


def _tail(path: Path, limit: int = 600) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return "\n".join(lines[-4:])[-limit:]


__all__ = ["Servers", "ServerState", "free_port", "healthy"]
