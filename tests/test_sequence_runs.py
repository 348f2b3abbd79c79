"""Sequence runs end to end: the CLI's floors, baselines beside the network, predictions, attribution."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from core.config import DataConfig, ModelConfig, RunConfig, SequenceConfig, TrainConfig
from core.explain.temporal import TemporalParams, explain_sequences, integrated_gradients
from core.models import build_model
from core.runs.execute import execute_run
from core.runs.trained import TrainedModel
from workbench.cli import main


@pytest.fixture(autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny recurrent steps: one thread is many times faster on 2 busy cores
    yield
    torch.set_num_threads(before)


def train_json(capsys, *args: str) -> dict:
    code = main(["train", *args, "--json", "--quiet"])
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert code == 0, result
    return result


def test_seattle_lstm_beats_persistence_one_day_ahead_from_14_days(capsys):
    r = train_json(capsys, "--data", "seattle_weather", "--target", "temp_max", "--time-column", "date",
                   "--window", "14", "--horizon", "1", "--model", "lstm", "--epochs", "40", "--device", "cpu")
    assert r["task"] == "regression" and r["baseline"]["name"] == "persistence"
    test, base = r["metrics"]["test"], r["baseline"]["test"]
    assert set(test) >= {"mae", "rmse", "smape", "mase"} and set(base) >= {"mae", "rmse", "smape", "mase"}
    assert test["mae"] < base["mae"], (test["mae"], base["mae"])


def test_italy_power_demand_reaches_its_datasheet_figure(capsys):
    r = train_json(capsys, "--data", "italy_power_demand", "--target", "season", "--model", "lstm",
                   "--epochs", "30", "--device", "cpu")
    assert r["task"] == "binary" and r["baseline"]["name"] == "class_prior"
    assert r["metrics"]["test"]["accuracy"] >= 0.93 > r["baseline"]["test"]["accuracy"]


def test_a_table_model_on_sequence_settings_is_bad_input(capsys):
    code = main(["train", "--data", "seattle_weather", "--target", "temp_max", "--time-column", "date",
                 "--model", "mlp", "--json"])
    assert code == 2 and "does not read sequences" in capsys.readouterr().err


def small_series(path, n=160) -> str:
    t = np.arange(n)
    rng = np.random.default_rng(0)
    pd.DataFrame({"day": pd.date_range("2021-01-01", periods=n, freq="D").strftime("%Y-%m-%d"),
                  "load": 50 + 10 * np.sin(2 * np.pi * t / 7) + rng.normal(0, 1, n),
                  "temp": rng.normal(10, 3, n)}).to_csv(path, index=False)
    return str(path)


@pytest.fixture
def forecast_run(engine, tmp_path):
    config = RunConfig(data=DataConfig(small_series(tmp_path / "load.csv"), "load"),
                       model=ModelConfig("gru", {"hidden_size": 8}),
                       sequence=SequenceConfig(time_column="day", window=7),
                       train=TrainConfig(epochs=3, device="cpu")).validate()
    run_id = engine.store.create_run(config.to_dict(), name="gru", task=None, model="gru", dataset="load")
    assert execute_run(engine.store, engine.catalog, run_id) == "completed", engine.store.get(run_id).status_reason
    return run_id


def test_a_forecast_run_records_baselines_predictions_and_a_model_that_serves(engine, forecast_run):
    record = engine.store.get(forecast_run)
    base = record.summary["baseline"]
    assert set(base["all"]) == {"persistence", "seasonal_naive"} and base["all"]["seasonal_naive"]["period"] == 7
    assert base["all"]["seasonal_naive"]["test_windows"] == record.summary["rows"]["test"]
    pred = pd.read_parquet(engine.store.run_dir(forecast_run) / "predictions.parquet")
    test = pred[pred.split == "test"]
    assert {"time", "series", "baseline_persistence", "baseline_seasonal_naive", "y_true", "y_pred"} <= set(test)
    assert list(test.time) == sorted(test.time)
    mae = float(np.abs(test.baseline_persistence - test.y_true).mean())
    assert np.isclose(mae, base["all"]["persistence"]["test"]["mae"])
    trained = TrainedModel.load(engine.store.run_dir(forecast_run))
    assert trained.meta["input_shape"] == [7, 2] and trained.meta["data_kind"] == "sequence"
    rows = pd.read_csv(record.config["data"]["source"]).iloc[100:107]
    out = trained.predict_frame(rows)
    assert out.shape == (1, 1) and np.isfinite(out["prediction"]).all()


def test_attribution_over_steps_and_columns_adds_up_and_is_cached(engine, forecast_run):
    result = explain_sequences(engine.store, engine.catalog, forecast_run, TemporalParams(examples=5))
    assert result.attributions.shape == (5, 7, 2) and result.step_labels[-1] == "t"
    assert result.channels == ["load", "temp"] and result.importance().shape == (7, 2)
    # completeness: each window's attributions add up to its forecast minus the all-average window's
    gaps = result.attributions.sum(axis=(1, 2)) - (result.examples["predicted"] - result.reference)
    assert np.abs(gaps).max() < 1e-3 and result.completeness_gap < 1e-3
    again = explain_sequences(engine.store, engine.catalog, forecast_run, TemporalParams(examples=5))
    assert np.array_equal(again.attributions, result.attributions) and list(again.examples.time) == list(result.examples.time)


@pytest.mark.parametrize("kind", ["lstm", "gru", "rnn", "cnn1d"])
def test_integrated_gradients_match_captum(kind):
    captum_attr = pytest.importorskip("captum.attr")
    torch.manual_seed(0)
    model = build_model(kind, {"hidden_size": 6} if kind != "cnn1d" else {"channels": [4]}, 3, 2).eval()
    X = torch.randn(4, 9, 3)
    target = torch.tensor([0, 1, 1, 0])
    ours = integrated_gradients(model, X, target, n_steps=50)
    theirs = captum_attr.IntegratedGradients(model).attribute(X, baselines=torch.zeros_like(X), target=target,
                                                              n_steps=50, method="gausslegendre")
    assert torch.allclose(ours, theirs, atol=1e-5), (ours - theirs).abs().max()


def test_cross_validation_of_a_sequence_run_is_refused_in_words(capsys):
    code = main(["train", "--data", "seattle_weather", "--target", "temp_max", "--model", "lstm", "--cv", "3",
                 "--epochs", "1", "--json"])
    assert code == 2 and "train it without --cv" in capsys.readouterr().err
