"""What a study's trials say so far: the best value after each trial, which settings mattered, and each
trial's validation curve. Plain data for the Tune page (workbench/ui/tune_views.py draws it) and the CLI.
"""
from __future__ import annotations

import functools
import math
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import optuna
import pandas as pd

from core.runs.store import RunStore
from core.tuning.storage import optuna_storage

if TYPE_CHECKING:
    from core.tuning.trials import TrialRow

MIN_TRIALS_FOR_IMPORTANCE = 3  # fewer complete trials than this tell nothing about which setting matters


def complete_trials(trials: Sequence[TrialRow]) -> int:
    return sum(1 for t in trials if t.state == "complete")


def best_so_far(trials: Sequence[TrialRow], direction: str) -> list[tuple[int, float, float]]:
    """(1-based trial number, its value, best value up to it) for each complete trial, in trial order.

    `direction` is the study's: "maximize" or "minimize"."""
    out: list[tuple[int, float, float]] = []
    best: float | None = None
    for t in sorted(trials, key=lambda t: t.number):
        if t.state != "complete" or t.value is None or not math.isfinite(t.value):
            continue
        if best is None or (t.value > best if direction == "maximize" else t.value < best):
            best = t.value
        out.append((t.number + 1, t.value, best))
    return out


def param_importances(workspace: str | Path, study_name: str, n_complete: int) -> dict[str, float] | None:
    """Optuna's importance (its default evaluator) of each searched setting, as shares that add up to 1.

    None below MIN_TRIALS_FOR_IMPORTANCE complete trials, or when the values spread too little to say.
    A finished trial never changes, so the answer is computed once per (study, complete trials): a page
    polling a running study recomputes it only when another trial completes.
    """
    if n_complete < MIN_TRIALS_FOR_IMPORTANCE:
        return None
    found = _importances(str(Path(workspace).resolve()), study_name, n_complete)
    return dict(found) if found is not None else None


@functools.lru_cache(maxsize=256)
def _importances(workspace: str, study_name: str, n_complete: int) -> tuple[tuple[str, float], ...] | None:
    study = optuna.load_study(study_name=study_name, storage=optuna_storage(workspace))
    try:
        found = optuna.importance.get_param_importances(study)
    except (RuntimeError, ValueError):  # too little spread in the values to say anything
        return None
    return tuple(found.items())


def trial_curves(store: RunStore, trials: Sequence[TrialRow], monitor: str) -> pd.DataFrame:
    """Each trial's validation `monitor` per epoch, from its run's metric rows (live for the running one):
    columns trial (0-based), epoch, value."""
    by_run = {t.run_id: t.number for t in trials if t.run_id}
    frame = store.metrics_frame(by_run)
    frame = frame[(frame["split"] == "val") & (frame["name"] == monitor)]
    return frame.assign(trial=frame["run_id"].map(by_run))[["trial", "epoch", "value"]]


__all__ = ["MIN_TRIALS_FOR_IMPORTANCE", "complete_trials", "best_so_far", "param_importances", "trial_curves"]
