"""Monitoring a served model: the prediction log, drift per column, POST /feedback as live metrics."""
from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest

from core.lifecycle.drift import categorical_drift, drift_report, numeric_drift
from core.lifecycle.monitor import check_batch, monitor_report
from core.lifecycle.recorder import PredictionLog, RecordSettings, monitor_path
from core.lifecycle.run_data import load_run_data
from core.runs.trained import TrainedModel
from workbench.cli import main

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from core.export.server import create_app  # noqa: E402

SHIFTED = ("px_2_3", "px_5_4")
_IDS: list[int] = []


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """A digits MLP served with its prediction log, fed 200 unseen rows of which two columns are shifted."""
    from core.engine import Engine

    home = tmp_path_factory.mktemp("wb-monitor")
    assert main(["train", "--data", "digits", "--model", "mlp", "--epochs", "10", "--device", "cpu",
                 "--name", "digits-served", "--quiet", "--workspace", str(home)]) == 0
    engine = Engine(home)
    run_id = engine.store.get("digits-served").run_id
    run_dir = engine.store.run_dir(run_id)
    log = PredictionLog(monitor_path(run_dir), RecordSettings())
    client = TestClient(create_app(TrainedModel.load(run_dir), sink=log), base_url="http://127.0.0.1:8000")
    data = load_run_data(engine.store, engine.catalog, run_id)
    unseen = data.prepared.frame.iloc[np.r_[data.prepared.split.val, data.prepared.split.test]]
    rows = unseen.sample(200, random_state=1).reset_index(drop=True)
    labels = rows.pop("label")
    for column in SHIFTED:
        rows[column] = (rows[column] + 8).clip(upper=16)
    yield engine, run_id, client, log, rows, labels, home
    log.close()
    engine.close()


def test_predictions_are_recorded_and_drift_flags_exactly_the_shifted_columns(served):
    engine, run_id, client, log, rows, labels, _ = served
    ids = []
    for start in range(0, 200, 50):  # four requests
        answer = client.post("/predict", json={"records": rows.iloc[start:start + 50].to_dict("records")})
        assert answer.status_code == 200, answer.text
        ids += answer.json()["ids"]
    assert len(set(ids)) == 200 and log.count() == 200
    report = monitor_report(engine.store, engine.catalog, run_id)
    assert report["traffic"]["predictions"] == 200 and report["traffic"]["requests"] == 4
    assert report["latency_ms"]["p50"] > 0 and report["latency_ms"]["p95"] >= report["latency_ms"]["p50"]
    assert sorted(report["drift"]["drifted"]) == sorted(SHIFTED)
    assert len(report["drift"]["columns"]) == 64 and "PSI" in report["drift"]["thresholds"]
    assert sum(report["predictions"]["served"].values()) == pytest.approx(1.0)
    assert "100,000 predictions" in report["recording"]["words"]
    _IDS[:] = ids  # the next test sends their labels


def test_feedback_becomes_a_live_accuracy(served):
    engine, run_id, client, log, rows, labels, home = served
    ids = _IDS
    answer = client.post("/feedback", json={"feedback": [{"id": i, "label": int(y)} for i, y in zip(ids, labels)]
                                            + [{"id": 10**9, "label": 1}]})
    assert answer.status_code == 200 and answer.json() == {"stored": 200, "unknown_ids": [10**9]}
    report = monitor_report(engine.store, engine.catalog, run_id)
    live = report["feedback"]
    predicted = log.predictions()["prediction"].astype(str).to_numpy()
    assert live["labelled"] == 200
    assert live["metrics"]["accuracy"] == pytest.approx(float(np.mean(predicted == labels.astype(str).to_numpy())))
    assert 0.5 < live["metrics"]["accuracy"] <= 1.0 and "accuracy" in live["test"]
    # and the command line says the same
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["monitor", run_id, "--json", "--workspace", str(home)]) == 0
    cli = json.loads(out.getvalue().strip().splitlines()[-1])
    assert sorted(cli["drift"]["drifted"]) == sorted(SHIFTED)
    assert cli["feedback"]["metrics"]["accuracy"] == pytest.approx(live["metrics"]["accuracy"])


def test_a_batch_of_new_rows_gets_predictions_and_the_same_drift_report(served):
    engine, run_id, _, _, rows, _, _ = served
    data = load_run_data(engine.store, engine.catalog, run_id)
    predicted, drift = check_batch(data, rows)
    assert len(predicted) == 200 and "prediction" in predicted and "proba_0" in predicted
    assert sorted(drift["drifted"]) == sorted(SHIFTED)


def test_the_log_is_bounded_and_can_be_off(tmp_path, served):
    log = PredictionLog(tmp_path / "m.db", RecordSettings(max_rows=50, max_days=1))
    for _ in range(5):
        log.record([{"a": 1.0}] * 100, [0] * 100, None, 1.0, now=1_000_000.0)
    log.trim(now=1_000_000.0)
    assert log.count() == 50
    log.record([{"a": 2.0}] * 10, [1] * 10, None, 1.0, now=1_000_000.0 + 2 * 86400)
    log.trim(now=1_000_000.0 + 2 * 86400)
    assert log.count() == 10  # the day-old ones are gone
    assert RecordSettings.from_env({"WORKBENCH_MONITOR": "0"}).enabled is False
    assert RecordSettings.from_env({"WORKBENCH_MONITOR_ROWS": "7"}).max_rows == 7
    _, _, client_on, *_ = served
    run_dir = served[0].store.run_dir(served[1])
    off = TestClient(create_app(TrainedModel.load(run_dir)), base_url="http://127.0.0.1:8000")
    assert off.get("/health").json()["recording"] is False
    assert "ids" not in off.post("/predict", json={"records": served[4].iloc[:2].to_dict("records")}).json()
    assert off.post("/feedback", json={"feedback": [{"id": 1, "label": 3}]}).status_code == 409


def test_drift_statistics_against_scipy():
    rng = np.random.default_rng(0)
    ref = pd.Series(rng.normal(size=2000))
    same = numeric_drift("x", ref, pd.Series(rng.normal(size=300)))
    current = rng.normal(1.0, 1.0, size=300)
    moved = numeric_drift("x", ref, pd.Series(current))
    assert not same.drifted and same.psi < 0.1 and same.verdict == "stable"
    assert moved.drifted and moved.psi > 0.25 and moved.p_value < 1e-6
    from scipy import stats

    assert (moved.statistic, moved.p_value) == pytest.approx(tuple(stats.ks_2samp(ref, current)))
    cats = pd.Series(rng.choice(["a", "b", "c"], size=1000, p=[0.6, 0.3, 0.1]))
    assert not categorical_drift("c", cats, pd.Series(rng.choice(["a", "b", "c"], 300, p=[0.6, 0.3, 0.1]))).drifted
    flipped = categorical_drift("c", cats, pd.Series(rng.choice(["a", "b", "new"], 300, p=[0.1, 0.3, 0.6])))
    assert flipped.drifted and flipped.test == "chi-square"
    few = drift_report(pd.DataFrame({"x": ref}), pd.DataFrame({"x": ref[:10]}), {"x"}, ["x"])
    assert few["columns"] == [] and "30 rows" in few["note"]
