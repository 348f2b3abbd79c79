"""Baselines: what a run's network has to beat, on the very rows it was trained and tested on.

Two per task, both from scikit-learn and fitted on the run's own preprocessed training rows:

    classification  majority class (DummyClassifier's prior: every row gets the training shares)
                    logistic regression (LogisticRegression, its defaults: L2 with C=1, lbfgs)
    regression      mean of the training targets (DummyRegressor)
                    ridge regression (Ridge, its default alpha=1)

A network that does no better than the first has learned nothing; one that does no better than the
second has learned nothing a straight line could not. Metrics come from core.evaluation.metrics, so
they are the same numbers as the run's own. Inputs of any shape (images, sequences) are flattened;
pixels are scaled to 0..1 as the models' first layer does.
"""
from __future__ import annotations

import logging
import time
import warnings
from dataclasses import dataclass
from typing import Any, Callable, Mapping

import numpy as np

from core.evaluation.metrics import classification_metrics, regression_metrics
from core.vocab import is_classification

log = logging.getLogger(__name__)

# A linear fit on more cells than this (rows x inputs) would slow the end of a run by more than a few
# seconds on a laptop CPU: the constant baseline is still reported.
MAX_LINEAR_CELLS = 20_000_000

BASELINE_LABELS = {
    "majority": "majority class",
    "mean": "mean of the training targets",
    "logistic": "logistic regression (scikit-learn, C=1)",
    "ridge": "ridge regression (scikit-learn, alpha=1)",
}


@dataclass
class Baseline:
    name: str  # a key of BASELINE_LABELS
    metrics: dict[str, dict[str, float]]  # part ("val", "test") -> metric -> value
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return {"label": BASELINE_LABELS[self.name], "metrics": self.metrics, "seconds": round(self.seconds, 4)}


def baseline_names(task: str) -> tuple[str, str]:
    return ("majority", "logistic") if is_classification(task) else ("mean", "ridge")


def fit_baselines(task: str, X_train: np.ndarray, y_train: np.ndarray, parts: Mapping[str, tuple[np.ndarray, np.ndarray]],
                  n_classes: int | None = None,
                  decode: Callable[[np.ndarray], np.ndarray] | None = None) -> tuple[list[Baseline], list[str]]:
    """The task's two baselines scored on `parts` (name -> (X, encoded y)); and notes for the run.

    Classification targets are class indices 0..n_classes-1; a regression target is as the network
    sees it (standardised), and `decode` turns it back into the user's units before scoring."""
    decode = decode or (lambda v: v)
    constant, linear = baseline_names(task)
    notes: list[str] = []
    out = [_timed(constant, lambda: _constant(task, y_train, parts, n_classes, decode))]
    X = _flat(X_train)
    if X.shape[0] * max(X.shape[1], 1) > MAX_LINEAR_CELLS:
        notes.append(f"no {BASELINE_LABELS[linear]} baseline: {X.shape[0]} rows of {X.shape[1]} inputs are too "
                     "many for a quick fit")
        return out, notes
    if is_classification(task) and len(np.unique(y_train)) < 2:
        notes.append(f"no {BASELINE_LABELS[linear]} baseline: the training rows hold one class only")
        return out, notes
    try:
        out.append(_timed(linear, lambda: _linear(task, X, y_train, parts, n_classes, decode)))
    except (ValueError, np.linalg.LinAlgError) as exc:  # a degenerate fit is a note, never a failed run
        notes.append(f"no {BASELINE_LABELS[linear]} baseline: {exc}")
    return out, notes


def _timed(name: str, fit: Callable[[], dict[str, dict[str, float]]]) -> Baseline:
    start = time.perf_counter()
    metrics = fit()
    return Baseline(name, metrics, time.perf_counter() - start)


def _flat(X: np.ndarray) -> np.ndarray:
    X = np.asarray(X)
    scale = 1.0 / 255.0 if X.dtype == np.uint8 else 1.0  # pixels, as core.models.images.Pixels scales them
    return X.reshape(len(X), -1).astype(np.float32) * np.float32(scale)


def _constant(task: str, y_train: np.ndarray, parts, n_classes: int | None, decode) -> dict[str, dict[str, float]]:
    if is_classification(task):
        k = int(n_classes or int(np.max(y_train)) + 1)
        priors = np.bincount(np.asarray(y_train, dtype=np.int64).reshape(-1), minlength=k) / max(len(y_train), 1)
        return {part: classification_metrics(y, np.tile(priors, (len(y), 1))) for part, (_, y) in parts.items()}
    mean = float(np.mean(y_train))
    return {part: regression_metrics(decode(np.asarray(y, dtype=np.float64)),
                                     decode(np.full(len(y), mean))) for part, (_, y) in parts.items()}


def _linear(task: str, X: np.ndarray, y_train: np.ndarray, parts, n_classes: int | None,
            decode) -> dict[str, dict[str, float]]:
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression, Ridge

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # the fit after max_iter is still a baseline
        if is_classification(task):
            y = np.asarray(y_train, dtype=np.int64).reshape(-1)
            model = LogisticRegression(max_iter=1000).fit(X, y)
            k = int(n_classes or int(y.max()) + 1)
            out = {}
            for part, (Xp, yp) in parts.items():
                seen = model.predict_proba(_flat(Xp))
                proba = np.zeros((len(seen), k))
                proba[:, model.classes_] = seen  # a class the training rows lack keeps probability 0
                proba /= proba.sum(axis=1, keepdims=True)  # float32 inputs give float32 rows: sum to 1 exactly
                out[part] = classification_metrics(yp, proba)
            return out
        model = Ridge().fit(X, np.asarray(y_train, dtype=np.float64).reshape(-1))
        return {part: regression_metrics(decode(np.asarray(yp, dtype=np.float64).reshape(-1)),
                                         decode(model.predict(_flat(Xp)))) for part, (Xp, yp) in parts.items()}


__all__ = ["BASELINE_LABELS", "Baseline", "MAX_LINEAR_CELLS", "baseline_names", "fit_baselines"]
