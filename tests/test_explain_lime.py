"""LIME names the user's columns, explains what SHAP explains, and says how well the two agree; PDP/ICE."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from core.engine import Engine
from core.explain import LimeParams, PdpParams, RunContext, ShapParams, explain_lime, partial_dependence
from core.explain.lime_explain import ColumnCoder, rank_agreement
from core.explain.rows import filter_rows, most_wrong, wrongness
from tests.test_explain_runs import shared_runs

FAST = LimeParams(num_samples=300, shap=ShapParams(background=30))


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory):
    workspace, ids = shared_runs(tmp_path_factory)
    engine = Engine(workspace)
    yield engine, ids
    engine.close()


def test_lime_weights_name_the_original_columns(ws) -> None:
    engine, ids = ws
    rows = [int(r) for r in RunContext.load(engine.store, engine.catalog, ids["tips"]).split.test[:2]]
    exp = explain_lime(engine.store, engine.catalog, ids["tips"], rows, FAST)
    assert exp.explainer == "lime_tabular" and exp.space == "value"
    assert exp.columns == ["total_bill", "sex", "smoker", "day", "time", "size"]
    assert exp.weights.shape == (2, 6) and exp.shap.shape == (2, 6)
    for i, row in enumerate(rows):
        # LIME's reading of each column names the column itself, a category by its level
        assert all(rule.startswith(col) or col in rule for col, rule in zip(exp.columns, exp.rules[i]))
        day = exp.data.loc[row, "day"]
        assert exp.rules[i][exp.columns.index("day")] == f"day={day}"
    assert all(a is None or -1 <= a <= 1 for a in exp.agreement)


def test_lime_explains_the_predicted_class_in_logits(ws) -> None:
    engine, ids = ws
    ctx = RunContext.load(engine.store, engine.catalog, ids["iris"])
    rows = [int(r) for r in ctx.split.test[:2]]
    exp = explain_lime(engine.store, engine.catalog, ids["iris"], rows, FAST)
    logits = ctx.raw(ctx.encode(rows))
    assert exp.explained_output == [int(k) for k in logits.argmax(axis=1)]
    np.testing.assert_allclose(exp.prediction, logits[np.arange(2), exp.explained_output], atol=1e-5)


def test_lime_image_on_the_digits_cnn(ws) -> None:
    engine, ids = ws
    ctx = RunContext.load(engine.store, engine.catalog, ids["digits"])
    row = int(ctx.split.test[0])
    exp = explain_lime(engine.store, engine.catalog, ids["digits"], [row], FAST)
    assert exp.explainer == "lime_image"
    assert exp.columns == ctx.columns and exp.columns[0] == "px_0_0"
    assert exp.weights.shape == (1, 64) and np.abs(exp.weights).sum() > 0


def test_column_coder_round_trips_categories(ws) -> None:
    engine, ids = ws
    ctx = RunContext.load(engine.store, engine.catalog, ids["tips"])
    coder = ColumnCoder(ctx)
    part = ctx.frame.iloc[:20][ctx.columns].reset_index(drop=True)
    back = coder.decode(coder.encode(part))
    np.testing.assert_allclose(ctx.trained.preprocessor.transform(back), ctx.trained.preprocessor.transform(part))


def test_rank_agreement() -> None:
    a = np.array([3.0, -2.0, 1.0, 0.5, 0.1, 0.0])
    assert rank_agreement(a, a * 2, k=3) == (pytest.approx(1.0), 3)
    rho, shared = rank_agreement(a, -a, k=3)
    assert rho == pytest.approx(-1.0) and shared == 3
    assert rank_agreement(np.array([1.0, 0.0]), np.array([1.0, 0.0]), k=5)[0] is None  # too few features


def test_pdp_and_ice(ws) -> None:
    engine, ids = ws
    result = partial_dependence(engine.store, engine.catalog, ids["tips"], PdpParams(column="day"))
    assert result.categorical and set(result.grid) <= {"Thur", "Fri", "Sat", "Sun"}
    np.testing.assert_allclose(result.pdp, result.ice.mean(axis=0))
    numeric = partial_dependence(engine.store, engine.catalog, ids["cancer"], PdpParams(column="worst_area", points=8))
    assert not numeric.categorical and len(numeric.grid) <= 8 and numeric.grid == sorted(numeric.grid)
    assert numeric.space == "probability" and numeric.output_label == "malignant"
    assert ((numeric.ice >= 0) & (numeric.ice <= 1)).all()


def test_row_pickers(ws) -> None:
    engine, ids = ws
    wrong = most_wrong(engine.store, ids["iris"], 5)
    pred = pd.read_parquet(engine.store.artifact_path(ids["iris"], "predictions"))
    test = pred[pred.split == "test"].assign(w=lambda d: wrongness(d)).set_index("row")
    assert list(test.loc[wrong, "w"]) == sorted(test["w"], reverse=True)[:5]
    frame = RunContext.load(engine.store, engine.catalog, ids["tips"]).frame
    assert all(frame.loc[r, "day"] == "Sun" for r in filter_rows(frame, "day", "==", "Sun"))
    assert all(frame.loc[r, "total_bill"] > 30 for r in filter_rows(frame, "total_bill", ">", "30"))
    assert filter_rows(frame, "day", "contains", "su", limit=3) == filter_rows(frame, "day", "==", "Sun")[:3]
