"""Metrics equal direct sklearn calls, probabilities are stable, undefined metrics are NaN."""
from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from scipy.special import expit, softmax
from sklearn import metrics as skm

from core.errors import ConfigError
from core.evaluation import classification_metrics, compute_metrics, outputs_to_proba, regression_metrics
from core.vocab import CLASSIFICATION_METRICS, METRIC_DIRECTION, REGRESSION_METRICS, is_better, primary_metric

Y_BIN = np.array([0, 1, 1, 0, 1, 0, 1, 1, 0, 0])
LOGITS_BIN = np.array([[-2.0], [1.5], [0.2], [0.3], [3.0], [-1.0], [-0.4], [2.2], [-3.0], [0.9]])
Y_MULTI = np.array([0, 1, 2, 2, 1, 0, 2, 1, 0, 2])
LOGITS_MULTI = np.random.default_rng(0).normal(size=(10, 3)) + 1.5 * np.eye(3)[Y_MULTI]


def test_binary_metrics_equal_sklearn():
    proba = outputs_to_proba("binary", LOGITS_BIN)
    p1 = expit(LOGITS_BIN.ravel())
    pred = (p1 > 0.5).astype(int)
    got = compute_metrics("binary", Y_BIN, LOGITS_BIN)
    assert tuple(got) == CLASSIFICATION_METRICS
    assert got == pytest.approx({
        "accuracy": skm.accuracy_score(Y_BIN, pred),
        "balanced_accuracy": skm.balanced_accuracy_score(Y_BIN, pred),
        "precision_macro": skm.precision_score(Y_BIN, pred, average="macro"),
        "recall_macro": skm.recall_score(Y_BIN, pred, average="macro"),
        "f1_macro": skm.f1_score(Y_BIN, pred, average="macro"),
        "roc_auc": skm.roc_auc_score(Y_BIN, p1),
        "log_loss": skm.log_loss(Y_BIN, np.column_stack([1 - p1, p1])),
    })
    assert np.allclose(proba[:, 1], p1)


def test_multiclass_metrics_equal_sklearn():
    proba = softmax(LOGITS_MULTI, axis=1)
    pred = proba.argmax(1)
    got = compute_metrics("multiclass", Y_MULTI, LOGITS_MULTI)
    assert got == pytest.approx({
        "accuracy": skm.accuracy_score(Y_MULTI, pred),
        "balanced_accuracy": skm.balanced_accuracy_score(Y_MULTI, pred),
        "precision_macro": skm.precision_score(Y_MULTI, pred, average="macro", zero_division=0),
        "recall_macro": skm.recall_score(Y_MULTI, pred, average="macro", zero_division=0),
        "f1_macro": skm.f1_score(Y_MULTI, pred, average="macro", zero_division=0),
        "roc_auc": skm.roc_auc_score(Y_MULTI, proba, multi_class="ovr"),
        "log_loss": skm.log_loss(Y_MULTI, proba),
    })
    assert all(isinstance(v, float) for v in got.values())


def test_regression_metrics_equal_sklearn():
    y = np.array([3.0, -0.5, 2.0, 7.0, 4.2])
    pred = np.array([[2.5], [0.0], [2.1], [7.8], [3.9]])
    got = compute_metrics("regression", y, pred)
    assert tuple(got) == REGRESSION_METRICS
    assert got == pytest.approx({
        "mse": skm.mean_squared_error(y, pred.ravel()),
        "rmse": math.sqrt(skm.mean_squared_error(y, pred.ravel())),
        "mae": skm.mean_absolute_error(y, pred.ravel()),
        "r2": skm.r2_score(y, pred.ravel()),
    })
    assert regression_metrics(y, pred.ravel()) == got


@pytest.mark.parametrize(
    ("task", "logits"),
    [
        ("binary", np.array([[1000.0], [-1000.0], [0.0], [37.0]])),
        ("multiclass", np.array([[1000.0, -1000.0, 0.0], [-1000.0, -1000.0, -1000.0], [1e4, 1e4, -5.0]])),
    ],
)
def test_proba_rows_sum_to_one_and_stay_finite_for_huge_logits(task, logits):
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # no overflow in exp
        proba = outputs_to_proba(task, logits)
    assert np.isfinite(proba).all()
    assert np.allclose(proba.sum(axis=1), 1.0)
    assert ((proba >= 0) & (proba <= 1)).all()
    if task == "binary":
        assert proba[0].tolist() == [0.0, 1.0] and proba[1].tolist() == [1.0, 0.0]
        assert proba[2].tolist() == [0.5, 0.5]
    else:
        assert proba[0, 0] == 1.0 and np.allclose(proba[1], 1 / 3) and np.allclose(proba[2], [0.5, 0.5, 0])


def test_saturated_logits_still_give_a_finite_log_loss():
    got = compute_metrics("binary", np.array([1, 0, 1]), np.array([[-1000.0], [1000.0], [1000.0]]))
    assert math.isfinite(got["log_loss"]) and got["log_loss"] > 10


def test_regression_outputs_pass_through():
    assert outputs_to_proba("regression", np.array([[1.5], [2.0]])).tolist() == [1.5, 2.0]


@pytest.mark.parametrize(
    ("task", "logits"),
    [("binary", np.array([[0.3], [-1.0], [2.0]])), ("multiclass", np.eye(3))],
)
def test_roc_auc_is_nan_for_a_single_class(task, logits):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warning escapes, nothing raises
        got = compute_metrics(task, np.array([1, 1, 1]), logits)
    assert math.isnan(got["roc_auc"])
    assert got["accuracy"] == pytest.approx(float((np.argmax(outputs_to_proba(task, logits), 1) == 1).mean()))


def test_multiclass_with_an_absent_class_uses_the_present_classes():
    y = np.array([0, 0, 1, 1, 0, 1])  # class 2 never occurs in this split
    logits = np.random.default_rng(1).normal(size=(6, 3))
    proba = softmax(logits, axis=1)
    got = compute_metrics("multiclass", y, logits)
    per_class = [skm.roc_auc_score(y == k, proba[:, k]) for k in (0, 1)]
    assert got["roc_auc"] == pytest.approx(np.mean(per_class))
    assert got["log_loss"] == pytest.approx(skm.log_loss(y, proba, labels=[0, 1, 2]))


def test_direction_primary_and_is_better():
    assert METRIC_DIRECTION["loss"] == "min"
    assert set(CLASSIFICATION_METRICS + REGRESSION_METRICS) <= set(METRIC_DIRECTION)
    assert primary_metric("binary") == primary_metric("multiclass") == "accuracy"
    assert primary_metric("regression") == "r2"
    assert is_better("accuracy", 0.9, 0.8) and not is_better("accuracy", 0.8, 0.8)
    assert is_better("loss", 0.1, 0.2) and not is_better("rmse", 3.0, 2.0)
    assert is_better("roc_auc", 0.5, math.nan) and not is_better("roc_auc", math.nan, 0.5)
    with pytest.raises(ConfigError, match="unknown metric"):
        is_better("fancy", 1.0, 0.0)
    with pytest.raises(ConfigError):
        primary_metric("ranking")


def test_classification_metrics_takes_probabilities_directly():
    proba = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]])
    got = classification_metrics(np.array([0, 1, 1]), proba)
    assert got["accuracy"] == pytest.approx(2 / 3)
    assert got["precision_macro"] == pytest.approx(skm.precision_score([0, 1, 1], [0, 1, 0], average="macro"))
