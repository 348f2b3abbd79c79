"""A trial as the Tune page and the CLI show it (TrialRow), and how many trials are in each state.

Plain data with no Optuna in it: the study (which writes the counts) and the results (which
build the rows) both read it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

TRIAL_STATES = ("complete", "pruned", "failed", "stopped", "running")


@dataclass
class TrialRow:
    """One trial: Optuna's state joined with its run."""

    number: int
    state: str  # one of TRIAL_STATES
    value: float | None
    params: dict[str, Any]
    run_id: str | None
    run_status: str | None = None
    duration_s: float | None = None
    pruned_epoch: int | None = None
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def trial_counts(trials: Sequence[TrialRow]) -> dict[str, int]:
    """How many trials are in each state, and how many have finished: the parent summary's "trials"."""
    counts = {s: 0 for s in TRIAL_STATES}
    for t in trials:
        counts[t.state] += 1
    counts["finished"] = counts["complete"] + counts["pruned"] + counts["failed"] + counts["stopped"]
    return counts
