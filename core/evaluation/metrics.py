"""Scalar evaluation metrics, all computed by sklearn.metrics.

Inputs are numpy arrays of raw model outputs (logits, or de-standardised
values for regression); the result is a plain `dict[str, float]` so it can go
straight into the run store. A metric that is undefined for the data at hand
(ROC AUC with one class present) is NaN rather than an exception: one odd
test split should not fail a whole run.
"""
from __future__ import annotations

import math
import warnings

import numpy as np
from scipy.special import expit, softmax
from sklearn import config_context
from sklearn.exceptions import UndefinedMetricWarning
from sklearn.metrics import (
    accuracy_score,
    balanced_accuracy_score,
    f1_score,
    log_loss,
    mean_absolute_error,
    mean_squared_error,
    precision_recall_fscore_support,
    precision_score,
    r2_score,
    recall_score,
    roc_auc_score,
    root_mean_squared_error,
)
from sklearn.preprocessing import label_binarize

from core.vocab import check_task


def outputs_to_proba(task: str, outputs: np.ndarray) -> np.ndarray:
    """Raw outputs -> class probabilities (n, K); regression values pass through as (n,).

    scipy's expit and softmax stay finite for logits of any size (+-1000 gives
    exactly 0 and 1, not NaN), unlike a naive exp.
    """
    check_task(task)
    out = np.asarray(outputs, dtype=np.float64)
    if task == "regression":
        return out.reshape(-1)
    if task == "binary":
        p = expit(out.reshape(-1))
        return np.column_stack([1.0 - p, p])
    if out.ndim != 2:
        raise ValueError(f"multiclass outputs must be (n, K) logits, got shape {out.shape}")
    return softmax(out, axis=1)


def classification_metrics(y_true: np.ndarray, proba: np.ndarray) -> dict[str, float]:
    """y_true holds class indices 0..K-1; proba is (n, K) with rows summing to 1."""
    y = np.asarray(y_true).astype(np.int64).reshape(-1)
    proba = np.asarray(proba, dtype=np.float64)
    n_classes = proba.shape[1]
    y_pred = proba.argmax(axis=1)
    # The arrays are ours and well-formed: sklearn's per-call parameter checks were most of a small
    # split's cost (a run scores val, test and its baselines' parts); precision, recall and F1 come
    # from the one call each of sklearn's three functions makes, so the values are the same.
    with warnings.catch_warnings(), config_context(skip_parameter_validation=True):
        # balanced_accuracy warns when y_pred holds a class y_true lacks; the
        # value is still the documented one, so the warning is only noise.
        warnings.simplefilter("ignore", UserWarning)
        balanced = balanced_accuracy_score(y, y_pred)
        precision, recall, f1, _ = precision_recall_fscore_support(y, y_pred, average="macro", zero_division=0)
        return {
            "accuracy": float(accuracy_score(y, y_pred)),
            "balanced_accuracy": float(balanced),
            "precision_macro": float(precision),
            "recall_macro": float(recall),
            "f1_macro": float(f1),
            "roc_auc": _roc_auc(y, proba),
            "log_loss": float(log_loss(y, proba, labels=list(range(n_classes)))),
        }


def _roc_auc(y: np.ndarray, proba: np.ndarray) -> float:
    n_classes = proba.shape[1]
    present = np.unique(y)
    if present.size < 2:
        return math.nan  # AUC ranks positives against negatives; one class has no pairs
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        if n_classes == 2:
            return float(roc_auc_score(y, proba[:, 1]))
        if present.size == n_classes:
            return float(roc_auc_score(y, proba, multi_class="ovr", average="macro", labels=list(range(n_classes))))
        # A class missing from y_true makes sklearn's multiclass OvR return NaN
        # for the whole macro. One-vs-rest over the classes that are present
        # (the same per-class AUCs, averaged by sklearn) is still meaningful.
        indicator = label_binarize(y, classes=list(range(n_classes)))[:, present]
        return float(roc_auc_score(indicator, proba[:, present], average="macro"))


def regression_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """In the target's own units: the caller un-standardises predictions first."""
    y = np.asarray(y_true, dtype=np.float64).reshape(-1)
    pred = np.asarray(y_pred, dtype=np.float64).reshape(-1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedMetricWarning)  # r2 of fewer than two samples is NaN
        r2 = r2_score(y, pred)
    return {
        "mse": float(mean_squared_error(y, pred)),
        "rmse": float(root_mean_squared_error(y, pred)),
        "mae": float(mean_absolute_error(y, pred)),
        "r2": float(r2),
    }


def classification_metric(name: str, y_true: np.ndarray, proba: np.ndarray) -> float:
    """One of classification_metrics' values alone, by the same definition (a bootstrap scores one
    metric thousands of times: computing all seven each time would be seven times the work)."""
    y = np.asarray(y_true).astype(np.int64).reshape(-1)
    proba = np.asarray(proba, dtype=np.float64)
    if name == "roc_auc":
        return _roc_auc(y, proba)
    if name == "log_loss":
        return float(log_loss(y, proba, labels=list(range(proba.shape[1]))))
    y_pred = proba.argmax(axis=1)
    if name == "accuracy":
        return float(accuracy_score(y, y_pred))
    if name == "balanced_accuracy":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            return float(balanced_accuracy_score(y, y_pred))
    scorers = {"precision_macro": precision_score, "recall_macro": recall_score, "f1_macro": f1_score}
    if name in scorers:
        return float(scorers[name](y, y_pred, average="macro", zero_division=0))
    raise ValueError(f"unknown classification metric {name!r}")


def compute_metrics(task: str, y_true: np.ndarray, outputs: np.ndarray) -> dict[str, float]:
    """Metrics from raw model outputs (regression outputs already de-standardised)."""
    check_task(task)
    if task == "regression":
        return regression_metrics(y_true, outputs)
    return classification_metrics(y_true, outputs_to_proba(task, outputs))


__all__ = ["outputs_to_proba", "classification_metrics", "classification_metric", "regression_metrics", "compute_metrics"]
