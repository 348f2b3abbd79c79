"""Evaluation: sklearn metrics, plain-data curves, and plotly figures of both.

Which metrics a task reports, their direction and the primary one are named in core.vocab.
"""
from __future__ import annotations

from core.evaluation.curves import calibration, confusion, pr_curves, residuals, roc_curves
from core.evaluation.metrics import classification_metrics, compute_metrics, outputs_to_proba, regression_metrics
from core.evaluation.plots import (
    calibration_figure,
    confusion_figure,
    curves_figure,
    pr_figure,
    residuals_figure,
    roc_figure,
)

__all__ = [
    "outputs_to_proba", "classification_metrics", "regression_metrics", "compute_metrics",
    "confusion", "roc_curves", "pr_curves", "calibration", "residuals",
    "confusion_figure", "roc_figure", "pr_figure", "calibration_figure", "residuals_figure", "curves_figure",
]
