"""The error gallery's logic: a click on a confusion cell or residual points names test rows, and each row
is explained for the class it was predicted as."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from core.config import DataConfig, RunConfig, TrainConfig
from core.evaluation.plots import confusion_figure, residuals_figure
from core.explain import ShapParams, explain_shap, gallery
from core.explain.context import RunContext
from core.runs.execute import execute_run


def _pred() -> pd.DataFrame:
    return pd.DataFrame({
        "row": [3, 5, 7, 9, 11, 13], "split": ["test", "test", "test", "val", "test", "test"],
        "y_true": ["a", "a", "b", "a", "a", "b"], "y_pred": ["b", "b", "b", "b", "a", "a"],
        "proba_a": [0.4, 0.1, 0.2, 0.3, 0.9, 0.6], "proba_b": [0.6, 0.9, 0.8, 0.7, 0.1, 0.4],
    })


def test_a_cell_names_its_test_rows_most_wrong_first() -> None:
    pred = _pred()
    assert gallery.cell_rows(pred, "a", "b") == [5, 3]  # row 9 is a validation row
    assert gallery.cell_rows(pred, "b", "b") == [7] and gallery.cell_rows(pred, "b", "c") == []
    figure = confusion_figure({"labels": ["a", "b"], "matrix": [[1, 2], [1, 1]],
                               "normalized": [[0.33, 0.67], [0.5, 0.5]]}, clickable=True)
    clicked = figure.data[1].customdata[1]  # the marker over the cell (true a, predicted b)
    pick = gallery.pick_from_selection({"selection": {"points": [{"customdata": list(clicked)}]}}, pred)
    assert (pick.true, pick.predicted, pick.rows) == ("a", "b", [5, 3]) and pick.is_cell
    assert pick.title() == "True a, predicted b: 2 test rows (wrong)"
    assert gallery.pick_from_selection({"selection": {"points": []}}, pred) is None
    assert gallery.pick_from_selection(None, pred) is None
    facts = gallery.row_facts(pred, [5, 3])
    assert facts.loc[5, "p(predicted)"] == 0.9 and facts.loc[5, "p(true)"] == pytest.approx(0.1)


def test_residual_points_carry_their_rows_and_a_box_names_them() -> None:
    pred = pd.DataFrame({"row": np.arange(10, 20), "split": ["test"] * 8 + ["train"] * 2,
                         "y_true": np.arange(10.0), "y_pred": np.arange(10.0) + np.linspace(-2, 2, 10)})
    points = gallery.residual_points(pred)
    assert points["rows"] == list(range(10, 18)) and len(points["pred"]) == 8
    assert list(residuals_figure(points).data[0].customdata) == points["rows"]
    assert len(gallery.residual_points(pred, max_points=3)["rows"]) == 3
    box = {"selection": {"points": [{"customdata": 11}, {"customdata": 17}, {"customdata": 99}]}}
    pick = gallery.pick_from_selection(box, pred)
    assert pick.rows == [11, 17] and not pick.is_cell  # both |error| 1.56; 99 is not a test row
    assert pick.title() == "2 test rows picked on the residual plot"


@pytest.mark.parametrize("source,target", [("iris", "species"), ("digits", "label")])
def test_rows_are_explained_for_the_class_they_were_predicted_as(engine, source, target) -> None:
    config = RunConfig(data=DataConfig(source, target), train=TrainConfig(epochs=2, batch_size=64))
    run_id = engine.store.create_run(config.to_dict(), model="mlp", dataset=source)
    assert execute_run(engine.store, engine.catalog, run_id) == "completed"
    ctx = RunContext.load(engine.store, engine.catalog, run_id)
    pred = pd.read_parquet(engine.store.run_dir(run_id) / "predictions.parquet")
    test = pred[pred["split"] == "test"]
    true, predicted = test.iloc[0]["y_true"], test.iloc[0]["y_pred"]
    rows = gallery.cell_rows(pred, true, predicted)[:3]
    exp = explain_shap(engine.store, engine.catalog, run_id, rows, ShapParams(), context=ctx)
    for position in range(len(rows)):
        assert exp.output_labels[gallery.explained_output(exp, position)] == predicted
    picture = gallery.thumbnail(ctx, rows[0])
    if source == "digits":  # a pixel table: its 8 x 8 pixels, ink dark on white
        assert picture.shape == (8, 8) and picture.dtype == np.uint8 and picture.max() == 255
    else:
        assert picture is None
