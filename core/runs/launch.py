"""One run, several processes: `torchrun --standalone` starts one rank per GPU (device cuda:all) or
`processes` ranks on the CPU (gloo), and this process, the launcher, watches them.

The launcher is the run's process in the store (its pid): the manager's kill and start-up recovery
deal with it as with any run. What reaches it reaches every rank:
- a stop (its should_stop: SIGTERM, the app gone) is written to the run folder's stop file, which
  rank 0 reads at its next check; the ranks agree on it and stop at the same step (a user's stop
  request in the store rank 0 reads itself);
- a kill: torchrun dies with the launcher (PR_SET_PDEATHSIG), and each rank with torchrun.
Only rank 0 writes metrics, artifacts and the run's status; the launcher records a failure the
ranks could not (a rank that crashed before rank 0 could say so).
"""
from __future__ import annotations

import ctypes
import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

from core.atomic import write_atomic
from core.config import RunConfig
from core.errors import ConfigError
from core.runs.database import DB_URL_ENV
from core.runs.store import RunStore, this_host
from core.training.device import cpu_threads
from core.vocab import ACTIVE, ALL_GPUS

log = logging.getLogger(__name__)

STOP_FILE = ".stop.json"  # the launcher's stop request to rank 0: {"reason": ...}
RANKS_LOG = "ranks.log"  # torchrun's and the ranks' output
RANKS_FILE = "ranks.json"  # written by rank 0 once all have joined: {"pids": [...], "backend", "world"}


def process_count(config: RunConfig, n_gpus: int | None = None) -> int:
    """How many processes train the run: `processes` (default 1), or one per GPU for cuda:all."""
    train = config.train
    if train.device != ALL_GPUS:
        return train.processes or 1
    if n_gpus is None:
        import torch

        n_gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if n_gpus == 0:
        raise ConfigError("device 'cuda:all' was asked for but no CUDA GPU is available here; "
                          "use --device cpu (with --processes N for several processes)")
    wanted = train.processes or n_gpus
    if wanted > n_gpus:
        raise ConfigError(f"{wanted} processes on cuda:all need {wanted} GPUs; this machine has {n_gpus}")
    return wanted


def needs_launch(config: RunConfig) -> bool:
    """More than one process, or all GPUs asked for by name: torchrun starts the ranks."""
    return config.train.device == ALL_GPUS or (config.train.processes or 1) > 1


def launch(store: RunStore, run_id: str, config: RunConfig, *,
           should_stop: Callable[[], str | None] | None = None, poll_s: float = 0.2) -> str:
    """Train the run as torchrun's ranks and wait for them; returns the run's terminal status."""
    n = process_count(config)
    backend = "nccl" if config.train.device == ALL_GPUS else "gloo"
    run_dir = store.run_dir(run_id)
    stop_file = run_dir / STOP_FILE
    stop_file.unlink(missing_ok=True)
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nnodes=1",
               f"--nproc-per-node={n}", "--max-restarts=0", "-m", "core.runs.rank", str(store.workspace), run_id]
    env = {**os.environ, DB_URL_ENV: store.db_url, "WORKBENCH_DDP_BACKEND": backend, "PYTHONUNBUFFERED": "1",
           "WORKBENCH_LAUNCHER_PID": str(os.getpid())}
    if backend == "gloo":  # the ranks share the cores the one process would have had
        env["WORKBENCH_CPU_THREADS"] = str(max(1, cpu_threads() // n))
        env.setdefault("OMP_NUM_THREADS", env["WORKBENCH_CPU_THREADS"])  # torchrun would set 1, and say so
    store.update(run_id, pid=os.getpid(), host=this_host())
    store.set_status(run_id, "running")
    with open(run_dir / RANKS_LOG, "ab") as out:
        # a session of its own: a terminal's Ctrl-C reaches the launcher, which stops the ranks in order
        proc = subprocess.Popen(command, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True, preexec_fn=_die_with_parent)
    asked: str | None = None
    try:
        while proc.poll() is None:
            if asked is None and should_stop is not None:
                asked = should_stop()
                if asked:
                    write_atomic(stop_file, json.dumps({"reason": asked}))
            try:
                proc.wait(poll_s)
            except subprocess.TimeoutExpired:
                pass
    except BaseException:
        _end(proc)
        raise
    stop_file.unlink(missing_ok=True)
    record = store.get(run_id)
    if record.status in ACTIVE:  # no rank got to record how the run ended
        if asked:
            status = "interrupted" if asked.startswith("interrupted") else "cancelled"
            store.set_status(run_id, status, asked)
        else:
            store.set_status(run_id, "failed", f"a training process of this run ended with exit code "
                                               f"{proc.returncode}; details in {run_dir / RANKS_LOG}")
    return store.get(run_id).status


def stop_reason(run_dir: Path) -> str | None:
    """What the launcher asked (rank 0 polls this)."""
    try:
        return str(json.loads((run_dir / STOP_FILE).read_text())["reason"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _end(proc: subprocess.Popen[bytes], wait_s: float = 30.0) -> None:
    """torchrun passes SIGTERM on to the ranks; what has not ended in `wait_s` is killed."""
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(wait_s)
    except subprocess.TimeoutExpired:
        proc.kill()


def _die_with_parent() -> None:
    """In the child before exec: the kernel kills it when the process that started it dies (Linux)."""
    die_with_parent()


def die_with_parent(sig: int = signal.SIGKILL) -> None:
    if not sys.platform.startswith("linux"):
        return
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, sig, 0, 0, 0)  # PR_SET_PDEATHSIG
    except OSError:
        pass
