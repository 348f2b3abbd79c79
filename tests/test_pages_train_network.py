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
