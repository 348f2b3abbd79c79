"""SHAP on trained runs: the closed form for logistic regression, additivity, original columns, units."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core.engine import Engine
from core.errors import WorkbenchError
from core.explain import RunContext, ShapParams, explain_shap
from core.runs.trained import TrainedModel
from tests.test_explain_runs import shared_runs


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory):
    workspace, ids = shared_runs(tmp_path_factory)
    engine = Engine(workspace)
    yield engine, ids
    engine.close()


def _trained(engine: Engine, run_id: str) -> TrainedModel:
    return TrainedModel.load(engine.store.run_dir(run_id))


def test_logistic_equals_closed_form_in_logit_space(ws) -> None:
    engine, ids = ws
    exp = explain_shap(engine.store, engine.catalog, ids["cancer"], params=ShapParams(background=50))
    assert exp.explainer == "linear" and exp.space == "logit"
    ctx = RunContext.load(engine.store, engine.catalog, ids["cancer"])
    X, bg = ctx.encode(exp.rows), ctx.encode(exp.background_rows)
    assert len(bg) == 50
    w = _trained(engine, ids["cancer"]).model[0].weight.detach().numpy()[0].astype(np.float64)
    closed = w[None, :] * (X - bg.mean(axis=0))  # w_j (x_j - E[x_j]), E over the background used
    np.testing.assert_allclose(exp.encoded[:, :, 0], closed, atol=1e-4)
    assert exp.max_additivity_error < 1e-4


@pytest.mark.parametrize("name", ["iris", "digits"])
def test_additive_against_the_models_own_outputs(ws, name: str) -> None:
    engine, ids = ws
    exp = explain_shap(engine.store, engine.catalog, ids[name], params=ShapParams(background=40))
    assert exp.explainer == "deeplift"
    outputs = _trained(engine, ids[name]).outputs(RunContext.load(engine.store, engine.catalog, ids[name])
                                                  .encode(exp.rows))
    np.testing.assert_allclose(exp.base + exp.values.sum(axis=1), outputs, atol=1e-3)
    assert exp.max_additivity_error < 1e-3
    assert exp.values.shape == (len(exp.rows), len(exp.columns), len(exp.output_labels))


def test_one_hot_contributions_sum_to_the_original_column(ws) -> None:
    engine, ids = ws
    exp = explain_shap(engine.store, engine.catalog, ids["tips"], params=ShapParams(background=30))
    assert exp.columns == ["total_bill", "sex", "smoker", "day", "time", "size"]
    groups = RunContext.load(engine.store, engine.catalog, ids["tips"]).groups
    assert len(groups["day"]) > 1  # one-hot
    for j, column in enumerate(exp.columns):
        np.testing.assert_allclose(exp.values[:, j, :], exp.encoded[:, groups[column], :].sum(axis=1), atol=1e-9)
    assert list(exp.importances()) and set(exp.importances()) == set(exp.columns)
    assert list(exp.data.columns) == exp.columns and list(exp.data.index) == exp.rows


def test_regression_is_explained_in_the_targets_units(ws) -> None:
    engine, ids = ws
    exp = explain_shap(engine.store, engine.catalog, ids["diabetes"], params=ShapParams(background=30))
    assert exp.space == "value" and "progression" in exp.output_texts[0]
    pred = pd.read_parquet(engine.store.artifact_path(ids["diabetes"], "predictions")).set_index("row")
    np.testing.assert_allclose(exp.base[0] + exp.values[:, :, 0].sum(axis=1), pred.loc[exp.rows, "y_pred"],
                               rtol=1e-4, atol=1e-3)


def test_probability_space_uses_an_agnostic_explainer(ws) -> None:
    engine, ids = ws
    rows = [int(r) for r in pd.read_parquet(engine.store.artifact_path(ids["iris"], "predictions")).row[:2]]
    exp = explain_shap(engine.store, engine.catalog, ids["iris"], rows,
                       ShapParams(space="probability", background=10, nsamples=20))
    assert exp.explainer == "kernel"
    np.testing.assert_allclose((exp.base + exp.values.sum(axis=1)).sum(axis=1), 1.0, atol=1e-6)
    assert "probability" in exp.output_texts[0]


def test_bad_requests_are_plain_errors(ws) -> None:
    engine, ids = ws
    with pytest.raises(WorkbenchError, match="linear or logistic"):
        explain_shap(engine.store, engine.catalog, ids["iris"], [0], ShapParams(explainer="linear"))
    with pytest.raises(WorkbenchError, match="value"):
        explain_shap(engine.store, engine.catalog, ids["diabetes"], [0], ShapParams(space="logit"))
    with pytest.raises(WorkbenchError, match="not in the data"):
        explain_shap(engine.store, engine.catalog, ids["iris"], [10_000])


def test_cache_hit_recomputes_nothing_even_after_a_restart(ws, monkeypatch: pytest.MonkeyPatch) -> None:
    import core.explain.service as service

    engine, ids = ws
    calls = {"n": 0}
    real = service.compute_shap

    def counting(*args, **kwargs):
        calls["n"] += 1
        return real(*args, **kwargs)

    monkeypatch.setattr(service, "compute_shap", counting)
    params = ShapParams(background=17, seed=3)  # a question nobody else asks
    first = explain_shap(engine.store, engine.catalog, ids["iris"], [1, 2, 3], params)
    assert calls["n"] == 1
    monkeypatch.setattr(service, "compute_shap", lambda *a, **k: pytest.fail("recomputed a cached explanation"))
    again = explain_shap(engine.store, engine.catalog, ids["iris"], [1, 2, 3], params)
    restarted = Engine(engine.store.workspace)
    try:
        after_restart = explain_shap(restarted.store, restarted.catalog, ids["iris"], [1, 2, 3], params)
    finally:
        restarted.close()
    for hit in (again, after_restart):
        np.testing.assert_array_equal(hit.values, first.values)
        assert hit.explainer == first.explainer and hit.rows == first.rows
        pd.testing.assert_frame_equal(hit.data, first.data, check_dtype=False)
    kind = f"explain:{first.key}"
    folder = Path(engine.store.artifacts(ids["iris"])[kind]["path"]).parent
    assert folder == engine.store.run_dir(ids["iris"]) / "explain" / first.key
    assert sorted(p.name for p in folder.iterdir()) == ["arrays.npz", "meta.json", "rows.parquet"]


def test_damaged_cache_is_a_miss(ws) -> None:
    engine, ids = ws
    params = ShapParams(background=11)
    first = explain_shap(engine.store, engine.catalog, ids["iris"], [4, 5], params)
    folder = engine.store.run_dir(ids["iris"]) / "explain" / first.key
    (folder / "arrays.npz").write_bytes(b"not numpy")
    again = explain_shap(engine.store, engine.catalog, ids["iris"], [4, 5], params)
    np.testing.assert_allclose(again.values, first.values)
