"""Curves are small plain data of the right shape; every figure builds from them."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest
from scipy.special import softmax
from sklearn import metrics as skm

from core.evaluation import (
    calibration,
    calibration_figure,
    confusion,
    confusion_figure,
    curves_figure,
    pr_curves,
    pr_figure,
    residuals,
    residuals_figure,
    roc_curves,
    roc_figure,
)


@pytest.fixture(scope="module")
def multiclass() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, size=3000)  # large enough that curves need thinning
    proba = softmax(rng.normal(size=(3000, 3)) + 2.0 * np.eye(3)[y], axis=1)
    return y, proba


@pytest.fixture(scope="module")
def binary() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, size=500)
    p = 1 / (1 + np.exp(-(rng.normal(size=500) + 2.0 * (y - 0.5))))
    return y, np.column_stack([1 - p, p])


def _is_json(value: object) -> bool:
    return json.loads(json.dumps(value, allow_nan=False)) == value


def test_confusion(multiclass):
    y, proba = multiclass
    conf = confusion(y, proba.argmax(1), ["a", "b", "c"])
    assert conf["labels"] == ["a", "b", "c"]
    assert np.array_equal(conf["matrix"], skm.confusion_matrix(y, proba.argmax(1)))
    assert np.allclose(np.sum(conf["normalized"], axis=1), 1.0)
    assert _is_json(conf)


def test_confusion_with_an_absent_class_has_zero_rows():
    conf = confusion(np.array([0, 0, 1]), np.array([0, 1, 1]), ["a", "b", "c"])
    assert conf["matrix"][2] == [0, 0, 0] and conf["normalized"][2] == [0.0, 0.0, 0.0]
    assert _is_json(conf)


def test_roc_and_pr_multiclass_are_one_vs_rest_and_thinned(multiclass):
    y, proba = multiclass
    roc, pr = roc_curves(y, proba, ["a", "b", "c"]), pr_curves(y, proba, ["a", "b", "c"])
    assert [c["label"] for c in roc] == [c["label"] for c in pr] == ["a", "b", "c"]
    for k, (r, p) in enumerate(zip(roc, pr)):
        assert len(r["fpr"]) == len(r["tpr"]) <= 200
        assert len(p["precision"]) == len(p["recall"]) <= 200
        assert r["fpr"][0] == 0.0 and r["tpr"][-1] == 1.0  # endpoints survive thinning
        assert r["auc"] == pytest.approx(skm.roc_auc_score(y == k, proba[:, k]))
        assert p["average_precision"] == pytest.approx(skm.average_precision_score(y == k, proba[:, k]))
        assert p["prevalence"] == pytest.approx((y == k).mean())
    assert _is_json(roc) and _is_json(pr)


def test_roc_and_pr_binary_give_one_positive_curve(binary):
    y, proba = binary
    roc, pr = roc_curves(y, proba, ["no", "yes"]), pr_curves(y, proba, ["no", "yes"])
    assert len(roc) == len(pr) == 1 and roc[0]["label"] == pr[0]["label"] == "yes"
    assert roc[0]["auc"] == pytest.approx(skm.roc_auc_score(y, proba[:, 1]))


def test_undefined_curves_are_left_out():
    proba = np.array([[0.2, 0.8], [0.6, 0.4]])
    assert roc_curves(np.array([1, 1]), proba, ["no", "yes"]) == []
    assert pr_curves(np.array([1, 1]), proba, ["no", "yes"]) == []


def test_calibration_binary_and_multiclass(binary, multiclass):
    cal = calibration(*binary, n_bins=5)
    assert cal["kind"] == "positive class"
    assert 1 <= len(cal["mean_predicted"]) == len(cal["fraction_positive"]) <= 5
    top = calibration(*multiclass)
    assert top["kind"] == "top class" and len(top["mean_predicted"]) <= 10
    assert all(0 <= v <= 1 for v in top["fraction_positive"])
    assert _is_json(cal) and _is_json(top)
    # A model that is always right still has a calibration curve (all hits are 1).
    assert calibration(np.array([0, 1]), np.array([[0.9, 0.05, 0.05], [0.1, 0.8, 0.1]]))["fraction_positive"] == [1.0, 1.0]


def test_residuals():
    y = np.arange(5000, dtype=float)
    res = residuals(y, y[:, None] + 1.0)
    assert len(res["pred"]) == len(res["residual"]) <= 2000
    assert set(res["residual"]) == {-1.0}
    assert _is_json(res)


def _assert_figure(fig: go.Figure) -> None:
    assert isinstance(fig, go.Figure) and len(fig.data) > 0
    # 380 high, plus the rows of a legend under the plot (never a column beside it)
    assert fig.layout.title.text and fig.layout.height >= 380
    assert fig.layout.legend.orientation in (None, "h")
    assert fig.layout.xaxis.title.text and fig.layout.yaxis.title.text
    assert fig.layout.template.layout.paper_bgcolor == "white"  # plotly_white


def test_every_figure_builds(binary, multiclass):
    y, proba = multiclass
    names = ["a", "b", "c"]
    _assert_figure(confusion_figure(confusion(y, proba.argmax(1), names)))
    _assert_figure(confusion_figure(confusion(y, proba.argmax(1), names), normalized=False))
    _assert_figure(roc_figure(roc_curves(y, proba, names)))
    _assert_figure(pr_figure(pr_curves(*binary, ["no", "yes"])))
    _assert_figure(calibration_figure(calibration(y, proba)))
    _assert_figure(residuals_figure(residuals(np.arange(10.0), np.arange(10.0) * 1.1)))


def test_curves_figure_overlays_runs_and_splits():
    history = pd.DataFrame(
        [
            {"run_id": run, "epoch": epoch, "split": split, "name": name, "value": 1.0 / (epoch + 1)}
            for run in ("r1", "r2")
            for epoch in range(4)
            for split in ("train", "val")
            for name in ("loss", "accuracy")
        ]
    )
    fig = curves_figure(history, "loss", {"r2": "second", "r1": "first"})
    _assert_figure(fig)
    # one legend entry per run, in its colour; which line is train or val the dash says (and the hover)
    assert [t.name for t in fig.data] == ["second", "second", "first", "first"]
    assert [t.showlegend for t in fig.data] == [True, False, True, False]
    assert "second · val" in fig.data[1].hovertemplate
    assert fig.layout.legend.orientation == "h" and fig.layout.legend.y < 0  # under the plot
    assert (fig.layout.xaxis.dtick, fig.layout.xaxis.tickformat) == (1, "d")  # epochs 0..3: no 1.5
    assert [t.name for t in curves_figure(history, "loss", {"r1": "first"}).data] == ["train", "val"]
    assert [t.line.dash for t in fig.data] == ["solid", "dash", "solid", "dash"]
    assert fig.data[0].line.color == fig.data[1].line.color != fig.data[2].line.color
    assert list(fig.data[0].x) == [0, 1, 2, 3]
    assert len(curves_figure(history, "accuracy", None).data) == 4
    assert len(curves_figure(history.iloc[0:0], "loss", None).data) == 0  # empty history: empty figure


def test_a_long_curve_is_thinned_but_keeps_its_ends_and_extremes() -> None:
    import numpy as np
    import pandas as pd

    from core.evaluation.plots import curves_figure, thin_curve

    rng = np.random.default_rng(0)
    epochs = np.arange(1, 20_001)
    values = 1 / np.sqrt(epochs) + rng.normal(0, 0.01, len(epochs))
    values[12_345] = 5.0  # a spike
    part = pd.DataFrame({"epoch": epochs, "value": values})
    thin = thin_curve(part, 600)
    assert len(thin) <= 602
    assert thin["epoch"].iloc[0] == 1 and thin["epoch"].iloc[-1] == 20_000
    assert thin["value"].max() == 5.0 and thin["value"].min() == values.min()
    assert thin["epoch"].is_monotonic_increasing
    assert thin_curve(part.head(50), 600).equals(part.head(50))  # short lines are drawn whole

    history = part.assign(run_id="r", split="train", name="loss")
    fig = curves_figure(history, "loss")
    assert len(fig.data[0].x) == len(thin)


def test_epoch_ticks_are_whole_numbers_at_any_length() -> None:
    from core.evaluation.plots import whole_number_ticks

    assert [whole_number_ticks(go.Figure(), n).layout.xaxis.dtick for n in (2, 8, 20, 150, 3000)] == [
        1, 1, 5, 20, 500]
