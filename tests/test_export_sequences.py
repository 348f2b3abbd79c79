"""Sequence models leave as bundles: predict.py and the server take a window of rows and answer per series."""
from __future__ import annotations

import subprocess
import sys
import warnings

import numpy as np
import pandas as pd
import pytest
import torch

from core.config import DataConfig, ModelConfig, RunConfig, SequenceConfig, TrainConfig
from core.errors import WorkbenchError
from core.export import export_bundle
from core.export.onnx_export import export_onnx
from core.export.server import create_app
from core.runs.execute import execute_run
from core.runs.trained import TrainedModel

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient


def two_stations(path) -> pd.DataFrame:
    n, rng = 120, np.random.default_rng(0)
    frames = [pd.DataFrame({"day": pd.date_range("2021-01-01", periods=n, freq="D").strftime("%Y-%m-%d"),
                            "station": name, "temp": base + 5 * np.sin(np.arange(n) / 3) + rng.normal(0, 1, n),
                            "rain": rng.gamma(1.0, 1.0, n)}) for name, base in (("north", 5.0), ("south", 20.0))]
    frame = pd.concat(frames, ignore_index=True)
    frame.to_csv(path, index=False)
    return frame


@pytest.fixture
def bundle(engine, tmp_path):
    torch.set_num_threads(1)
    frame = two_stations(tmp_path / "stations.csv")
    config = RunConfig(data=DataConfig(str(tmp_path / "stations.csv"), "temp"),
                       model=ModelConfig("lstm", {"hidden_size": 8, "bidirectional": True}),
                       sequence=SequenceConfig(time_column="day", series_id="station", window=5, horizon=2),
                       train=TrainConfig(epochs=2, device="cpu")).validate()
    run_id = engine.store.create_run(config.to_dict(), name="stations", task=None, model="lstm", dataset="stations")
    assert execute_run(engine.store, engine.catalog, run_id) == "completed", engine.store.get(run_id).status_reason
    out = tmp_path / "bundle"
    export_bundle(engine.store, engine.catalog, run_id, out)
    return out, frame


def test_predict_py_forecasts_each_series_from_its_last_window_as_the_workbench_does(bundle):
    out, frame = bundle
    rows = frame.sample(frac=1.0, random_state=0).groupby("station").head(40)  # shuffled: sorted by day inside
    rows.drop(columns="temp").assign(temp=rows["temp"]).to_csv(out / "rows.csv", index=False)
    done = subprocess.run([sys.executable, str(out / "predict.py"), str(out / "rows.csv")], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    script = pd.read_csv(pd.io.common.StringIO(done.stdout))
    ours = TrainedModel.load(out).predict_frame(rows)
    assert list(script["series"]) == ["north", "south"] == list(ours.index)
    assert np.allclose(script["prediction"], ours["prediction"], atol=1e-5)
    few = frame.groupby("station").head(3)
    few.to_csv(out / "few.csv", index=False)
    done = subprocess.run([sys.executable, str(out / "predict.py"), str(out / "few.csv")], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 2 and "last 5 complete rows" in done.stderr


def test_the_server_takes_a_window_of_rows_and_returns_one_forecast_per_series(bundle):
    out, frame = bundle
    client = TestClient(create_app(out), base_url="http://127.0.0.1:8000")
    rows = frame.groupby("station").tail(5)
    records = rows[["station", "day", "temp", "rain"]].to_dict(orient="records")
    answer = client.post("/predict", json={"records": records})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["series"] == ["north", "south"] and len(body["predictions"]) == 2
    expect = TrainedModel.load(out).predict_frame(rows)["prediction"].tolist()
    assert np.allclose(body["predictions"], expect)
    short = client.post("/predict", json={"records": records[:3]})
    assert short.status_code == 422 and "last 5 rows" in short.json()["detail"]
    extra = client.post("/predict", json={"records": [{**records[0], "wind": 3.0}]})
    assert extra.status_code == 422


def test_onnx_says_a_sequence_model_leaves_as_a_bundle(bundle):
    out, _ = bundle
    with pytest.raises(WorkbenchError, match="exports as a bundle"):
        export_onnx(TrainedModel.load(out), out / "model.onnx")


def test_a_served_forecast_is_recorded_once_per_series(bundle, tmp_path):
    from core.lifecycle.recorder import PredictionLog, RecordSettings

    out, frame = bundle
    log = PredictionLog(tmp_path / "monitor.db", RecordSettings())
    client = TestClient(create_app(TrainedModel.load(out), sink=log), base_url="http://127.0.0.1:8000")
    records = frame.groupby("station").tail(5)[["station", "day", "temp", "rain"]].to_dict(orient="records")
    body = client.post("/predict", json={"records": records}).json()
    assert body["series"] == ["north", "south"] and len(body["ids"]) == 2
    log.close()
