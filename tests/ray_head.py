"""A throwaway Ray head for the tests: `ray start --head --block --num-cpus 2` in a session of its own.

Every port it opens is a free one and its files are in a temporary folder, so it shares nothing
with another head on the machine; it is stopped by signalling its own process group (never
`ray stop`, which ends every Ray process of the machine). Its jobs run this interpreter: PATH
starts with its folder. Where Ray is missing or the head will not start, `start` says why.
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path


class NoRay(Exception):
    """No Ray head can be started here; the message says why."""


@dataclass
class Head:
    address: str  # the job server: http://127.0.0.1:PORT
    proc: subprocess.Popen
    folder: Path

    def stop(self) -> None:
        for sig, wait_s in ((signal.SIGTERM, 15), (signal.SIGKILL, 10)):
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                break
            if _group_gone(self.proc.pid, wait_s):
                break
        self.proc.wait(10)
        shutil.rmtree(self.folder, ignore_errors=True)


def start(timeout_s: float = 120.0) -> Head:
    try:
        import ray.job_submission  # noqa: F401
    except ImportError:
        raise NoRay("ray is not installed (pip install -e '.[dev]' brings ray[default])") from None
    folder = Path(tempfile.mkdtemp(prefix="wb-ray-"))  # short: Ray's socket paths must fit 107 characters
    gcs, dashboard, client, agent, metrics = (_free_port() for _ in range(5))
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
           "RAY_USAGE_STATS_ENABLED": "0", "OMP_NUM_THREADS": "1"}
    log = open(folder / "head.log", "wb")  # noqa: SIM115 - the head's own output, kept for a failure message
    proc = subprocess.Popen([sys.executable, "-m", "ray.scripts.scripts", "start", "--head", "--block", "--num-cpus", "2", "--num-gpus", "0",
                             "--node-ip-address", "127.0.0.1", "--port", str(gcs), "--dashboard-host", "127.0.0.1",
                             "--dashboard-port", str(dashboard), "--ray-client-server-port", str(client),
                             "--dashboard-agent-listen-port", str(agent), "--metrics-export-port", str(metrics),
                             "--temp-dir", str(folder), "--include-dashboard", "true", "--disable-usage-stats"],
                            env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    head = Head(address=f"http://127.0.0.1:{dashboard}", proc=proc, folder=folder)
    from ray.job_submission import JobSubmissionClient

    deadline = time.monotonic() + timeout_s
    while True:
        if proc.poll() is not None:
            said = (folder / "head.log").read_text(errors="replace")[-1500:]
            head.stop()
            raise NoRay(f"the Ray head exited with code {proc.returncode}: {said}")
        try:
            JobSubmissionClient(head.address).list_jobs()
            return head
        except Exception:  # noqa: BLE001 - not up yet
            if time.monotonic() > deadline:
                said = (folder / "head.log").read_text(errors="replace")[-1500:]
                head.stop()
                raise NoRay(f"the Ray head did not answer within {timeout_s:.0f} s: {said}") from None
            time.sleep(0.5)


def _group_gone(pgid: int, wait_s: float) -> bool:
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return True
        if _only_zombies(pgid):
            return True
        time.sleep(0.2)
    return False


def _only_zombies(pgid: int) -> bool:
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(") ", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            return False
    return True


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
