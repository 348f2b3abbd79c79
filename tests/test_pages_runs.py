"""The Runs page through AppTest: empty, listed, one run's evaluation, a comparison, rename and delete."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core.config import DataConfig, ModelConfig, RunConfig, TrainConfig
from core.engine import Engine
from core.runs.execute import execute_run
from workbench.ui.common import md_escape

PAGE = Path(__file__).resolve().parents[1] / "pages" / "runs.py"
IRIS = RunConfig(data=DataConfig("iris", "species"), train=TrainConfig(epochs=3))
REASON = "the loss became NaN at epoch 2; try a smaller learning rate"


def _page() -> AppTest:
    at = AppTest.from_file(str(PAGE), default_timeout=60)
    return at


def _texts(elements) -> str:
    return "\n".join(str(e.value) for e in elements)


def _assert_clean(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert "Traceback" not in _texts(at.markdown) + _texts(at.error)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """A workspace with a classification, a binary, a regression and a failed run (trained once per module)."""
    home = tmp_path_factory.mktemp("wb-runs-page")
    engine = Engine(home)
    ids: dict[str, object] = {"home": home}
    for key, config, model, dataset in (
        ("clf", IRIS, "mlp", "iris"),
        ("clf2", IRIS.evolve(optim={"lr": 0.01}), "mlp", "iris"),
        ("binary", RunConfig(data=DataConfig("breast_cancer", "diagnosis"), model=ModelConfig("logistic"),
                             train=TrainConfig(epochs=3)), "logistic", "breast_cancer"),
        ("reg", RunConfig(data=DataConfig("diabetes", "progression"), train=TrainConfig(epochs=3)), "mlp",
         "diabetes"),
    ):
        run_id = engine.store.create_run(config.to_dict(), model=model, dataset=dataset)
        assert execute_run(engine.store, engine.catalog, run_id) == "completed"
        ids[key] = run_id
    failed = engine.store.create_run(IRIS.to_dict(), model="mlp", dataset="iris", name="broken run")
    engine.store.set_status(failed, "running")
    engine.store.set_status(failed, "failed", REASON)
    ids["failed"] = failed
    engine.close()
    return ids


@pytest.fixture
def populated(trained, monkeypatch: pytest.MonkeyPatch) -> dict[str, object]:
    monkeypatch.setenv("WORKBENCH_HOME", str(trained["home"]))
    return trained


def test_empty_workspace_points_to_train():
    at = _page().run()
    _assert_clean(at)
    assert "No runs yet" in _texts(at.info)
    assert not at.dataframe
    # outside the app's navigation the Train page is not registered: a plain hint instead of a link
    assert "Train" in _texts(at.markdown)


def test_lists_every_run_and_explains_selection(populated):
    at = _page().run()
    _assert_clean(at)
    table = at.dataframe(key="runs_table").value
    assert len(table) == 5
    assert set(table["run_id"]) == {populated[k] for k in ("clf", "clf2", "binary", "reg", "failed")}
    assert {"name", "status", "metric", "best_val", "test", "duration_s", "tags"} <= set(table.columns)
    assert "Tick a run" in _texts(at.info)


def test_filters_narrow_the_table(populated):
    at = _page().run()
    at.multiselect(key="runs_f_dataset").set_value(["diabetes"]).run()
    _assert_clean(at)
    assert at.dataframe(key="runs_table").value["run_id"].tolist() == [populated["reg"]]
    at.text_input(key="runs_f_text").input("no-such-run").run()
    assert at.dataframe(key="runs_table").value.empty


def test_one_classification_run_shows_its_evaluation(populated):
    at = _page()
    at.session_state["selected_runs"] = [populated["clf"]]
    at.run()
    _assert_clean(at)
    assert [m.label for m in at.metric][:2] == ["Test accuracy", "Val accuracy"]
    charts = at.get("plotly_chart")
    assert len(charts) == 2 + 4  # loss and accuracy curves; confusion, ROC, PR, calibration
    captions = _texts(at.caption)
    assert "diagonal is correct predictions" in captions and "solid on the training rows" in captions
    assert any("lr: 0.001" in c.value for c in at.code)
    # the table shows the selection as a ticked row
    assert at.session_state["runs_table"]["selection"]["rows"] == [
        at.dataframe(key="runs_table").value["run_id"].tolist().index(populated["clf"])]


def test_regression_and_binary_runs_show_their_plots(populated):
    at = _page()
    at.session_state["selected_runs"] = [populated["reg"]]
    at.run()
    _assert_clean(at)
    assert "Test r2" in [m.label for m in at.metric]
    assert "true minus predicted" in _texts(at.caption)
    assert len(at.get("plotly_chart")) == 2 + 1  # loss and r2 curves; residuals

    at.session_state["selected_runs"] = [populated["binary"]]
    at.run()
    _assert_clean(at)
    assert len(at.get("plotly_chart")) == 2 + 4


def test_failed_run_says_why_in_words(populated):
    at = _page()
    at.session_state["selected_runs"] = [populated["failed"]]
    at.run()
    _assert_clean(at)
    assert f"This run failed: {REASON}" in _texts(at.error)


def test_two_runs_are_compared(populated):
    at = _page()
    at.session_state["selected_runs"] = [populated["clf"], populated["clf2"]]
    at.run()
    _assert_clean(at)
    assert "Comparing 2 runs" in _texts(at.header)
    keys = [c.proto.id for c in at.get("plotly_chart")]
    assert any("compare_bars" in k for k in keys) and any("compare_parcoords" in k for k in keys)
    diff = at.dataframe[-1].value  # the config diff, last table on the page
    assert list(diff.index) == ["optim.lr"]
    assert "Only the settings that differ" in _texts(at.caption)
    assert at.multiselect(key="runs_pick").value == [populated["clf"], populated["clf2"]]


def test_mixed_comparison_with_a_failed_run(populated):
    at = _page()
    at.session_state["selected_runs"] = [populated[k] for k in ("clf", "reg", "failed")]
    at.run()
    _assert_clean(at)
    assert "Comparing 3 runs" in _texts(at.header)
    assert REASON in _texts(at.error)
    at.selectbox(key="parcoords_metric").set_value("r2").run()  # one run has r2: nothing to compare, no error
    _assert_clean(at)


def test_picker_selects_runs(populated):
    at = _page().run()
    at.multiselect(key="runs_pick").set_value([populated["clf"]]).run()
    _assert_clean(at)
    assert at.session_state["selected_runs"] == [populated["clf"]]
    # the page escapes user text as Markdown: the header shows the name literally
    assert at.header[0].value == md_escape(Engine(populated["home"]).store.get(populated["clf"]).name)


# --- actions, each in its own workspace (no training needed) -----------------------------
def _fake_run(engine, name: str, status: str = "completed") -> str:
    run_id = engine.store.create_run(IRIS.to_dict(), model="mlp", dataset="iris", name=name)
    engine.store.set_status(run_id, "running")
    if status == "running":  # alive, so the page's engine does not mark it interrupted
        engine.store.update(run_id, pid=os.getpid())
        engine.store.heartbeat(run_id, {"epoch": 1, "epochs": 4, "fraction": 0.25})
    else:
        engine.store.set_status(run_id, status, None if status == "completed" else "stopped by the user")
    return run_id


def test_rename_and_tag_a_run(engine):
    run_id = _fake_run(engine, "first")
    other = _fake_run(engine, "taken")
    at = _page()
    at.session_state["selected_runs"] = [run_id]
    at.run()
    _assert_clean(at)
    at.text_input(key=f"run_name_{run_id}").input("renamed")
    at.text_input(key=f"run_tags_{run_id}").input("best, baseline, best")
    next(b for b in at.button if "Save" in b.label).click()
    at.run()
    _assert_clean(at)
    run = engine.store.get(run_id)
    assert run.name == "renamed" and run.tags == ["best", "baseline"]
    assert "Saved 'renamed'" in _texts(at.success)

    at.text_input(key=f"run_name_{run_id}").input("taken")
    next(b for b in at.button if "Save" in b.label).click()
    at.run()
    assert "already called 'taken'" in _texts(at.error)
    assert engine.store.get(run_id).name == "renamed" and engine.store.get(other).name == "taken"


def test_delete_needs_confirmation(engine):
    keep = _fake_run(engine, "keep")
    doomed = _fake_run(engine, "doomed", status="cancelled")
    at = _page()
    at.session_state["selected_runs"] = [doomed]
    at.run()
    _assert_clean(at)
    assert "stopped before it finished: stopped by the user" in _texts(at.warning)
    delete = at.button(key="delete_runs")
    assert delete.disabled
    at.checkbox(key=f"confirm_delete_{doomed}").check().run()
    at.button(key="delete_runs").click().run()
    _assert_clean(at)
    assert [r.run_id for r in engine.store.list_runs()] == [keep]
    assert at.session_state["selected_runs"] == []
    assert "Deleted doomed" in _texts(at.success)


def test_running_runs_cannot_be_deleted(engine):
    a = _fake_run(engine, "training", status="running")
    b = _fake_run(engine, "done")
    at = _page()
    at.session_state["selected_runs"] = [a, b]
    at.run()
    _assert_clean(at)
    assert at.checkbox(key=f"confirm_delete_{a}_{b}").disabled
    assert "Still training: training" in _texts(at.caption)
    assert len(engine.store.list_runs()) == 2


def test_running_run_shows_progress_and_stops(engine):
    run_id = _fake_run(engine, "training", status="running")
    at = _page()
    at.session_state["selected_runs"] = [run_id]
    at.run()
    _assert_clean(at)
    assert "training (epoch 1 of 4)" in _texts(at.info)
    assert "curves appear after the first epoch" in _texts(at.info)
    at.button(key=f"stop_{run_id}").click().run()
    _assert_clean(at)
    assert engine.store.stop_requested(run_id)
