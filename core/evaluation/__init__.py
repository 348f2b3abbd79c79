"""Evaluation: sklearn metrics, plain-data curves, and plotly figures of both."""
from __future__ import annotations

from core.evaluation.curves import calibration, confusion, pr_curves, residuals, roc_curves
from core.evaluation.metrics import (
    CLASSIFICATION_METRICS,
    METRIC_DIRECTION,
    REGRESSION_METRICS,
    classification_metrics,
    compute_metrics,
    is_better,
    outputs_to_proba,
    primary_metric,
    regression_metrics,
)
from core.evaluation.plots import (
    calibration_figure,
    confusion_figure,
    curves_figure,
    pr_figure,
    residuals_figure,
    roc_figure,
)

__all__ = [
    "CLASSIFICATION_METRICS", "REGRESSION_METRICS", "METRIC_DIRECTION",
    "outputs_to_proba", "classification_metrics", "regression_metrics", "compute_metrics",
    "primary_metric", "is_better",
    "confusion", "roc_curves", "pr_curves", "calibration", "residuals",
    "confusion_figure", "roc_figure", "pr_figure", "calibration_figure", "residuals_figure", "curves_figure",
]
