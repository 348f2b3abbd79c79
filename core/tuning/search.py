"""Hyperparameter search: an Optuna study whose trials are ordinary runs in the run store.

The one import for callers (the CLI, the Tune page, core.tuning.background); the work is in

    study    StudySpec, creating, listing, opening, stopping and resuming a study
    driver   run_study: trials through the RunManager, pruning on validation metrics
    results  trial rows, the best trial, the parent's summary, the JSON report
    trials   TrialRow and the counts per state (plain data that study and results share)
"""
from __future__ import annotations

from core.tuning.driver import run_study
from core.tuning.results import best_config, study_report, study_trials, submit_best
from core.tuning.study import (
    BEST_TAG, PRUNED_TAG, STUDY_TAG, TRIAL_TAG, StudySpec, can_resume, create_study, default_pruner, list_studies,
    load_study, metric_choices, resume_study, stop_study, study_spec,
)
from core.tuning.trials import TrialRow

__all__ = [
    "STUDY_TAG", "TRIAL_TAG", "BEST_TAG", "PRUNED_TAG", "StudySpec", "TrialRow", "metric_choices",
    "default_pruner", "create_study", "list_studies", "study_spec", "load_study", "stop_study", "can_resume",
    "resume_study", "run_study", "study_trials", "best_config", "submit_best", "study_report",
]
