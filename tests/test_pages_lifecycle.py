"""The Optimize and Monitor pages in AppTest, and the Runs page's lineage, on a small iris run."""
from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core.config import DataConfig, ModelConfig, RunConfig, TrainConfig
from core.engine import Engine
from core.lifecycle import jobs, latency
from core.lifecycle.recorder import PredictionLog, RecordSettings, monitor_path
from core.runs.execute import execute_run
from core.data.catalog import resolve
from core.data.loading import load_dataset

PAGES = Path(__file__).resolve().parents[1] / "pages"


@pytest.fixture(scope="module")
def iris_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    workspace = tmp_path_factory.mktemp("lifecycle-pages")
    engine = Engine(workspace)
    config = RunConfig(data=DataConfig("iris", "species"), model=ModelConfig(params={"hidden_sizes": [16]}),
                       train=TrainConfig(epochs=30, device="cpu", early_stopping=False))
    run_id = engine.store.create_run(config.to_dict(), model="mlp", dataset="iris", name="iris-life")
    assert execute_run(engine.store, engine.catalog, run_id) == "completed"
    # 60 served rows, the first 40 labelled
    rows = load_dataset(resolve("iris")).sample(60, replace=True, random_state=0)
    log = PredictionLog(monitor_path(engine.store.run_dir(run_id)), RecordSettings(max_rows=5000))
    ids = log.record(rows.drop(columns="species").to_dict("records"), list(rows["species"]), None, 2.5)
    log.add_feedback(zip(ids[:40], rows["species"][:40]))
    log.close()
    engine.close()
    return workspace, run_id


@pytest.fixture(autouse=True)
def _quick_latency():
    old = latency.BUDGET_S, latency.REPEATS
    latency.BUDGET_S, latency.REPEATS = 0.01, 10
    yield
    latency.BUDGET_S, latency.REPEATS = old


def page(monkeypatch, workspace: Path, name: str) -> AppTest:
    monkeypatch.setenv("WORKBENCH_HOME", str(workspace))
    return AppTest.from_file(str(PAGES / f"{name}.py"), default_timeout=120)


def test_optimize_page_empty(monkeypatch, tmp_path):
    at = page(monkeypatch, tmp_path / "empty", "optimize").run()
    assert not at.exception and any("Nothing to optimise" in i.value for i in at.info)


def test_optimize_page_runs_a_job_and_shows_the_tradeoffs(monkeypatch, iris_run):
    workspace, run_id = iris_run
    at = page(monkeypatch, workspace, "optimize").run()
    assert not at.exception
    assert at.selectbox(key="optimize_run").value == run_id
    assert any("No variants yet" in i.value for i in at.info)
    at.multiselect(key="opt_sparsities").set_value([0.25, 0.5])
    at.number_input(key="opt_epochs").set_value(1)
    at.button[0].click().run()  # the form's submit button
    assert not at.exception and not at.error
    assert jobs.join(run_id, 120)
    assert jobs.state(run_id).error is None
    at.run()
    assert not at.exception
    table = at.dataframe[0].value
    assert {"float32 (the trained model)", "int8 (dynamic, torch)"} <= set(table["variant"])
    assert any("pruned (global)" in v for v in table["variant"])
    assert len(at.get("plotly_chart")) == 1  # accuracy against sparsity


def test_monitor_page_shows_the_served_traffic(monkeypatch, iris_run):
    workspace, run_id = iris_run
    at = page(monkeypatch, workspace, "monitor").run()
    assert not at.exception, at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Predictions"] == "60"
    assert "Live accuracy" in metrics
    drift = next(d.value for d in at.dataframe if "psi" in d.value.columns)
    assert set(drift["column"]) == {"sepal_length", "sepal_width", "petal_length", "petal_width"}
    assert any("keeps the last 5,000 predictions" in c.value for c in at.caption)


def test_monitor_page_retrains_with_the_feedback(monkeypatch, iris_run):
    workspace, run_id = iris_run
    at = page(monkeypatch, workspace, "monitor").run()
    at.number_input(key="mon_epochs").set_value(2)
    at.button(key="mon_retrain").click().run()
    assert not at.exception
    assert any("40 labelled feedback rows" in s.value for s in at.success), [e.value for e in at.error]
    engine = Engine(workspace)
    try:
        child = next(r for r in engine.store.list_runs() if r.name == "iris-life-ft")
        assert child.config["init"]["from_run"] == run_id
    finally:
        engine.close()
    at.session_state["selected_runs"] = [child.run_id]
    runs = page(monkeypatch, workspace, "runs")
    runs.session_state["selected_runs"] = [child.run_id]
    runs.run()
    assert not runs.exception
    assert any("Lineage" in m.value and "iris\\-life" in m.value for m in runs.markdown), [m.value for m in runs.markdown]


def test_monitor_page_before_anything_is_served(monkeypatch, tmp_path):
    engine = Engine(tmp_path)
    config = RunConfig(data=DataConfig("iris", "species"), model=ModelConfig(params={"hidden_sizes": [4]}),
                       train=TrainConfig(epochs=1, device="cpu"))
    run_id = engine.store.create_run(config.to_dict(), model="mlp", dataset="iris")
    execute_run(engine.store, engine.catalog, run_id)
    engine.close()
    at = page(monkeypatch, tmp_path, "monitor").run()
    assert not at.exception
    assert any("nothing served yet" in i.value for i in at.info)
    assert any(f"workbench serve {run_id}" in c.value for c in at.code)
