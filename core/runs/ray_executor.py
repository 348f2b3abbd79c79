"""Runs on a Ray cluster: each run is a Ray job (`python -m core.runs.ray_job WORKSPACE RUN_ID`).

WORKBENCH_RAY_ADDRESS names the head's job server, the address `ray job submit --address` takes
(http://HEAD:8265). Ray schedules each job on a node with the run's needs free (one CPU, and its
GPUs: `gpus_needed`), starts it, stops it (SIGTERM, then SIGKILL) and keeps its log; the run's
status, metrics and artifacts reach the store as a local worker's do:
- the database: the job gets this process's WORKBENCH_DB_URL (a team's PostgreSQL); on SQLite,
  every node must be this machine or share its workspace folder;
- the artifacts: runs/<run_id>/ under the workspace, a path every node mounts at the same place.

A run's job is `workbench-<run_id>`, so any process that knows the run can stop it or read its log.
Ray is imported only here, and only when a run goes to Ray: without it configured nothing changes.
"""
from __future__ import annotations

import logging
import os
import shlex
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.config import RunConfig
from core.errors import ConfigError
from core.runs.database import DB_URL_ENV, database_url, is_sqlite

log = logging.getLogger(__name__)

RAY_ADDRESS_ENV = "WORKBENCH_RAY_ADDRESS"
RAY_PYTHON_ENV = "WORKBENCH_RAY_PYTHON"  # the nodes' Python, when `python` on their PATH is not workbench's
JOB_PREFIX = "workbench-"
_TERMINAL = {"SUCCEEDED", "FAILED", "STOPPED"}


def ray_address() -> str | None:
    return (os.environ.get(RAY_ADDRESS_ENV) or "").strip() or None


def job_id(run_id: str) -> str:
    return JOB_PREFIX + run_id


def gpus_needed(config: RunConfig) -> int:
    """The GPUs a run asks Ray for: one for cuda or cuda:N, N for cuda:all with --processes N.
    cpu, mps and auto ask for none (auto then trains on whatever the node it lands on has)."""
    device = config.train.device
    if device == "cuda:all":
        if not config.train.processes:
            raise ConfigError("on a Ray cluster, say how many GPUs cuda:all means with --processes N "
                              "(a node's GPU count is not known before Ray places the run)")
        return int(config.train.processes)
    return 1 if device.startswith("cuda") else 0


def for_ray(config: RunConfig) -> RunConfig:
    """The config as it trains on a node: Ray hands a job its GPUs as cuda:0, cuda:1, ..., so a
    particular GPU number of this machine means 'a GPU' there."""
    if config.train.device.startswith("cuda:") and config.train.device != "cuda:all":
        return config.evolve(train={"device": "cuda"})
    return config


@dataclass(frozen=True)
class JobState:
    status: str  # Ray's JobStatus: PENDING, RUNNING, STOPPED, SUCCEEDED, FAILED
    message: str | None = None
    node_id: str | None = None

    @property
    def ended(self) -> bool:
        return self.status in _TERMINAL


class RayExecutor:
    """Submits, stops and asks after runs' Ray jobs at one address (one client per process, made on first use)."""

    def __init__(self, address: str, workspace: str | Path):
        self.address = address
        self.workspace = Path(workspace).resolve()
        self._client: Any = None
        self._lock = threading.Lock()

    @property
    def client(self) -> Any:
        with self._lock:
            if self._client is None:
                try:
                    from ray.job_submission import JobSubmissionClient
                except ImportError:
                    raise ConfigError(f"{RAY_ADDRESS_ENV} is set but Ray is not installed here "
                                      "(pip install 'ray[default]')") from None
                try:
                    self._client = JobSubmissionClient(self.address)
                except Exception as exc:  # noqa: BLE001 - connection errors come in many types
                    raise ConfigError(f"no Ray cluster answers at {self.address} ({RAY_ADDRESS_ENV}): "
                                      f"{_first_line(exc)}") from None
            return self._client

    def submit(self, run_id: str, config: RunConfig) -> str:
        """Hand the run to Ray; it waits there (queued) until a node has what it needs."""
        python = os.environ.get(RAY_PYTHON_ENV) or "python"
        env = {"WORKBENCH_HOME": str(self.workspace), "OMP_WAIT_POLICY": "PASSIVE", "PYTHONUNBUFFERED": "1"}
        url = database_url(self.workspace)
        if not is_sqlite(url):
            env[DB_URL_ENV] = url
        gpus = gpus_needed(config)
        submission = self.client.submit_job(
            entrypoint=f"{shlex.quote(python)} -m core.runs.ray_job {shlex.quote(str(self.workspace))} {run_id}",
            submission_id=job_id(run_id), runtime_env={"env_vars": env}, metadata={"workbench_run": run_id},
            entrypoint_num_cpus=1, entrypoint_num_gpus=gpus or None)
        log.info("run %s submitted to Ray at %s as job %s (%d GPU)", run_id, self.address, submission, gpus)
        return submission

    def stop(self, run_id: str) -> bool:
        """Ask Ray to stop the run's job (SIGTERM: the run ends cancelled, with a checkpoint); harmless twice."""
        try:
            return bool(self.client.stop_job(job_id(run_id)))
        except RuntimeError as exc:  # a job Ray no longer knows
            log.info("Ray stop of %s: %s", run_id, _first_line(exc))
            return False

    def state(self, run_id: str) -> JobState | None:
        """What Ray says of the run's job; None when Ray does not know it."""
        try:
            info = self.client.get_job_info(job_id(run_id))
        except RuntimeError:
            return None
        return JobState(str(getattr(info.status, "value", info.status)), info.message, info.driver_node_id)

    def logs(self, run_id: str) -> str:
        """The job's output (stdout and stderr of the training process) as Ray keeps it."""
        try:
            return self.client.get_job_logs(job_id(run_id))
        except RuntimeError as exc:
            return f"Ray has no log for {job_id(run_id)}: {_first_line(exc)}"


def ended_reason(state: JobState, logs: str) -> tuple[str, str]:
    """The status and reason of a run whose job ended without the run saying so itself."""
    tail = " ".join(line.strip() for line in logs.strip().splitlines()[-3:])[-400:]
    said = state.message or ""
    if state.status == "STOPPED":
        return "cancelled", "stopped through Ray before the run could say so"
    reason = f"the Ray job {state.status.lower()}: {said}".strip().rstrip(":")
    return "failed", f"{reason} ({tail})" if tail else reason


_executors: dict[tuple[str, str], RayExecutor] = {}
_executors_lock = threading.Lock()


def executor_for(workspace: str | Path, address: str | None = None) -> RayExecutor | None:
    """This process's executor for `address` (else WORKBENCH_RAY_ADDRESS); None when Ray is not configured."""
    address = address or ray_address()
    if not address:
        return None
    key = (address, str(Path(workspace).resolve()))
    with _executors_lock:
        if key not in _executors:
            _executors[key] = RayExecutor(address, workspace)
        return _executors[key]


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
