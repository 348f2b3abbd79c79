"""The Explain page, run headless with AppTest: empty workspace, a table run, an image run."""
from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tests.test_explain_runs import shared_runs
from workbench.ui.explain_views import default_run_index

PAGE = str(Path(__file__).resolve().parents[1] / "pages" / "explain.py")


def _page(selected: str | None = None) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=120)
    if selected:
        at.session_state["selected_runs"] = [selected]
    return at.run()


def test_empty_workspace_says_what_to_do() -> None:
    at = _page()
    assert not at.exception
    assert any("No completed run" in i.value for i in at.info)


def test_table_run_explained_end_to_end(tmp_path_factory: pytest.TempPathFactory,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    workspace, ids = shared_runs(tmp_path_factory)
    monkeypatch.setenv("WORKBENCH_HOME", str(workspace))
    at = _page(ids["iris"])
    assert not at.exception
    assert at.selectbox(key="explain_run").value == ids["iris"]
    assert any("Estimated time" in m.value for m in at.markdown)
    assert len(at.get("plotly_chart")) == 0  # the SHAP tab opens first and waits for the button
    at.button(key="explain_shap_go").click().run()
    assert not at.exception
    assert len(at.get("plotly_chart")) == 4  # importance, beeswarm, dependence, waterfall
    assert "logit of class" in " ".join(c.value for c in at.caption)
    at.session_state["explain_tab"] = "PDP / ICE"
    at.run()
    assert not at.exception
    assert len(at.get("plotly_chart")) == 1  # only the open tab is drawn
    captions = " ".join(c.value for c in at.caption)
    assert "probability of class" in captions
    at.session_state["explain_tab"] = "LIME"
    at.run()
    assert any("Estimated time" in m.value for m in at.markdown)
    at.button(key="explain_lime_go").click().run()
    assert not at.exception
    assert len(at.get("plotly_chart")) == 1
    assert any(m.label == "Agreement with SHAP" for m in at.metric)


def test_image_run_and_row_choices(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    workspace, ids = shared_runs(tmp_path_factory)
    monkeypatch.setenv("WORKBENCH_HOME", str(workspace))
    at = _page(ids["digits"])
    at.radio(key="explain_rows_mode").set_value("Most wrong predictions").run()
    at.number_input(key="explain_rows_wrong").set_value(4).run()
    at.button(key="explain_shap_go").click().run()
    assert not at.exception
    assert len(at.get("plotly_chart")) == 5  # the four SHAP views + the pixel map
    # the picture's map is for the class its row is predicted as, whatever the class the other views show
    for position in range(4):
        at.selectbox(key="explain_waterfall_row").set_value(position).run()
        pick = at.selectbox(key=f"explain_pixels_class_{position}")
        predicted = at.selectbox(key="explain_waterfall_row").format_func(position)
        assert f"(predicted {pick.format_func(pick.value)})" in predicted, (predicted, pick.value)
    at.radio(key="explain_rows_mode").set_value("By a filter").run()
    at.text_input(key="explain_rows_fval").set_value("3").run()
    assert not at.exception


def test_small_helpers() -> None:
    class Run:
        def __init__(self, run_id: str):
            self.run_id = run_id

    runs = [Run("b"), Run("a")]
    assert default_run_index(runs, {"selected_runs": ["a"]}) == 1
    assert default_run_index(runs, {"selected_runs": ["gone"]}) == 0
    assert default_run_index(runs, {}) == 0
