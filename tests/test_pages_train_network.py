"""Train page: the network diagram of the configured model (AppTest)."""
from __future__ import annotations

from tests.test_pages_train import open_train, widget


def test_the_network_is_drawn_and_follows_the_settings() -> None:
    at = open_train()
    assert not at.exception
    charts = at.get("graphviz_chart")
    assert len(charts) == 1
    dot = charts[0].proto.spec
    assert "Linear 4 → 64" in dot and "Linear 64 → 3" in dot and "4,675 parameters in all" in dot
    assert any(m.label == "Parameters to learn" and m.value == "4,675" for m in at.metric)
    widget(at.text_input, "Hidden layer sizes").set_value("8").run()
    assert not at.exception
    dot = at.get("graphviz_chart")[0].proto.spec
    assert "Linear 4 → 8" in dot and "67 parameters in all" in dot


def test_a_finished_runs_decision_boundary(engine) -> None:
    from tests.test_pages_train import finished_run
    run_id = finished_run(engine, name="boundary-run")
    at = open_train(my_runs=[run_id])
    assert not at.exception
    assert not [c for c in at.get("plotly_chart") if "Decision boundary" in c.proto.spec]  # not until asked
    at.toggle(key="live_boundary_on").set_value(True).run()
    assert at.selectbox(key="live_boundary_run").value == run_id
    charts = [c for c in at.get("plotly_chart") if "Decision boundary at epoch 2 (completed)" in c.proto.spec]
    assert len(charts) == 1
    at.radio(key="live_boundary_mode").set_value("2-D projection (PCA)").run()
    assert not at.exception
    assert any("principal component" in c.proto.spec for c in at.get("plotly_chart"))
