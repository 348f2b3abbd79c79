"""The Tune page (AppTest) and the figures and tables behind it (plain functions)."""
from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core.config import DataConfig, ModelConfig, RunConfig, TrainConfig
from core.tuning.cv import CvResult, FoldResult, aggregate
from core.tuning.search import TrialRow, create_study, run_study
from core.tuning.space import SearchParam
from workbench.ui import tune_views

PAGE = str(Path(__file__).resolve().parents[1] / "pages" / "tune.py")


def page() -> AppTest:
    return AppTest.from_file(PAGE, default_timeout=60).run()


def test_empty_workspace_shows_the_search_form():
    at = page()
    assert not at.exception
    assert [b.label for b in at.button] == ["Start search"]
    assert {"Trials", "Epochs per trial (fixed)"} <= {n.label for n in at.number_input}
    assert at.checkbox(key="tune_form_mlp_lr_on").value is True  # learning rate is searched by default
    assert any("No search yet" in i.value for i in at.info)


def test_nothing_to_search_is_a_readable_error_and_no_study():
    at = page()
    for name in tune_views.DEFAULT_SEARCHED:
        at.checkbox(key=f"tune_form_mlp_{name}_on").uncheck()
    at.run()
    at.button(key="tune_start").click().run()
    assert not at.exception
    assert any("at least one setting" in e.value for e in at.error)
    assert any("No search yet" in i.value for i in at.info)


def test_a_finished_study_is_listed_with_its_status(engine):
    config = RunConfig(data=DataConfig("iris", "species"), model=ModelConfig("logistic"), train=TrainConfig(epochs=2))
    parent_id = create_study(engine, config, [SearchParam("lr", "float", 1e-3, 1e-1, log=True)], 3, name="demo")
    assert run_study(engine, parent_id, should_stop=lambda: True) == "cancelled"
    at = page()
    assert not at.exception
    assert at.selectbox(key="tune_picked").value == parent_id
    assert any(m.label == "Trials" and m.value == "0 / 3" for m in at.metric)
    assert [b.label for b in at.button] == ["Start search", "Resume"]


def _trial(number: int, state: str, value: float | None, **params) -> TrialRow:
    return TrialRow(number=number, state=state, value=value, params=params, run_id=f"r{number}")


def test_best_so_far_and_parallel_coordinates_figures():
    trials = [_trial(0, "complete", 0.8, lr=0.01, optimizer="adam"), _trial(1, "pruned", None, lr=0.1),
              _trial(2, "complete", 0.9, lr=0.001, optimizer="sgd"), _trial(3, "complete", 0.85, lr=0.02,
                                                                          optimizer="adam")]
    best = tune_views.best_so_far_figure(trials, "accuracy", "maximize")
    assert list(best.data[0].x) == [1, 3, 4] and list(best.data[1].y) == [0.8, 0.9, 0.9]  # core's best_so_far
    space = [SearchParam("lr", "float", 1e-3, 1e-1, log=True), SearchParam("optimizer", "choice",
                                                                           choices=("adam", "sgd"))]
    fig = tune_views.parallel_figure(trials, space, "accuracy")
    assert fig is not None and [d.label for d in fig.data[0].dimensions] == ["lr (log)", "optimizer", "val accuracy"]
    assert tune_views.parallel_figure(trials[:2], space, "accuracy") is None  # one complete trial: nothing to relate
    frame = tune_views.trials_frame(trials, "accuracy")
    assert list(frame["state"]) == ["complete", "pruned", "complete", "complete"]


def test_cv_table_and_spread_figure():
    per_fold = [{"accuracy": 0.9, "log_loss": 0.3}, {"accuracy": 0.8, "log_loss": 0.4}, None]
    result = CvResult("p", 3, [FoldResult(i, f"c{i}", s, None, {}) for i, s in
                               ((1, "completed"), (2, "completed"), (3, "failed"))], aggregate(per_fold))
    table = tune_views.cv_table(result)
    assert list(table.columns) == ["metric", "mean", "std", "fold 1", "fold 2", "fold 3"]
    assert table.set_index("metric").loc["accuracy", "mean"] == pytest.approx(0.85)
    fig = tune_views.cv_spread_figure(result)
    assert len(fig.data) == 4  # per metric: the folds' dots and the mean with its std bar
