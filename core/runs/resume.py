"""Resume a cancelled or interrupted run from its last checkpoint, as the same run.

The run goes back into a queue (or straight to `workbench resume`'s own process) with its id, its
metrics and its folder; execute_run finds the checkpoint there and goes on from it (core.runs.checkpoints).
A run without a checkpoint says so in words: there is nothing to go on from.
"""
from __future__ import annotations

from typing import Any

from core.errors import WorkbenchError
from core.runs import checkpoints
from core.runs.store import RunRecord, RunStore, this_host
from core.vocab import RESUMABLE


def why_not_resumable(store: RunStore, record: RunRecord) -> str | None:
    """None where the run can resume; otherwise why not, in a sentence."""
    if record.status not in RESUMABLE:
        what = "is still training" if record.status in ("running", "paused", "queued") else f"is {record.status}"
        return f"Run {record.name} {what}: only a cancelled or interrupted run can be resumed."
    if not checkpoints.exists(store.run_dir(record.run_id)):
        return (f"Run {record.name} has no checkpoint to resume from (it stopped before one was saved, "
                "or it was recorded before runs kept them): train it again instead.")
    return None


def reopen(store: RunStore, run: str, **fields: Any) -> RunRecord:
    """Put a resumable run back to queued, for a worker (owner_pid=, queue_device=) or this process (pid=)
    to train on from its checkpoint. Raises WorkbenchError, with the reason, for any other run."""
    record = store.get(run)
    problem = why_not_resumable(store, record)
    if problem:
        raise WorkbenchError(problem)
    store.reopen(record.run_id, "queued", host=this_host(), **fields)
    return store.get(record.run_id)
