"""The warm worker server: `python -m core.runs.zygote`, started by core.runs.executors.WarmExecutor.

It imports what a run needs once (core.runs.preload), then forks one child per run it is asked
for; each child is an ordinary worker (core.runs.worker.main) that starts in milliseconds. A
crash of a run ends its child alone. The server ends when its stdin closes (the app is gone);
its children then see their parent change and stop as interrupted, with a checkpoint.

Why not multiprocessing's forkserver: it re-imports the parent's __main__ in every child, and
in a Streamlit app __main__ is whichever page script is running at that moment.

Protocol, one JSON object a line. In (stdin): {"run_id", "workspace", "log_path", "env"}.
Out (the stdout the server was started with): {"run_id", "pid"} once a run is forked,
{"pid", "code"} when it has ended (code as subprocess reports it: negative for a signal).
"""
from __future__ import annotations

import json
import os
import select
import sys
from typing import Any

POLL_S = 0.05  # how often a child without a pidfd is asked whether it has ended


def serve(requests: Any, replies: Any) -> None:
    import core.runs.preload  # noqa: F401 - the whole point: imported once, before any fork

    _say(replies, {"ready": True})
    children: dict[int, int | None] = {}  # pid -> its pidfd (None: polled, where Linux's pidfd_open is missing)
    buffer = b""
    stdin_fd = requests.fileno()
    while True:
        # A child's end wakes the loop at once (its pidfd turns readable), so the manager hears of it and
        # starts the next queued run (a CV's next fold) without a poll interval in between.
        watched = [stdin_fd, *(fd for fd in children.values() if fd is not None)]
        polled = any(fd is None for fd in children.values())
        ready, _, _ = select.select(watched, [], [], POLL_S if polled else None)
        if stdin_fd in ready:
            chunk = os.read(stdin_fd, 65536)
            if not chunk:
                return  # the app is gone; children notice their parent change and stop themselves
            buffer += chunk
            while b"\n" in buffer:
                line, buffer = buffer.split(b"\n", 1)
                if line.strip():
                    request = json.loads(line)
                    pid = _fork_run(request, stdin_fd, replies)
                    children[pid] = _pidfd(pid)
                    _say(replies, {"run_id": request["run_id"], "pid": pid})
        for pid in list(children):
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                fd = children.pop(pid)
                if fd is not None:
                    os.close(fd)
                _say(replies, {"pid": pid, "code": os.waitstatus_to_exitcode(status)})


def _pidfd(pid: int) -> int | None:
    try:
        return os.pidfd_open(pid)
    except (AttributeError, OSError):  # not Linux 5.3+, or no pidfd here: the loop polls this child
        return None


def _fork_run(request: dict[str, Any], stdin_fd: int, replies: Any) -> int:
    pid = os.fork()
    if pid:
        return pid
    code = 1
    try:
        os.close(stdin_fd)
        os.close(replies.fileno())
        code = _run(request)
    finally:
        os._exit(code)  # never return into the server's loop, never run its atexit handlers


def _run(request: dict[str, Any]) -> int:
    os.setsid()  # a session of its own: Ctrl-C in the app's terminal reaches the app only
    os.environ.clear()
    os.environ.update(request["env"])  # the app's environment when it asked, as a Popen would have it
    fd = os.open(request["log_path"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    from core.runs.worker import main

    code = main([request["workspace"], request["run_id"]])
    sys.stdout.flush()
    sys.stderr.flush()
    return code


def _say(replies: Any, message: dict[str, Any]) -> None:
    replies.write((json.dumps(message) + "\n").encode())
    replies.flush()


if __name__ == "__main__":
    # The protocol keeps the stdout it was started with; anything printed goes to stderr instead.
    protocol = os.fdopen(os.dup(1), "wb", buffering=0)
    os.dup2(2, 1)
    serve(sys.stdin.buffer, protocol)
