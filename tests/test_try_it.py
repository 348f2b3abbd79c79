"""Try it: the fields come from the run's schema, a typed row gets the model's answer (the same as the
model's on that row), the Export page follows each change; the prediction server starts and stops."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from core.config import DataConfig, ModelConfig, RunConfig, TrainConfig
from core.engine import Engine
from core.errors import DataError
from core.export import try_it
from core.runs.execute import execute_run
from core.runs.trained import TrainedModel
from workbench.ui.serving import Servers, healthy

PAGE = str(Path(__file__).resolve().parents[1] / "pages" / "export.py")


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    workspace = tmp_path_factory.mktemp("try-it")
    engine = Engine(workspace)
    ids = {}
    for source, target in (("tips", "day"), ("diabetes", "progression")):
        config = RunConfig(data=DataConfig(source, target), model=ModelConfig(params={"hidden_sizes": [8]}),
                           train=TrainConfig(epochs=3, device="cpu"))
        ids[source] = engine.store.create_run(config.to_dict(), model="mlp", dataset=source, name=f"{source}-try")
        assert execute_run(engine.store, engine.catalog, ids[source]) == "completed"
    engine.close()
    return workspace, ids


def _trained(runs, source: str) -> TrainedModel:
    workspace, ids = runs
    return TrainedModel.load(workspace / "runs" / ids[source])


def test_fields_start_at_the_training_medians_and_levels(runs) -> None:
    trained = _trained(runs, "tips")
    fields = {f.name: f for f in try_it.input_fields(trained)}
    assert list(fields) == trained.schema.features
    frame = pd.read_csv(Path(__file__).resolve().parents[1] / "sample_data" / "tips.csv")
    bill = fields["total_bill"]
    assert bill.kind == "number" and bill.default == pytest.approx(trained.preprocessor.numeric_["total_bill"].median, rel=1e-3)
    assert abs(bill.default - frame["total_bill"].median()) < 3  # the training rows' median, near the file's
    sex = fields["sex"]
    assert sex.kind == "choice" and set(sex.choices) == {"Female", "Male"} and sex.default in sex.choices
    assert "between" in bill.hint and "level" in sex.hint


def test_a_typed_row_gets_the_models_own_answer(runs) -> None:
    trained = _trained(runs, "tips")
    row = {f.name: f.default for f in try_it.input_fields(trained)} | {"total_bill": 40.0, "sex": "Female"}
    answer = try_it.predict_row(trained, row)
    table = trained.predict_frame(pd.DataFrame([row]))
    assert answer.prediction == table.iloc[0]["prediction"]
    assert list(answer.probabilities.values()) == sorted(answer.probabilities.values(), reverse=True)
    assert sum(answer.probabilities.values()) == pytest.approx(1.0)
    assert answer.probabilities[answer.prediction] == answer.confidence
    assert try_it.predict_row(trained, {}).prediction in trained.schema.classes  # every field at its default
    with pytest.raises(DataError, match="total_bill"):
        try_it.predict_row(trained, {"total_bill": "a lot"})
    value = try_it.predict_row(_trained(runs, "diabetes"), {"bmi": 35.0})
    assert isinstance(value.prediction, float) and value.probabilities == {}


def test_the_export_page_answers_each_change(runs, monkeypatch) -> None:
    workspace, ids = runs
    monkeypatch.setenv("WORKBENCH_HOME", str(workspace))
    at = AppTest.from_file(PAGE, default_timeout=120)
    at.session_state["selected_runs"] = [ids["tips"]]
    at.run()
    assert not at.exception and not at.error
    trained = _trained(runs, "tips")
    predicted = next(m for m in at.metric if m.label == "Predicted day")
    assert predicted.value == try_it.predict_row(trained, {}).prediction
    at.number_input(key=f"try_{ids['tips']}_total_bill").set_value(48.0).run()
    at.selectbox(key=f"try_{ids['tips']}_time").set_value("Lunch").run()
    assert not at.exception
    expected = try_it.predict_row(trained, {"total_bill": 48.0, "time": "Lunch"}).prediction
    assert next(m for m in at.metric if m.label == "Predicted day").value == expected
    assert at.button(key=f"serve_start_{ids['tips']}")  # the server as a button, not only a command


def test_the_server_button_starts_and_stops_a_real_server(runs) -> None:
    workspace, ids = runs
    servers = Servers(workspace)
    try:
        state = servers.start(ids["diabetes"])
        assert state.running and servers.start(ids["diabetes"]).port == state.port  # started once
        from tests.helpers import wait_for

        wait_for(lambda: servers.state(ids["diabetes"]).ready, timeout_s=120, what="the server to answer")
        assert healthy(state.port)
    finally:
        servers.stop(ids["diabetes"])
    assert servers.state(ids["diabetes"]) is None and not healthy(state.port)
    dead = servers.start("0000-000000-nosuch")  # a run that is not there: the server stops, and says why
    wait_for(lambda: not servers.state(dead.run_id).running, timeout_s=120, what="the bad server to stop")
    assert "nosuch" in servers.state(dead.run_id).log_tail
    servers.stop_all()


def test_a_sequence_model_is_not_tried_on_one_row() -> None:
    class Seq:
        data_kind = "sequence"

    assert "window" in try_it.can_try(Seq())
