"""Sequences in the pages (AppTest): Data page settings, checks and preview; a sequence run on the Train,
Runs and Explain pages; and the plain functions behind the figures."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from streamlit.testing.v1 import AppTest

from core.config import DataConfig, ModelConfig, RunConfig, SequenceConfig, TrainConfig
from core.runs.execute import execute_run
from workbench.ui import sequences as seq_ui

APP = Path(__file__).resolve().parents[1] / "workbench" / "app.py"


def page(name: str) -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=90).run()
    return at.switch_page(f"../pages/{name}.py").run()


def select(at: AppTest, label: str):
    return next(s for s in at.selectbox if s.label == label)


def test_data_page_reads_the_weather_sample_as_a_daily_series() -> None:
    at = page("data")
    select(at, "Dataset").select("seattle_weather").run()
    select(at, "Target column").select("temp_max").run()
    assert not at.exception
    assert at.toggle[0].value  # the sample is read as sequences by default
    assert select(at, "Time column").value == "date"
    assert [n.value for n in at.number_input if n.label == "Window (steps)"] == [14]
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Training windows"] == "1,009" and metrics["Steps x columns"] == "14 x 4"
    assert any("no window reaches across two of them" in c.value for c in at.caption)
    choice = at.session_state["data_choice"]
    assert choice.data_kind == "sequence" and choice.sequence["time_column"] == "date"
    assert choice.sequence["window"] == 14
    at.toggle[0].set_value(False).run()
    assert at.session_state["data_choice"].sequence is None


def test_train_page_offers_only_sequence_models_for_a_series() -> None:
    at = page("data")
    select(at, "Dataset").select("seattle_weather").run()
    select(at, "Target column").select("temp_max").run()
    at.switch_page("../pages/train.py").run()
    assert not at.exception
    assert select(at, "Model").options == ["Recurrent network (RNN)", "LSTM", "GRU", "1D convolutional network"]
    select(at, "Model").select("lstm").run()
    assert {n.label for n in at.number_input} >= {"Hidden size", "Layers"}
    command = next(c.value for c in at.code if c.value.startswith("workbench train"))
    assert "--model lstm --time-column date" in command and "--window 14" in command


@pytest.fixture
def sequence_run(engine, tmp_path) -> str:
    torch.set_num_threads(1)
    n = 150
    t = np.arange(n)
    path = tmp_path / "load.csv"
    pd.DataFrame({"day": pd.date_range("2021-01-01", periods=n, freq="D").strftime("%Y-%m-%d"),
                  "load": 50 + 10 * np.sin(2 * np.pi * t / 7) + np.random.default_rng(0).normal(0, 1, n)}
                 ).to_csv(path, index=False)
    config = RunConfig(data=DataConfig(str(path), "load"), model=ModelConfig("lstm", {"hidden_size": 8}),
                       sequence=SequenceConfig(time_column="day", window=7),
                       train=TrainConfig(epochs=2, device="cpu"), name="load lstm").validate()
    run_id = engine.store.create_run(config.to_dict(), name="load lstm", task=None, model="lstm", dataset="load")
    assert execute_run(engine.store, engine.catalog, run_id) == "completed", engine.store.get(run_id).status_reason
    return run_id


def test_runs_page_shows_the_network_beside_its_baselines(sequence_run) -> None:
    at = AppTest.from_file(str(APP), default_timeout=90).run()
    at.session_state["selected_runs"] = [sequence_run]
    at.switch_page("../pages/runs.py").run()
    assert not at.exception, at.exception
    assert any(h.value == "Against the baselines (test)" for h in at.subheader)
    table = next(d.value for d in at.dataframe if "model" in d.value.columns and "this network" in set(d.value["model"]))
    assert list(table["model"]) == ["this network", "persistence (last value)", "seasonal naive"]
    assert any("beat" in (m.value or "") for m in [*at.success, *at.warning])


def test_explain_page_draws_the_step_by_column_heat_map(sequence_run) -> None:
    at = page("explain")
    assert not at.exception, at.exception
    assert any("integrated gradients" in c.value for c in at.caption)
    assert at.number_input[0].label == "Test examples to explain"
    assert any(s.label == "Example" for s in at.selectbox)


def test_baseline_table_and_verdict_read_the_summary() -> None:
    summary = {"metrics": {"test": {"mae": 2.0, "rmse": 2.5, "smape": 10.0, "mase": 0.5}},
               "baseline": {"name": "persistence", "label": "persistence (last value)",
                            "test": {"mae": 2.5, "rmse": 3.0, "smape": 12.0, "mase": 0.6},
                            "all": {"persistence": {"label": "persistence (last value)",
                                                    "test": {"mae": 2.5, "rmse": 3.0, "smape": 12.0, "mase": 0.6}}}}}
    table = seq_ui.baseline_table(summary)
    assert list(table["model"]) == ["this network", "persistence (last value)"] and table["MAE"].tolist() == [2.0, 2.5]
    level, words = seq_ui.verdict(summary)
    assert level == "success" and "20.0% better" in words
    summary["metrics"]["test"]["mae"] = 3.0
    assert seq_ui.verdict(summary)[0] == "warning"


def test_figures_and_guesses() -> None:
    pred = pd.DataFrame({"split": ["test"] * 3, "row": [5, 6, 7], "time": ["2021-01-06", "2021-01-07", "2021-01-08"],
                         "series": [""] * 3, "y_true": [1.0, 2.0, 3.0], "y_pred": [1.1, 2.1, 2.9],
                         "baseline_persistence": [0.5, 1.0, 2.0]})
    fig = seq_ui.forecast_figure(pred, "load")
    assert [t.name for t in fig.data] == ["actual", "this network", "persistence (last value)"]
    heat = seq_ui.heatmap_figure(np.ones((3, 2)), ["t-2", "t-1", "t"], ["a", "b"])
    assert heat.data[0].z.shape == (3, 2) and list(heat.data[0].y) == ["t-2", "t-1", "t"]
    assert seq_ui.guess_time_column(pd.DataFrame({"x": [1, 2], "Date": ["2020-01-01", "2020-01-02"]})) == "Date"
    assert seq_ui.guess_time_column(pd.DataFrame({"x": [1, 2], "y": ["a", "b"]})) is None
    assert seq_ui.settings_dict(SequenceConfig(time_column="d", window=14)) == {"time_column": "d", "window": 14}


def test_export_page_offers_the_bundle_and_a_window_of_rows_to_serve(sequence_run) -> None:
    at = page("export")
    assert not at.exception, at.exception
    assert any("leaves as the bundle" in c.value for c in at.caption)
    curl = next(c.value for c in at.code if c.value.startswith("curl"))
    assert curl.count('"day"') == 7  # the last window of rows
