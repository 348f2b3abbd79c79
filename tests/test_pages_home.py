"""Home in AppTest: an empty workspace and one with runs."""
from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

from core.config import DataConfig, RunConfig, TrainConfig
from core.runs.execute import execute_run

APP = Path(__file__).resolve().parents[1] / "workbench" / "app.py"


def open_page(name: str) -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=60).run()
    if name != "home":
        at.switch_page(f"../pages/{name}.py").run()
    return at


def finished_run(engine, target: str = "species", name: str | None = None) -> str:
    config = RunConfig(data=DataConfig("iris", target), train=TrainConfig(epochs=2, batch_size=32), name=name)
    run_id = engine.store.create_run(config.to_dict(), name=name, model="mlp", dataset="iris")
    execute_run(engine.store, engine.catalog, run_id)
    return run_id


def test_home_on_an_empty_workspace() -> None:
    at = open_page("home")
    assert not at.exception
    assert at.title[0].value == "Workbench"
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Runs"] == "0" and int(metrics["Datasets"]) >= 6
    assert metrics["Training device"]  # a GPU's name or CPU
    assert any("No runs yet" in i.value for i in at.info)
    assert len(at.page_link) >= 2  # where to start: at least Data and Train


def test_home_lists_the_latest_runs_with_their_status(engine) -> None:
    good = finished_run(engine, name="home-good")
    bad = finished_run(engine, target="no_such_column", name="home-bad")
    assert engine.store.get(good).status == "completed" and engine.store.get(bad).status == "failed"
    at = open_page("home")
    assert not at.exception and not at.error
    table = at.dataframe[0].value
    assert set(table["Run"]) == {"home-good", "home-bad"}
    status = dict(zip(table["Run"], table["Status"]))
    assert "completed" in status["home-good"] and "failed" in status["home-bad"]
    assert {m.label: m.value for m in at.metric}["Runs"] == "2"
