"""Evaluation curves as plain, JSON-able data (dicts of lists of Python numbers).

They are computed once on the test split, stored as a small run artifact and
drawn later by `core.evaluation.plots`; curves are thinned to about
`max_points` points so a run's artifacts stay small whatever the test size.
A class whose curve is undefined (absent from y_true, or the only class
present) is left out rather than stored as NaN, which JSON cannot hold.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
from sklearn.calibration import calibration_curve
from sklearn.metrics import (
    auc,
    average_precision_score,
    confusion_matrix,
    precision_recall_curve,
    roc_curve,
)

MAX_CURVE_POINTS = 200
MAX_SCATTER_POINTS = 2000


def confusion(y_true: np.ndarray, y_pred: np.ndarray, class_names: Sequence[str]) -> dict[str, Any]:
    """Counts and row-normalised rates (each true class sums to 1; an absent class is all 0)."""
    labels = list(range(len(class_names)))
    y, pred = _labels(y_true), _labels(y_pred)
    matrix = confusion_matrix(y, pred, labels=labels)
    normalized = confusion_matrix(y, pred, labels=labels, normalize="true")
    return {
        "matrix": matrix.astype(int).tolist(),
        "normalized": np.nan_to_num(normalized).astype(float).tolist(),
        "labels": [str(c) for c in class_names],
    }


def roc_curves(
    y_true: np.ndarray, proba: np.ndarray, class_names: Sequence[str], max_points: int = MAX_CURVE_POINTS
) -> list[dict[str, Any]]:
    """Binary: one curve for the positive class; multiclass: one-vs-rest per class."""
    curves = []
    for k, positives, scores in _one_vs_rest(y_true, proba):
        fpr, tpr, _ = roc_curve(positives, scores)
        # AUC from the full curve, before thinning it for storage.
        area = float(auc(fpr, tpr))
        fpr, tpr = _thin(max_points, fpr, tpr)
        curves.append({"label": str(class_names[k]), "fpr": fpr, "tpr": tpr, "auc": area})
    return curves


def pr_curves(
    y_true: np.ndarray, proba: np.ndarray, class_names: Sequence[str], max_points: int = MAX_CURVE_POINTS
) -> list[dict[str, Any]]:
    """Precision-recall per class, same classes as `roc_curves`.

    `prevalence` (share of positives) is the precision of guessing at random:
    the baseline a plot draws under the curve.
    """
    curves = []
    for k, positives, scores in _one_vs_rest(y_true, proba):
        precision, recall, _ = precision_recall_curve(positives, scores)
        ap = float(average_precision_score(positives, scores))
        precision, recall = _thin(max_points, precision, recall)
        curves.append({
            "label": str(class_names[k]),
            "precision": precision,
            "recall": recall,
            "average_precision": ap,
            "prevalence": float(positives.mean()),
        })
    return curves


def calibration(y_true: np.ndarray, proba: np.ndarray, n_bins: int = 10) -> dict[str, Any]:
    """Reliability data: mean predicted probability vs observed frequency per bin.

    Binary: the positive class's probability against how often it is the true
    class. Multiclass: the top class's confidence against how often the top
    class is right, so one curve summarises any number of classes.
    """
    y = _labels(y_true)
    proba = np.asarray(proba, dtype=np.float64)
    if proba.shape[1] == 2:
        hits, scores, kind = (y == 1).astype(int), proba[:, 1], "positive class"
    else:
        hits, scores, kind = (proba.argmax(axis=1) == y).astype(int), proba.max(axis=1), "top class"
    # pos_label=1 keeps calibration_curve working when every hit is 0 or 1.
    observed, predicted = calibration_curve(hits, scores, n_bins=n_bins, strategy="uniform", pos_label=1)
    return {
        "kind": kind,
        "mean_predicted": predicted.astype(float).tolist(),
        "fraction_positive": observed.astype(float).tolist(),
        "n_bins": int(n_bins),
    }


def residuals(
    y_true: np.ndarray, y_pred: np.ndarray, max_points: int = MAX_SCATTER_POINTS
) -> dict[str, list[float]]:
    """Predicted value against residual (true - predicted), evenly thinned for a scatter plot."""
    y = np.asarray(y_true, dtype=np.float64).reshape(-1)
    pred = np.asarray(y_pred, dtype=np.float64).reshape(-1)
    pred_kept, residual_kept = _thin(max_points, pred, y - pred)
    return {"pred": pred_kept, "residual": residual_kept}


def _one_vs_rest(y_true: np.ndarray, proba: np.ndarray) -> list[tuple[int, np.ndarray, np.ndarray]]:
    y = _labels(y_true)
    proba = np.asarray(proba, dtype=np.float64)
    classes = [1] if proba.shape[1] == 2 else range(proba.shape[1])
    out = []
    for k in classes:
        positives = (y == k).astype(int)
        if 0 < positives.sum() < positives.size:  # both sides needed for a defined curve
            out.append((k, positives, proba[:, k]))
    return out


def _thin(max_points: int, *arrays: np.ndarray) -> list[list[float]]:
    """Keep at most max_points evenly spaced indices, always the first and the last."""
    n = len(arrays[0])
    if n > max_points:
        keep = np.unique(np.linspace(0, n - 1, max_points).round().astype(int))
        arrays = tuple(a[keep] for a in arrays)
    return [np.asarray(a, dtype=np.float64).tolist() for a in arrays]


def _labels(values: np.ndarray) -> np.ndarray:
    return np.asarray(values).astype(np.int64).reshape(-1)


__all__ = [
    "MAX_CURVE_POINTS", "MAX_SCATTER_POINTS",
    "confusion", "roc_curves", "pr_curves", "calibration", "residuals",
]
