"""core.explain.rows: row numbers typed by a user, and chosen rows beside the run's predictions."""
from __future__ import annotations

import pandas as pd

from core.explain.rows import parse_row_ids, rows_with_predictions


def test_row_ids_from_text() -> None:
    assert parse_row_ids("3, 5 7-9 x 3") == [3, 5, 7, 8, 9]  # ranges expand, junk and repeats go
    assert parse_row_ids("9-7 -1 2.5") == []
    assert len(parse_row_ids("0-999999")) == 10_001  # a range is capped


def _completed_run(store, predictions: pd.DataFrame | None) -> str:
    run_id = store.create_run({"data": {}})
    store.set_status(run_id, "running")
    store.set_status(run_id, "completed")
    if predictions is not None:
        path = store.run_dir(run_id) / "predictions.parquet"
        predictions.to_parquet(path)
        store.add_artifact(run_id, "predictions", path)
    return run_id


def test_rows_with_predictions(engine) -> None:
    frame = pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0], "y": ["a", "b", "a", "b"]})
    pred = pd.DataFrame({"row": [1, 3], "split": ["val", "test"], "y_true": ["b", "b"], "y_pred": ["b", "a"],
                         "proba_a": [0.1, 0.7], "proba_b": [0.9, 0.3]})
    run_id = _completed_run(engine.store, pred)
    table = rows_with_predictions(engine.store, run_id, frame, [3, 0, 1])
    assert list(table.index) == [3, 0, 1] and list(table.columns) == ["x", "y", "split", "y_pred", "wrongness"]
    assert table.loc[3, "y_pred"] == "a" and table.loc[3, "wrongness"] == 0.7
    assert abs(table.loc[1, "wrongness"] - 0.1) < 1e-12
    assert pd.isna(table.loc[0, "split"])  # a training row: no prediction kept for it
    bare = rows_with_predictions(engine.store, _completed_run(engine.store, None), frame, [2])
    assert list(bare.index) == [2] and list(bare.columns) == ["x", "y"]  # no predictions file: the values alone
