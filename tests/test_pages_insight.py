"""Issue 18's views through AppTest: baselines beside a run, a group of repeats, two runs paired."""
from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core.config import DataConfig, ModelConfig, RunConfig, TrainConfig
from core.engine import Engine
from core.runs.execute import execute_run
from core.tuning.repeats import run_repeats_inline
from tests.test_pages_train import open_train

PAGE = Path(__file__).resolve().parents[1] / "pages" / "runs.py"
IRIS = RunConfig(data=DataConfig("iris", "species"), model=ModelConfig("mlp", {"hidden_sizes": [8]}),
                 train=TrainConfig(epochs=3, device="cpu"))


def _texts(elements) -> str:
    return "\n".join(str(e.value) for e in elements)


def _frame(at: AppTest, column: str):
    return next(d.value for d in at.dataframe if column in d.value.columns)


@pytest.fixture(scope="module")
def workspace_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    home = tmp_path_factory.mktemp("wb-insight-page")
    engine = Engine(home)
    ids = {"home": str(home)}
    ids["group"] = run_repeats_inline(engine.store, engine.catalog, IRIS, 2)
    logistic = IRIS.evolve(model={"kind": "logistic", "params": {}})
    ids["logistic"] = engine.store.create_run(logistic.to_dict(), model="logistic", dataset="iris")
    assert execute_run(engine.store, engine.catalog, ids["logistic"]) == "completed"
    engine.close()
    return ids


@pytest.fixture
def runs_page(workspace_runs, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("WORKBENCH_HOME", workspace_runs["home"])

    def open_with(*selected: str) -> AppTest:
        at = AppTest.from_file(str(PAGE), default_timeout=60)
        at.session_state["selected_runs"] = list(selected)
        return at.run()
    return open_with


def test_one_run_shows_its_baselines(runs_page, workspace_runs):
    at = runs_page(workspace_runs["logistic"])
    assert not at.exception
    assert "Against baselines" in _texts(at.subheader)
    table = next(d.value for d in at.dataframe if "accuracy" in d.value.columns)
    assert list(table.index) == ["this network", "majority class", "logistic regression (scikit-learn, C=1)"]
    assert "scored on the same test rows" in _texts(at.caption)


def test_a_group_shows_mean_std_interval_and_bands(runs_page, workspace_runs):
    at = runs_page(workspace_runs["group"])
    assert not at.exception
    stats = _frame(at, "95% interval (t)")
    assert stats["metric"].iloc[0] == "accuracy" and set(stats["seeds"]) == {2}
    assert "±" in stats["mean ± std"].iloc[0] and stats["95% interval (t)"].iloc[0].startswith("[")
    members = _frame(at, "seed")
    assert list(members["seed"]) == [0, 1]
    assert "shaded band" in _texts(at.caption)


def test_two_runs_are_compared_in_words(runs_page, workspace_runs):
    at = runs_page(workspace_runs["group"], workspace_runs["logistic"])
    assert not at.exception
    assert "Is one better?" in _texts(at.subheader)
    said = _texts(at.success) + _texts(at.info)
    assert "95% interval" in said and "on the same" in said and "test rows" in said
    at.selectbox(key=f"paired_metric_{workspace_runs['group']}_{workspace_runs['logistic']}").set_value("f1_macro").run()
    assert "F1 (macro)" in (_texts(at.success) + _texts(at.info)).replace("\\", "")  # as shown, unescaped


def test_repeat_checkbox_starts_a_group(engine):
    at = open_train()
    at.checkbox(key="tf_repeats").check().run()
    at.number_input(key="tf_repeats_n").set_value(3).run()
    assert "--repeats 3" in at.code[0].value
    next(b for b in at.button if b.label == "Start training").click().run()
    assert not at.exception
    parents = [r for r in engine.store.list_runs() if "repeats" in r.tags]
    assert len(parents) == 1 and parents[0].summary["seeds"] == [0, 1, 2]
    assert len(engine.store.list_runs(parent_id=parents[0].run_id)) == 3
    for run in engine.store.list_runs():
        engine.manager.stop(run.run_id)
