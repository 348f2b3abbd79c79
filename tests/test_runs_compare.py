"""core.runs.compare: the runs table, filters, config diff, parcoords and metrics data of the Runs page."""
from __future__ import annotations

import math
from dataclasses import replace

import pandas as pd
import pytest

from core.config import DataConfig, RunConfig, TrainConfig
from core.vocab import primary_metric
from core.runs import compare
from core.runs.execute import execute_run


def _run(engine, config: RunConfig, model: str, dataset: str) -> str:
    run_id = engine.store.create_run(config.to_dict(), model=model, dataset=dataset)
    assert execute_run(engine.store, engine.catalog, run_id) == "completed"
    return run_id


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory):
    """One workspace for the module: the tests below only read it, and training once keeps them fast."""
    from core.engine import Engine

    eng = Engine(tmp_path_factory.mktemp("wb-compare"))
    yield eng
    eng.close()


@pytest.fixture(scope="module")
def finished(engine):
    """Two iris runs differing in lr and hidden sizes, a diabetes regression and a failed run."""
    iris = RunConfig(data=DataConfig("iris", "species"), train=TrainConfig(epochs=3))
    a = _run(engine, iris, "mlp", "iris")
    b = _run(engine, iris.evolve(optim={"lr": 0.01}, model={"params": {"hidden_sizes": [16]}}), "mlp", "iris")
    reg = _run(engine, RunConfig(data=DataConfig("diabetes", "progression"), train=TrainConfig(epochs=3)),
               "mlp", "diabetes")
    failed = engine.store.create_run(iris.to_dict(), model="mlp", dataset="iris", name="broken")
    engine.store.set_status(failed, "failed", "the loss became NaN at epoch 2; try a smaller learning rate")
    engine.store.update(a, tags=["baseline"])
    return {"a": a, "b": b, "reg": reg, "failed": failed}


def test_runs_frame_has_one_row_per_run_with_primary_metrics(engine, finished):
    runs = engine.store.list_runs()
    frame = compare.runs_frame(runs, engine.store.metric_spans([r.run_id for r in runs]))
    assert list(frame.columns) == list(compare.TABLE_COLUMNS)
    assert len(frame) == 4
    rows = frame.set_index("run_id")
    assert rows.loc[finished["a"], "metric"] == "accuracy"
    assert rows.loc[finished["reg"], "metric"] == "r2"
    assert rows.loc[finished["a"], "tags"] == ["baseline"]
    reg = engine.store.get(finished["reg"])
    assert rows.loc[finished["reg"], "test"] == pytest.approx(reg.metrics["test"]["r2"])
    # best val is the best epoch's value, never worse than the kept model's
    assert rows.loc[finished["a"], "best_val"] >= engine.store.get(finished["a"]).metrics["val"]["accuracy"] - 1e-9
    history = engine.store.metrics_frame([finished["a"], finished["reg"]])
    val = history[history["split"] == "val"]
    assert rows.loc[finished["a"], "best_val"] == pytest.approx(
        val[(val["run_id"] == finished["a"]) & (val["name"] == "accuracy")]["value"].max())
    assert rows.loc[finished["reg"], "best_val"] == pytest.approx(
        val[(val["run_id"] == finished["reg"]) & (val["name"] == "r2")]["value"].max())
    failed = rows.loc[finished["failed"]]
    assert failed["status"] == "failed" and math.isnan(failed["test"])
    # the frame must survive the trip to Arrow (what st.dataframe does)
    import pyarrow as pa
    pa.Table.from_pandas(frame)


def test_runs_frame_of_no_runs_is_empty_with_columns():
    frame = compare.runs_frame([])
    assert frame.empty and list(frame.columns) == list(compare.TABLE_COLUMNS)
    assert compare.filter_runs(frame, ["completed"], text="x").empty


def test_filter_runs_by_status_dataset_model_and_text(engine, finished):
    frame = compare.runs_frame(engine.store.list_runs())
    assert set(compare.filter_runs(frame, statuses=["failed"])["run_id"]) == {finished["failed"]}
    assert set(compare.filter_runs(frame, datasets=["diabetes"])["run_id"]) == {finished["reg"]}
    assert len(compare.filter_runs(frame, models=["mlp"])) == 4
    assert set(compare.filter_runs(frame, text="BASELINE")["run_id"]) == {finished["a"]}  # tags, any case
    assert set(compare.filter_runs(frame, text="brok")["run_id"]) == {finished["failed"]}
    assert compare.filter_runs(frame, statuses=["completed"], datasets=["iris"], text="nothing-like-this").empty


def test_parse_tags_and_unique_labels(engine, finished):
    assert compare.parse_tags(" best, iris,,best ,") == ["best", "iris"]
    assert compare.parse_tags("") == []
    runs = engine.store.list_runs()
    twins = [replace(r, name="twin") if r.run_id in (finished["b"], finished["reg"]) else r for r in runs]
    labels = compare.run_labels(twins)
    assert len(set(labels.values())) == 4
    assert labels[finished["b"]] == f"twin ({finished['b']})"


def test_config_diff_frame_lists_only_differing_settings(engine, finished):
    runs = [engine.store.get(finished["a"]), engine.store.get(finished["b"])]
    diff = compare.config_diff_frame(runs)
    assert list(diff.columns) == [r.name for r in runs]
    assert "optim.lr" in diff.index and diff.loc["optim.lr"].tolist() == ["0.001", "0.01"]
    assert "train.epochs" not in diff.index and "data.source" not in diff.index
    # model defaults are filled in: the default hidden sizes show as such, not as a blank
    assert diff.loc["model.params.hidden_sizes"].tolist() == ["64, 64", "16"]
    assert "model.params" not in diff.index and "name" not in diff.index
    assert list(diff.index) == ["model.params.hidden_sizes", "optim.lr"]
    hashed = replace(runs[1], config={**runs[1].config, "data": {**runs[1].config["data"], "content_hash": "ab" * 32}})
    assert compare.config_diff_frame([runs[0], hashed]).loc["data.content_hash"].tolist()[1] == "abababababab…"
    same = compare.config_diff_frame([runs[0], runs[0]])
    assert same.empty


def test_numeric_hyperparams_fill_model_defaults(engine, finished):
    a = compare.numeric_hyperparams(engine.store.get(finished["a"]))
    b = compare.numeric_hyperparams(engine.store.get(finished["b"]))
    assert a["hidden_units"] == 128 and a["depth"] == 2  # default (64, 64)
    assert b["hidden_units"] == 16 and b["depth"] == 1
    assert a["lr"] == pytest.approx(-3) and b["lr"] == pytest.approx(-2)  # log10
    assert a["batch_size"] == 64 and "momentum" not in a  # adam has no momentum setting


def test_parcoords_frame_keeps_varying_numeric_settings_and_the_metric(engine, finished):
    runs = [engine.store.get(finished[k]) for k in ("a", "b", "failed")]
    frame = compare.parcoords_frame(runs, "accuracy")
    assert len(frame) == 2  # the failed run has no test accuracy
    assert set(frame.columns) == {"lr", "hidden_units", "depth", "accuracy"}
    assert frame.columns[-1] == "accuracy"
    assert frame["lr"].tolist() == pytest.approx([-3, -2])  # log10, as the axis reads it
    assert compare.parcoords_frame(runs, "r2").empty


def test_metrics_comparison_data(engine, finished):
    runs = [engine.store.get(finished[k]) for k in ("a", "b", "reg")]
    long = compare.metrics_long(runs)
    assert set(long["run_id"]) == {r.run_id for r in runs}
    assert set(long.loc[long["run_id"] == finished["reg"], "metric"]) == {"mse", "rmse", "mae", "r2"}
    table = compare.metrics_table(runs)
    assert list(table.columns) == [r.name for r in runs]
    assert table.index[0] == "accuracy" and "mse" in table.index
    assert math.isnan(table.loc["accuracy", runs[2].name])
    # only scores share the 0..1 axis: no mse bar dwarfing the rest
    assert compare.score_metrics(["mse", "r2", "rmse"]) == ["r2"]
    assert compare.score_metrics(table.index)[:2] == ["accuracy", "balanced_accuracy"]


def test_curve_metrics_orders_loss_first(engine, finished):
    history = engine.store.metrics_frame([finished["a"], finished["reg"]])
    assert compare.curve_metrics(history) == ["loss", "accuracy", "r2"]
    assert compare.curve_metrics(pd.DataFrame(columns=["run_id", "split", "name", "value"])) == []


def test_run_metric_is_the_tasks_primary_metric(engine, finished):
    assert compare.run_metric(engine.store.get(finished["a"])) == primary_metric("multiclass")
    assert compare.run_metric(engine.store.get(finished["reg"])) == primary_metric("regression")
    # no task recorded (an old run): read from the metrics it has; nothing recorded: no metric
    reg = engine.store.get(finished["reg"])
    assert compare.run_metric(replace(reg, task=None)) == "r2"
    assert compare.run_metric(replace(reg, task=None, summary={})) is None
    assert compare.run_metric(replace(reg, task="ranking")) is None


def test_best_vals_take_each_metrics_direction():
    spans = pd.DataFrame([("r1", "loss", 0.2, 0.9), ("r1", "accuracy", 0.5, 0.8), ("r2", "loss", None, None)],
                         columns=["run_id", "name", "min", "max"])
    assert compare.best_vals(spans) == {("r1", "loss"): 0.2, ("r1", "accuracy"): 0.8}
    assert compare.best_vals(None) == {}


def test_load_evaluation_of_each_task(engine, finished):
    clf = compare.load_evaluation(engine.store, finished["a"])
    assert clf["task"] == "multiclass" and {"confusion", "roc", "pr", "calibration"} <= set(clf)
    assert compare.load_evaluation(engine.store, finished["reg"])["task"] == "regression"
    assert compare.load_evaluation(engine.store, finished["failed"]) is None  # it never got that far
