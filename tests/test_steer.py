"""Steering a live run (pause, resume, learning rate), resuming a stopped run from its checkpoint,
and what a stopped run keeps (test metrics of its kept weights; it explains and exports)."""
from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
from safetensors.torch import load_file

from core.config import DataConfig, ModelConfig, OptimConfig, RunConfig, ScheduleConfig, TrainConfig
from core.engine import Engine
from core.errors import ConfigError, WorkbenchError
from core.export import export_bundle
from core.explain import ShapParams, explain_shap
from core.explain.rows import test_rows as first_test_rows
from core.runs import checkpoints
from core.runs.execute import execute_run
from core.runs.resume import reopen, why_not_resumable
from core.runs.steering import lr_changes
from core.training.callbacks import Callback, CancelFit
from tests.helpers import wait_for


def iris(epochs: int, **train) -> RunConfig:
    return RunConfig(data=DataConfig("iris", "species"),
                     model=ModelConfig("mlp", {"hidden_sizes": [16], "dropout": 0.2}),
                     optim=OptimConfig(name="adam", lr=0.01), schedule=ScheduleConfig(name="cosine"),
                     train=TrainConfig(epochs=epochs, batch_size=16, early_stopping=False, device="cpu", **train))


class StopAtStep(Callback):
    """Stops the fit after global step `step` (mid-epoch), as a user's stop would between two steps."""

    def __init__(self, step: int):
        self.step = step

    def on_step_end(self, trainer, *, step: int, **kwargs) -> None:
        if step == self.step:
            raise CancelFit("stopped by the user")


def train_losses(engine: Engine, run_id: str) -> dict[int, float]:
    rows = [r for r in engine.store.epoch_rows(run_id) if r["split"] == "train" and r["name"] == "loss"]
    epochs = [r["epoch"] for r in rows]
    assert len(epochs) == len(set(epochs)), f"an epoch logged twice: {epochs}"
    return {r["epoch"]: r["value"] for r in rows}


def test_pause_change_lr_and_resume_a_live_run(engine: Engine) -> None:
    store = engine.store
    run_id = store.create_run(iris(100_000).evolve(schedule={"name": "constant"}).to_dict())
    ended: list[str] = []
    worker = threading.Thread(target=lambda: ended.append(execute_run(store, engine.catalog, run_id)))
    worker.start()
    try:
        wait_for(lambda: store.get(run_id).progress.get("epoch", 0) >= 2, 60, what="training")
        store.request_control(run_id, "lr", 0.00123)
        wait_for(lambda: lr_changes(store, run_id), 30, what="the lr change applied")
        store.request_control(run_id, "pause")
        wait_for(lambda: store.get(run_id).status == "paused", 30, what="paused")
        held = store.get(run_id)
        beat = held.heartbeat_at
        wait_for(lambda: store.get(run_id).heartbeat_at > beat, 10, what="a heartbeat while paused")
        still = store.get(run_id)
        assert still.status == "paused" and (still.progress["epoch"], still.progress["step"]) == \
            (held.progress["epoch"], held.progress["step"])
        assert any("paused at epoch" in e for e in still.progress["events"])
        store.request_control(run_id, "resume")
        wait_for(lambda: store.get(run_id).status == "running", 30, what="resumed")
        wait_for(lambda: store.get(run_id).progress["epoch"] > held.progress["epoch"] + 1, 30, what="training on")
    finally:
        store.request_stop(run_id)  # a paused run stops too
        worker.join(60)
    record = store.get(run_id)
    assert ended == ["cancelled"] and record.status == "cancelled", record.status_reason
    change = lr_changes(store, run_id)[0]
    assert change["lr"] == pytest.approx(0.00123) and change["epoch"] >= 1
    assert any("learning rate 0.01 \u2192 0.00123" in e for e in record.summary["events"])
    lrs = [r["value"] for r in store.epoch_rows(run_id) if r["name"] == "lr"]
    assert lrs[0] == pytest.approx(0.01) and lrs[-1] == pytest.approx(0.00123)
    with pytest.raises(WorkbenchError, match="cancelled"):
        store.request_control(run_id, "pause")


def test_controls_are_kept_and_checked(workspace: Path, db_url: str) -> None:
    """run_controls on SQLite and PostgreSQL: asked, pending in order, applied with their epoch, dropped
    when a stopped run is reopened, gone with the run."""
    from core.runs.store import RunStore

    store = RunStore(workspace, db_url)
    run_id = store.create_run(iris(3).to_dict())
    for bad in (0, -1, float("nan"), "fast", None):
        with pytest.raises(ConfigError, match="positive number"):
            store.request_control(run_id, "lr", bad)
    with pytest.raises(ConfigError, match="unknown control"):
        store.request_control(run_id, "rewind")
    first = store.request_control(run_id, "pause")
    store.request_control(run_id, "lr", 0.5)
    assert [(c.action, c.value) for c in store.pending_controls(run_id)] == [("pause", None), ("lr", 0.5)]
    store.mark_control_applied(first, 1.5, "paused at epoch 2, step 3")
    assert [c.action for c in store.pending_controls(run_id)] == ["lr"]
    assert store.controls(run_id)[0].applied_epoch == 1.5
    store.set_status(run_id, "cancelled", "stopped by the user")
    with pytest.raises(WorkbenchError, match="cancelled"):
        store.request_control(run_id, "resume")
    store.reopen(run_id)
    record = store.get(run_id)
    assert (record.status, record.ended_at, record.status_reason, record.stop_requested) == ("queued", None, None,
                                                                                              False)
    assert store.pending_controls(run_id) == []  # asked of the run that ended, not of this one
    store.delete(run_id)
    assert store.controls(run_id) == []


def test_a_stopped_run_resumes_as_if_it_never_stopped(engine: Engine, tmp_path: Path) -> None:
    """Stopped mid-epoch, then resumed: the same weights, losses and learning rates as an unbroken run
    (dropout and the row order draw from the saved random state), its epochs continuing its own metrics."""
    store = engine.store
    whole = store.create_run(iris(8).to_dict())
    assert execute_run(store, engine.catalog, whole) == "completed"
    broken = store.create_run(iris(8).to_dict())
    steps = 7  # 96 training rows in batches of 16: step 3/epoch 4 is 21, so 7 is epoch 2, step 1
    assert execute_run(store, engine.catalog, broken, callbacks=[StopAtStep(steps * 3 + 2)]) == "cancelled"
    stopped = store.get(broken)
    # what a stopped run keeps: its weights as a model, measured on the test rows
    assert stopped.has_model and stopped.summary["kept_model"] and stopped.metrics["test"]["accuracy"] > 0
    assert stopped.summary["stopped_at"] == {"epoch": 4, "step": 2, "epochs": 8}
    assert set(train_losses(engine, broken)) == {1, 2, 3}
    assert why_not_resumable(store, stopped) is None
    export_bundle(store, engine.catalog, broken, tmp_path / "bundle")
    assert explain_shap(store, engine.catalog, broken, rows=first_test_rows(store, broken, 5),
                        params=ShapParams(background=10)).rows

    reopen(store, broken)
    assert execute_run(store, engine.catalog, broken) == "completed"
    resumed = store.get(broken)
    assert any("resumed from its checkpoint in epoch 4, after step 2" in e for e in resumed.summary["events"])
    assert train_losses(engine, broken) == pytest.approx(train_losses(engine, whole), rel=1e-5)
    a = load_file(store.run_dir(whole) / "model.safetensors")
    b = load_file(store.run_dir(broken) / "model.safetensors")
    assert all((a[k] - b[k]).abs().max() < 1e-5 for k in a)
    assert not checkpoints.exists(store.run_dir(broken))  # completed: nothing left to resume


def test_resume_cli_says_why_not_and_goes_on(engine: Engine, capsys: pytest.CaptureFixture[str]) -> None:
    from workbench.cli import main

    store = engine.store
    done = store.create_run(iris(2).to_dict())
    assert execute_run(store, engine.catalog, done) == "completed"
    bare = store.create_run(iris(2).to_dict())
    store.set_status(bare, "cancelled", "stopped by the user")
    for run_id, why in ((done, "is completed"), (bare, "no checkpoint")):
        assert main(["resume", run_id, "--json", "--quiet"]) == 2
        said = capsys.readouterr().err
        assert why in said and "Traceback" not in said, said
    stopped = store.create_run(iris(3).to_dict())
    assert execute_run(store, engine.catalog, stopped, callbacks=[StopAtStep(9)]) == "cancelled"
    assert main(["resume", stopped, "--json", "--quiet"]) == 0
    result = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert result["status"] == "completed" and result["metrics"]["test"]["accuracy"] > 0
    assert set(train_losses(engine, stopped)) == {1, 2, 3}
    assert store.get(stopped).executor == "cli"


def test_runs_page_shows_what_a_stopped_run_kept_and_resumes_it(engine: Engine) -> None:
    """The Runs page: a stopped run's test metrics and evaluation, and 'Resume from its checkpoint'
    queues it again for the app's own run manager, which trains it to the end as the same run."""
    from streamlit.testing.v1 import AppTest

    store = engine.store
    run_id = store.create_run(iris(3).to_dict(), name="stopped-run")
    assert execute_run(store, engine.catalog, run_id, callbacks=[StopAtStep(10)]) == "cancelled"
    at = AppTest.from_file(str(Path(__file__).resolve().parents[1] / "pages" / "runs.py"), default_timeout=60)
    at.session_state["selected_runs"] = [run_id]
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    warning = "\n".join(w.value for w in at.warning)
    assert "stopped before it finished" in warning and "kept its weights from epoch 2 of 3" in warning
    assert "Test accuracy" in [m.label for m in at.metric]
    assert len(at.get("plotly_chart")) >= 3  # its curves, and the confusion matrix of the kept weights
    at.button(key=f"runs_continue_{run_id}").click().run(timeout=60)
    assert not at.exception, [e.value for e in at.exception]
    wait_for(lambda: store.get(run_id).status == "completed", 180, what="the resumed run completed")
    assert set(train_losses(engine, run_id)) == {1, 2, 3}


class ChangeLrAt(Callback):
    """Asks the trainer for a new learning rate after global step `step`, as Steering does."""

    def __init__(self, step: int, lr: float):
        self.step, self.lr = step, lr

    def on_step_end(self, trainer, *, step: int, **kwargs) -> None:
        if step == self.step:
            trainer.set_learning_rate(self.lr)


def _fit_trainer(callbacks, *, graphs: bool, resume=None, schedule: str = "constant", device: str = "cuda"):
    import numpy as np
    import torch

    from core.models import build_model
    from core.training.trainer import Trainer

    g = np.random.default_rng(0)
    X = g.standard_normal((256, 5)).astype(np.float32)
    y = (X[:, 0] > 0).astype(np.int64) + (X[:, 1] > 1).astype(np.int64)
    config = RunConfig(data=DataConfig("synthetic", "y"), model=ModelConfig("mlp", {"hidden_sizes": [8]}),
                       optim=OptimConfig("adam", lr=0.01), schedule=ScheduleConfig(name=schedule),
                       train=TrainConfig(epochs=4, batch_size=32, device=device, early_stopping=False))
    torch.manual_seed(0)
    trainer = Trainer(config, "multiclass", callbacks, cuda_graphs=graphs, resume=resume)
    try:
        trainer.fit(build_model("mlp", {"hidden_sizes": [8]}, 5, 3), X[:192], y[:192], X[192:], y[192:])
    except CancelFit:
        pass
    return trainer


class HalveLrAt(Callback):
    """Halves the learning rate after global step `step`, noting the rate it found."""

    def __init__(self, step: int):
        self.step, self.found = step, None

    def on_step_end(self, trainer, *, step: int, **kwargs) -> None:
        if step == self.step:
            self.found = trainer.progress()["lr"]
            self.words = trainer.set_learning_rate(self.found / 2)


@pytest.mark.parametrize("schedule", ["cosine", "step", "onecycle"])
def test_a_schedule_goes_on_from_the_new_rate(schedule: str) -> None:
    """Halved mid-epoch 2: from there on every rate is half the unchanged run's, the schedule's shape kept."""
    plain = _fit_trainer([], graphs=False, schedule=schedule, device="cpu")
    halve = HalveLrAt(9)
    steered = _fit_trainer([halve], graphs=False, schedule=schedule, device="cpu")
    before = [row["lr"] for row in plain.history_]
    after = [row["lr"] for row in steered.history_]
    assert after[0] == pytest.approx(before[0])
    assert after[1:] == pytest.approx([lr / 2 for lr in before[1:]], rel=1e-6)
    assert halve.words.startswith(f"learning rate {halve.found:.4g} \u2192 {halve.found / 2:.4g} from the step "
                                  "after epoch 2, step 3 (the schedule goes on from it)")


@pytest.mark.gpu
@pytest.mark.parametrize("schedule", ["constant", "cosine"])
def test_a_new_learning_rate_reaches_a_cuda_graph(schedule: str) -> None:
    """A graph with the rate baked in (constant schedule) is dropped and captured again; one that reads
    it from the device (a schedule) follows it: either way the same weights as eager steps."""
    graphed = _fit_trainer([ChangeLrAt(9, 0.002)], graphs=True, schedule=schedule)
    eager = _fit_trainer([ChangeLrAt(9, 0.002)], graphs=False, schedule=schedule)
    assert graphed.step_mode_ == "cuda-graph" and eager.step_mode_ == "eager"
    lrs = [row["lr"] for row in graphed.history_]
    assert lrs == pytest.approx([row["lr"] for row in eager.history_])
    for name, value in graphed.model_.state_dict().items():
        assert (value - eager.model_.state_dict()[name]).abs().max() < 1e-5, name


@pytest.mark.gpu
def test_a_cuda_graph_run_resumes_mid_epoch() -> None:
    whole = _fit_trainer([], graphs=True, schedule="cosine")
    broken = _fit_trainer([StopAtStep(14)], graphs=True, schedule="cosine")
    assert broken.stopped_state_ is not None and broken.stopped_state_["step_in_epoch"] == 2
    resumed = _fit_trainer([], graphs=True, schedule="cosine", resume=broken.stopped_state_)
    assert [r["train/loss"] for r in resumed.history_] == pytest.approx([r["train/loss"] for r in whole.history_],
                                                                         rel=1e-4)
    for name, value in resumed.model_.state_dict().items():
        assert (value - whole.model_.state_dict()[name]).abs().max() < 1e-4, name
