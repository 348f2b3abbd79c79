"""Train in AppTest: the form builds the RunConfig the user chose, Start creates the run, results show."""
from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

from core.config import DataConfig, OptimConfig, RunConfig, ScheduleConfig, TrainConfig
from core.runs.execute import execute_run
from core.vocab import TERMINAL
from tests.helpers import wait_for
from workbench.ui.state import DataChoice

APP = Path(__file__).resolve().parents[1] / "workbench" / "app.py"


def open_train(**session) -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=60)
    for key, value in session.items():
        at.session_state[key] = value
    at.run()
    return at.switch_page("../pages/train.py").run()


def shown(markdown: str) -> str:
    """Text as the reader sees it: user strings are Markdown-escaped on the page."""
    return markdown.replace("\\", "")


def widget(widgets, label: str):
    return next(w for w in widgets if w.label == label)


def finished_run(engine, target: str = "species", name: str | None = None) -> str:
    config = RunConfig(data=DataConfig("iris", target), train=TrainConfig(epochs=2, batch_size=32), name=name)
    run_id = engine.store.create_run(config.to_dict(), name=name, model="mlp", dataset="iris")
    execute_run(engine.store, engine.catalog, run_id)
    return run_id


def test_usable_at_once_with_iris_when_no_data_was_chosen() -> None:
    at = open_train()
    assert not at.exception and not at.error
    assert any("iris sample" in i.value for i in at.info)
    assert widget(at.selectbox, "Sample").value == "iris"
    assert "predict **species**" in " ".join(m.value for m in at.markdown)
    assert widget(at.selectbox, "Model").options == ["Logistic regression", "Neural network (MLP)"]
    assert widget(at.selectbox, "Model").value == "mlp"
    assert widget(at.text_input, "Hidden layer sizes").value == "64, 64"
    cli, yaml_text = (c.value for c in at.code)
    assert cli.startswith("workbench train --data iris --target species") and "--config" not in cli
    assert RunConfig.from_yaml(yaml_text).data.target == "species"
    assert not widget(at.button, "Start training").disabled
    # the widgets start at RunConfig's defaults
    train, optim = TrainConfig(), OptimConfig()
    assert (widget(at.number_input, "Epochs").value, widget(at.number_input, "Batch size").value,
            widget(at.number_input, "Patience (epochs)").value) == (train.epochs, train.batch_size, train.patience)
    assert (widget(at.selectbox, "Optimiser").value, widget(at.number_input, "Learning rate").value) == (
        optim.name, optim.lr)
    assert widget(at.selectbox, "Learning-rate schedule").value == ScheduleConfig().name
    assert RunConfig.from_yaml(yaml_text).train == train


def test_the_data_choice_carries_over_and_limits_the_models() -> None:
    choice = DataChoice(source="diabetes", target="progression", task="regression", roles={"sex": "categorical"},
                        name="diabetes")
    at = open_train(data_choice=choice)
    assert not at.exception and not at.info
    line = shown(" ".join(m.value for m in at.markdown))
    assert "diabetes" in line and "progression" in line and "1 column role(s) changed" in line
    assert widget(at.selectbox, "Model").options == ["Linear regression", "Neural network (MLP)"]
    assert widget(at.selectbox, "Watch").options == ["val loss", "val r2"]
    assert "sex: categorical" in at.code[1].value


def test_start_submits_the_config_the_form_shows(engine) -> None:
    at = open_train()
    widget(at.selectbox, "Optimiser").set_value("sgd").run()
    assert widget(at.number_input, "Momentum").value == 0.9  # sgd's own settings appear
    widget(at.checkbox, "Nesterov momentum").check()
    widget(at.text_input, "Hidden layer sizes").input("8, 4")
    widget(at.number_input, "Learning rate").set_value(0.05)
    widget(at.number_input, "Epochs").set_value(3)
    widget(at.number_input, "Batch size").set_value(16)
    widget(at.selectbox, "Learning-rate schedule").set_value("step").run()
    widget(at.number_input, "Every (epochs)").set_value(2)
    widget(at.number_input, "Weight decay (L2)").set_value(0.001)
    widget(at.number_input, "Patience (epochs)").set_value(2)
    widget(at.selectbox, "Watch").set_value("accuracy")
    widget(at.number_input, "Gradient clipping (0 = off)").set_value(1.0)
    widget(at.selectbox, "Device").set_value("cpu")
    widget(at.number_input, "Seed").set_value(5)
    widget(at.text_input, "Run name").input("apptest-run").run()
    assert not at.exception and not at.error
    assert "--name apptest-run" in at.code[0].value

    widget(at.button, "Start training").click().run()
    assert not at.exception and not at.error
    runs = engine.store.list_runs()
    assert len(runs) == 1
    run = runs[0]
    assert run.name == "apptest-run" and run.status in ("queued", "running", "completed")
    assert at.session_state["my_runs"] == [run.run_id]
    c = RunConfig.from_dict(run.config)
    assert c.data.source == "iris" and c.data.target == "species" and c.data.content_hash
    assert c.model.kind == "mlp" and c.model.params["hidden_sizes"] == [8, 4]
    assert (c.optim.name, c.optim.lr, c.optim.nesterov, c.optim.weight_decay) == ("sgd", 0.05, True, 0.001)
    assert (c.schedule.name, c.schedule.step_size) == ("step", 2)
    t = c.train
    assert (t.epochs, t.batch_size, t.patience, t.monitor, t.grad_clip, t.device, t.seed) == (
        3, 16, 2, "accuracy", 1.0, "cpu", 5)
    assert any(shown(m.value).startswith("**apptest-run**") for m in at.markdown)  # the live panel shows it at once

    # it trains in a worker process; once it ends the page shows its test metrics
    wait_for(lambda: engine.store.get(run.run_id).status in TERMINAL, timeout_s=180, what="the run to end")
    assert engine.store.get(run.run_id).status == "completed", engine.store.get(run.run_id).status_reason
    at.run()
    assert not at.exception
    assert any(m.label == "Test accuracy" for m in at.metric)
    assert at.button(key=f"open_{run.run_id}")


def test_invalid_settings_say_why_and_disable_start() -> None:
    at = open_train()
    widget(at.text_input, "Hidden layer sizes").input("64, lots").run()
    assert not at.exception
    assert any("whole number" in shown(e.value) for e in at.error)
    assert widget(at.button, "Start training").disabled


def test_finished_and_failed_runs_of_this_session(engine) -> None:
    good = finished_run(engine, name="done-run")
    bad = finished_run(engine, target="no_such_column", name="broken-run")
    at = open_train(my_runs=[good, bad])
    assert not at.exception
    errors = shown(" ".join(e.value for e in at.error))
    assert "This run failed" in errors and "no_such_column" in errors and "Traceback" not in errors
    assert any(m.label == "Test accuracy" for m in at.metric)
    assert f"open_{bad}" not in {b.key for b in at.button}  # only a finished run has an evaluation
    at.button(key=f"open_{good}").click().run()
    assert at.session_state["selected_runs"] == [good]
    assert at.title[0].value == "Runs"  # and the Runs page opened


def test_form_values_survive_a_visit_to_another_page() -> None:
    at = open_train()
    widget(at.number_input, "Epochs").set_value(7).run()
    at.switch_page("../pages/home.py").run()
    at.switch_page("../pages/train.py").run()
    assert not at.exception
    assert widget(at.number_input, "Epochs").value == 7


def test_active_runs_show_from_the_store_with_queue_places_and_stop(engine) -> None:
    import os

    store = engine.store
    config = RunConfig(data=DataConfig("iris", "species")).to_dict()
    running = store.create_run(config, name="busy-run", model="mlp", dataset="iris")
    store.update(running, pid=os.getpid())
    store.set_status(running, "running")
    store.heartbeat(running, {"epoch": 4, "epochs": 20, "fraction": 0.2, "eta_s": 30, "samples_per_s": 900.0,
                              "batch_size": 8, "device": "cpu", "gpu_mem_mb": None,
                              "events": ["out of memory at batch size 16: retrying the epoch with batch size 8"]})
    # queued by another app process (still alive), so this test's run manager leaves them alone
    waiting = []
    for name in ("next-run", "later-run"):
        run_id = store.create_run(config, name=name, model="mlp", dataset="iris", owner_pid=os.getppid(),
                                  queue_device="cpu")
        waiting.append(run_id)

    at = open_train()  # a fresh session: nothing in my_runs, the store still knows
    assert not at.exception and not at.error
    assert at.progress[0].proto.text == "Epoch 4 / 20"
    stats = {m.label: m.value for m in at.metric}
    assert stats["Time left"] == "30 s" and stats["Samples / s"] == "900" and stats["Batch size"] == "8"
    assert any("retrying the epoch with batch size 8" in shown(c.value) for c in at.caption)
    places = [i.value for i in at.info if "queue" in i.value]
    assert ["number 1" in places[0], "number 2" in places[1]] == [True, True]

    at.button(key=f"stop_{waiting[1]}").click().run()
    assert store.get(waiting[1]).status == "cancelled"
    assert store.get(waiting[0]).status == "queued"
    for run_id in (running, waiting[0]):  # leave nothing active behind
        store.request_stop(run_id)
        store.set_status(run_id, "cancelled", "test over")


def test_cross_validation_checkbox_starts_a_parent_with_folds(engine):
    at = open_train()
    at.checkbox(key="tf_cv").check().run()
    at.number_input(key="tf_cv_k").set_value(3).run()
    next(b for b in at.button if b.label == "Start training").click().run()
    assert not at.exception
    parents = [r for r in engine.store.list_runs() if r.parent_id is None and "cv" in r.tags]
    assert len(parents) == 1
    assert len(engine.store.list_runs(parent_id=parents[0].run_id)) == 3
    for run in engine.store.list_runs():
        engine.manager.stop(run.run_id)


def test_the_name_clears_after_a_start_a_taken_name_is_said_and_reset_restores_defaults(engine) -> None:
    finished_run(engine, name="baseline")
    at = open_train()
    widget(at.number_input, "Epochs").set_value(2)
    widget(at.text_input, "Run name").input("baseline").run()
    assert "will be 'baseline (2)'" in shown(" ".join(c.value for c in at.caption))
    widget(at.button, "Start training").click().run()
    assert not at.exception and not at.error
    started = engine.store.get(at.session_state["my_runs"][0])
    assert started.name == "baseline (2)"
    assert widget(at.text_input, "Run name").value == ""  # ready for the next run
    assert widget(at.number_input, "Epochs").value == 2  # the other settings stay
    widget(at.button, "Reset to defaults").click().run()
    assert widget(at.number_input, "Epochs").value == TrainConfig().epochs
    assert widget(at.selectbox, "Model").value == "mlp"
    engine.manager.stop(started.run_id)


def test_a_reload_keeps_the_sessions_runs(engine) -> None:
    run_id = finished_run(engine, name="kept-over-reload")
    at = open_train(my_runs=[run_id])
    token = at.query_params["s"][0] if isinstance(at.query_params["s"], list) else at.query_params["s"]
    assert any(shown(m.value).startswith("**kept-over-reload**") for m in at.markdown)
    reloaded = AppTest.from_file(str(APP), default_timeout=60)
    reloaded.query_params["s"] = token  # the same URL in a new browser session
    reloaded.run()
    reloaded = reloaded.switch_page("../pages/train.py").run()
    assert not reloaded.exception
    assert reloaded.session_state["my_runs"] == [run_id]
    assert any(shown(m.value).startswith("**kept-over-reload**") for m in reloaded.markdown)


def test_with_a_ray_cluster_configured_the_page_asks_where_to_train(monkeypatch, engine) -> None:
    monkeypatch.setenv("WORKBENCH_RAY_ADDRESS", "http://head:8265")
    at = open_train()
    where = widget(at.radio, "Train on")
    assert where.options == ["The Ray cluster (`http://head:8265`)", "This machine"] and where.value == "ray"
    devices = widget(at.selectbox, "Device").options
    assert any("Ray node" in o for o in devices) or any("GPU" in o for o in devices[1:])  # a GPU to ask for
    where.set_value("local").run()
    widget(at.number_input, "Epochs").set_value(1).run()
    widget(at.button, "Start training").click().run()
    assert not at.exception and not at.error
    (run,) = engine.store.list_runs()
    assert run.executor is None  # this machine's worker, though a cluster is configured


def test_a_ray_cluster_that_does_not_answer_is_said_in_words(monkeypatch, engine) -> None:
    monkeypatch.setenv("WORKBENCH_RAY_ADDRESS", "http://127.0.0.1:9")  # nothing listens there
    at = open_train()
    widget(at.button, "Start training").click().run()
    assert not at.exception
    said = " ".join(e.value for e in at.error)
    assert "no Ray cluster answers at http://127.0.0.1:9" in shown(said) and "Traceback" not in said
    (run,) = engine.store.list_runs()
    assert run.status == "failed" and run.status_reason.startswith("Ray did not take the run")


def test_without_a_ray_cluster_there_is_no_choice_of_where() -> None:
    assert not [r for r in open_train().radio if r.label == "Train on"]
