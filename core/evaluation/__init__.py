"""Evaluation: sklearn metrics, plain-data curves, and plotly figures of both.

Which metrics a task reports, their direction and the primary one are named in core.vocab.
The names below are loaded on first use (PEP 562): a worker that imports this package to train
does not pay for sklearn, scipy and plotly until it evaluates or draws.
"""
from __future__ import annotations

import importlib
from typing import Any

_HOMES = {
    "core.evaluation.curves": ("calibration", "confusion", "pr_curves", "residuals", "roc_curves"),
    "core.evaluation.metrics": ("classification_metrics", "compute_metrics", "outputs_to_proba", "regression_metrics"),
    "core.evaluation.plots": ("calibration_figure", "confusion_figure", "curves_figure", "pr_figure",
                              "residuals_figure", "roc_figure"),
}
_HOME_OF = {name: module for module, names in _HOMES.items() for name in names}


def __getattr__(name: str) -> Any:
    module = _HOME_OF.get(name)
    if module is None:
        raise AttributeError(f"module 'core.evaluation' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


__all__ = [
    "outputs_to_proba", "classification_metrics", "regression_metrics", "compute_metrics",
    "confusion", "roc_curves", "pr_curves", "calibration", "residuals",
    "confusion_figure", "roc_figure", "pr_figure", "calibration_figure", "residuals_figure", "curves_figure",
]
