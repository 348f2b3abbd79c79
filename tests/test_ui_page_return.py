"""Leave a page and come back: every page draws again without an error (widget values kept across
pages are put back into session state, which Streamlit refuses for buttons and charts)."""
from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core.config import DataConfig, ModelConfig, RunConfig, TrainConfig
from core.runs.execute import execute_run
from core.tuning.search import create_study, run_study
from core.tuning.space import SearchParam
from workbench.ui.common import PAGES

APP = Path(__file__).resolve().parents[1] / "workbench" / "app.py"


@pytest.fixture
def filled(engine):
    """A finished run and a stopped study, so the Runs, Explain, Export and Tune pages draw everything."""
    config = RunConfig(data=DataConfig("iris", "species"), model=ModelConfig("logistic"), train=TrainConfig(epochs=2))
    run_id = engine.store.create_run(config.to_dict(), model="logistic", dataset="iris")
    assert execute_run(engine.store, engine.catalog, run_id) == "completed"
    parent = create_study(engine, config, [SearchParam("lr", "float", 1e-3, 1e-1, log=True)], 2, name="demo")
    run_study(engine, parent, should_stop=lambda: True)
    return run_id


@pytest.mark.parametrize("page", [p.name for p in PAGES if p.name != "home"])
def test_a_page_draws_again_after_a_visit_elsewhere(filled, page: str) -> None:
    at = AppTest.from_file(str(APP), default_timeout=120).run()
    at.session_state["selected_runs"] = [filled]
    for target in (page, "home", page, "data", page):
        at.switch_page(f"../pages/{target}.py").run()
        assert not at.exception, (target, [e.value for e in at.exception])
