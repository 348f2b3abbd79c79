"""The run queues: which queue a run waits in, and the order runs leave it.

One queue per concrete device ("cuda:0", "cuda:1", "mps", "cpu"), oldest run first. The
run manager starts runs in this order and the UI shows places in it, from this one rule.
"""
from __future__ import annotations

import os
from typing import Iterable

from core.config import RunConfig
from core.runs.store import RunRecord
from core.vocab import ALL_GPUS

DEFAULT_QUEUE = "cpu"  # a queued run that names no queue (an older workspace's)


def queue_of(config: RunConfig, n_gpus: int, has_mps: bool = False) -> str:
    """The queue a run waits in: the device it will train on, as resolve_device will pick it.

    "cuda" and "auto" are the default GPU, cuda:0, so they share its queue with "cuda:0" runs.
    "auto" does not go to the GPU with the most free memory: the worker resolves "auto" itself
    (to the default GPU), so another queue would not move the run, and free memory at submit
    time says little about the moment it starts; a fixed GPU also keeps "same config, same
    device, same result". Pick a GPU by name to spread runs over several.
    """
    device = config.train.device
    if device == "auto":
        device = "cuda" if n_gpus else "mps" if has_mps else "cpu"
    if device in ("cuda", ALL_GPUS) and n_gpus:
        # cuda:all waits in GPU 0's queue, which its rank 0 trains on (it does not hold the other
        # GPUs' queues: a run queued on cuda:1 may share that GPU with it)
        return "cuda:0"
    return device  # no CUDA: a "cuda" run fails at once in its worker, with the reason


def side_by_side_on_cpu(cores: int | None = None) -> int:
    """How many runs of one plan (a cross-validation's folds, a group's repeats, a search's trials)
    the CPU queue trains at once: one per core, at most 4. Such runs are small and many; side by
    side with a thread each they finish sooner than one after another with every thread (iris,
    5 folds on 2 cores: bench/instant.py). A run of its own still has the CPU queue to itself."""
    return max(1, min(4, cores or os.cpu_count() or 1))


def shares_the_cpu(run: RunRecord) -> bool:
    """A run that trains beside its plan's others on the CPU queue (side_by_side_on_cpu)."""
    return run.parent_id is not None and queue_name(run) == "cpu"


def queue_name(run: RunRecord) -> str:
    return run.queue_device or DEFAULT_QUEUE


def in_queue_order(runs: Iterable[RunRecord]) -> list[RunRecord]:
    """The queued runs among `runs`, in the order they start (oldest first; each device's queue apart)."""
    return sorted((r for r in runs if r.status == "queued"), key=lambda r: r.created_at)


def queue_positions(runs: Iterable[RunRecord]) -> dict[str, tuple[int, str]]:
    """run_id -> (1-based place in its device's queue, device) for the queued runs among `runs`."""
    seen: dict[str, int] = {}
    out: dict[str, tuple[int, str]] = {}
    for r in in_queue_order(runs):
        device = queue_name(r)
        seen[device] = seen.get(device, 0) + 1
        out[r.run_id] = (seen[device], device)
    return out
