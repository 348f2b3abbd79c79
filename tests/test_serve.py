"""The REST server: predictions, validation (422), local Host only (400), bounded requests (413)."""
from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import warnings

import httpx
import numpy as np
import pandas as pd
import pytest

from core.config import DataConfig, ModelConfig, RunConfig, TrainConfig
from core.engine import Engine
from core.export import export_bundle, held_out_rows
from core.export.http_guards import allowed_hosts, host_name
from core.export.server import create_app
from core.runs.execute import execute_run
from core.runs.trained import TrainedModel
from tests.helpers import wait_for
from workbench.cli import main

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # starlette's TestClient nags about httpx2, which is not a dependency
    from fastapi.testclient import TestClient

TIPS_ROW = {"total_bill": 20.5, "sex": "Female", "smoker": "No", "day": "Sun", "time": "Dinner", "size": 2}


def train(engine: Engine, source: str, target: str, epochs: int = 3) -> str:
    config = RunConfig(data=DataConfig(source=source, target=target), model=ModelConfig(params={"hidden_sizes": [8]}),
                       train=TrainConfig(epochs=epochs, device="cpu"))
    run_id = engine.store.create_run(config.to_dict(), model="mlp", dataset=source)
    assert execute_run(engine.store, engine.catalog, run_id) == "completed"
    return run_id


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory):
    engine = Engine(tmp_path_factory.mktemp("serve"))
    ids = {"iris": train(engine, "iris", "species"), "tips": train(engine, "tips", "tip")}
    yield engine, ids
    engine.close()


@pytest.fixture(scope="module")
def tips_client(served):
    engine, ids = served
    return TestClient(create_app(engine.store.run_dir(ids["tips"])), base_url="http://127.0.0.1:8000")


@pytest.fixture(scope="module")
def iris_bundle(served, tmp_path_factory):
    engine, ids = served
    return export_bundle(engine.store, engine.catalog, ids["iris"], tmp_path_factory.mktemp("b") / "iris")


def test_predictions_match_the_model(served, iris_bundle):
    engine, ids = served
    client = TestClient(create_app(iris_bundle.path), base_url="http://localhost")
    trained = TrainedModel.load(iris_bundle.path)
    rows = held_out_rows(engine.catalog, engine.store.run_dir(ids["iris"]), trained.config).head(5)
    records = rows[trained.schema.features].to_dict(orient="records")
    response = client.post("/predict", json={"records": records})
    assert response.status_code == 200, response.text
    body = response.json()
    want = trained.predict_frame(rows)
    assert body["predictions"] == list(want["prediction"])
    assert body["classes"] == list(trained.schema.classes)
    got = pd.DataFrame(body["probabilities"])
    np.testing.assert_allclose(got.to_numpy(), want[[f"proba_{c}" for c in body["classes"]]].to_numpy(), atol=1e-9)
    health = client.get("/health").json()
    assert health["status"] == "ok" and health["columns"] == trained.schema.features


def test_regression_with_nulls_and_categories(tips_client):
    body = tips_client.post("/predict", json={"records": [TIPS_ROW, {**TIPS_ROW, "day": None, "size": None}]}).json()
    assert body["task"] == "regression" and len(body["predictions"]) == 2
    assert all(isinstance(v, float) and np.isfinite(v) for v in body["predictions"])
    assert tips_client.post("/predict", json={"records": []}).json()["predictions"] == []


@pytest.mark.parametrize("record, where, words", [
    ({k: v for k, v in TIPS_ROW.items() if k != "smoker"}, "records[0].smoker", "missing"),
    ({**TIPS_ROW, "tip": 3.0}, "records[0].tip", "no such column"),
    ({**TIPS_ROW, "total_bill": "lots"}, "records[0].total_bill", "valid number"),
    ({**TIPS_ROW, "day": ["Sun"]}, "records[0].day", "valid string"),
])
def test_validation_errors_are_readable(tips_client, record, where, words):
    response = tips_client.post("/predict", json={"records": [record]})
    assert response.status_code == 422
    body = response.json()
    assert body["detail"][0]["where"] == where
    assert where in body["message"] and words in body["message"]


def test_not_json_is_422(tips_client):
    response = tips_client.post("/predict", content=b"{oops", headers={"content-type": "application/json"})
    assert response.status_code == 422 and "not valid JSON" in response.json()["message"]


@pytest.mark.parametrize("host", ["evil.example", "evil.example:8000", "127.0.0.1.evil.example", "10.0.0.5"])
def test_foreign_host_header_is_refused(tips_client, host):
    response = tips_client.post("/predict", json={"records": [TIPS_ROW]}, headers={"host": host})
    assert response.status_code in (400, 421)
    assert "not served here" in response.json()["detail"]
    assert tips_client.get("/health", headers={"host": host}).status_code in (400, 421)


@pytest.mark.parametrize("host", ["localhost", "localhost:8000", "127.0.0.1:9", "[::1]:8000", "LOCALHOST"])
def test_local_host_headers_pass(tips_client, host):
    assert tips_client.get("/health", headers={"host": host}).status_code == 200


def test_extra_host_only_when_chosen(served):
    engine, ids = served
    hosts = allowed_hosts(["192.168.1.20", "0.0.0.0"])
    assert "192.168.1.20" in hosts and "0.0.0.0" not in hosts and "localhost" in hosts
    client = TestClient(create_app(engine.store.run_dir(ids["iris"]), hosts=hosts), base_url="http://192.168.1.20")
    assert client.get("/health").status_code == 200
    assert client.get("/health", headers={"host": "evil.example"}).status_code == 400
    assert host_name("[::1]:80") == "::1" and host_name("Example.COM.") == "example.com"


def test_request_size_is_bounded(tips_client):
    big = json.dumps({"records": [TIPS_ROW] * 12_000}).encode()  # about 1.2 MB
    assert len(big) > 1_000_000
    response = tips_client.post("/predict", content=big, headers={"content-type": "application/json"})
    assert response.status_code == 413

    def chunks():  # no Content-Length: the limit holds while reading
        for start in range(0, len(big), 64_000):
            yield big[start:start + 64_000]

    response = tips_client.post("/predict", content=chunks(), headers={"content-type": "application/json"})
    assert response.status_code == 413
    many = {"records": [{}] * 10_001}  # small body, too many records
    response = tips_client.post("/predict", json=many)
    assert response.status_code == 413 and "10,000" in response.json()["detail"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_real_server(served):
    engine, ids = served
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "workbench.cli", "serve", ids["tips"], "--port", str(port),
                             "--workspace", str(engine.workspace)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    base = f"http://127.0.0.1:{port}"

    def healthy() -> bool:
        if proc.poll() is not None:
            raise AssertionError(f"the server exited: {proc.stderr.read()}")
        try:
            return httpx.get(base + "/health", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_for(healthy, timeout_s=60, what="the server's /health")
        response = httpx.post(base + "/predict", json={"records": [TIPS_ROW]}, timeout=10)
        assert response.status_code == 200 and len(response.json()["predictions"]) == 1
        assert httpx.get(base + "/docs", timeout=10).status_code == 200
        assert httpx.get(base + "/health", headers={"host": "evil.example"}, timeout=10).status_code == 400
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_other_host_warns(served, monkeypatch, capsys):
    import uvicorn

    engine, ids = served
    seen = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: seen.update(kw))
    port = free_port()
    assert main(["serve", ids["iris"], "--host", "0.0.0.0", "--port", str(port), "--workspace",
                 str(engine.workspace)]) == 0
    assert seen["host"] == "0.0.0.0" and seen["port"] == port
    assert "warning" in capsys.readouterr().err
