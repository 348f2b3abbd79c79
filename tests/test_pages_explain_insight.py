"""Explain page, tabs Over time and Compare runs (AppTest), and the rank changes behind them."""
from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core.config import DataConfig, ModelConfig, RunConfig, TrainConfig
from core.engine import Engine
from core.explain.compare import rank_changes
from core.runs.execute import execute_run

PAGE = str(Path(__file__).resolve().parents[1] / "pages" / "explain.py")


def test_rank_changes_say_what_rose_and_fell() -> None:
    a = {"x": 3.0, "y": 2.0, "z": 1.0}
    b = {"z": 5.0, "x": 4.0, "y": 0.5}
    found = rank_changes(a, b)
    assert found.same_columns
    assert found.table.column.tolist() == ["z", "x", "y"]  # B's order
    assert dict(zip(found.table.column, found.table.change)) == {"z": 2, "x": -1, "y": -1}
    assert found.rose() == ["z"] and found.fell() == ["x", "y"]
    words = found.words("A", "B")
    assert "A ranks x first, B ranks z first" in words and "z rose 2 places" in words and "y fell 1 place" in words
    assert found.table.share_b.sum() == pytest.approx(1.0)
    assert "keeps its rank" in rank_changes(a, a).words()


def test_rank_changes_on_different_columns_say_so() -> None:
    found = rank_changes({"x": 2.0, "y": 1.0, "old": 3.0}, {"y": 2.0, "x": 1.0, "new": 0.1})
    assert not found.same_columns and found.only_a == ["old"] and found.only_b == ["new"]
    assert found.table.column.tolist() == ["y", "x"]
    assert "different columns" in found.words() and "only A has old" in found.words()
    none = rank_changes({"x": 1.0}, {"y": 1.0})
    assert none.table.empty and "share no column" in none.words()


@pytest.fixture(scope="module")
def two_iris_runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    workspace = tmp_path_factory.mktemp("explain-insight")
    engine = Engine(workspace)
    ids = []
    try:
        for kind in ("logistic", "mlp"):
            config = RunConfig(data=DataConfig(source="iris", target="species"), model=ModelConfig(kind=kind),
                               train=TrainConfig(epochs=4, seed=0, device="cpu", early_stopping=False))
            run_id = engine.store.create_run(config.to_dict(), model=kind, dataset="iris", name=f"iris-{kind}")
            assert execute_run(engine.store, engine.catalog, run_id) == "completed"
            ids.append(run_id)
    finally:
        engine.close()
    return workspace, ids


def test_over_time_and_compare_tabs(two_iris_runs, monkeypatch: pytest.MonkeyPatch) -> None:
    workspace, (logistic, mlp) = two_iris_runs
    monkeypatch.setenv("WORKBENCH_HOME", str(workspace))
    at = AppTest.from_file(PAGE, default_timeout=120)
    at.session_state["selected_runs"] = [mlp]
    at.session_state["explain_tab"] = "Over time"
    at.run()
    assert not at.exception
    assert len(at.get("plotly_chart")) == 1
    captions = " ".join(c.value for c in at.caption)
    assert "4 snapshots by expected gradients" in captions and "of the training time" in captions
    at.session_state["explain_tab"] = "Compare runs"
    at.run()
    assert not at.exception
    assert at.selectbox(key="explain_compare_run").value == logistic
    at.button(key="explain_compare_go").click().run()
    assert not at.exception
    assert len(at.get("plotly_chart")) == 2  # the slope chart and the paired bars
    words = " ".join(i.value for i in at.info)
    assert "first" in words and ("rose" in words or "keeps its rank" in words)


def test_decision_boundary_tab(two_iris_runs, monkeypatch: pytest.MonkeyPatch) -> None:
    workspace, (logistic, mlp) = two_iris_runs
    monkeypatch.setenv("WORKBENCH_HOME", str(workspace))
    at = AppTest.from_file(PAGE, default_timeout=120)
    at.session_state["selected_runs"] = [mlp]
    at.session_state["explain_tab"] = "Decision boundary"
    at.run()
    assert not at.exception
    assert (at.selectbox(key="boundary_x").value, at.selectbox(key="boundary_y").value) == ("sepal_length", "sepal_width")
    at.selectbox(key="boundary_x").set_value("petal_length").run()
    at.selectbox(key="boundary_y").set_value("petal_width").run()
    assert not at.exception
    (chart,) = at.get("plotly_chart")
    assert '"petal_length"' in chart.proto.spec
    assert "held at its training median" in " ".join(c.value for c in at.caption)
