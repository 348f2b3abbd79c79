"""k-fold cross-validation: folds, child runs, mean +- std (ddof=0), the CLI's --cv, stopping."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from core.config import DataConfig, ModelConfig, RunConfig, TrainConfig
from core.data.split import FOLDS_FILE, SPLIT_FILE, load_folds, load_split
from core.tuning.cv import DDOF, aggregate, cv_result, cv_splits, finalize_cv, run_cv_inline, stop_cv, submit_cv
from tests.helpers import wait_for
from workbench.cli import main

IRIS = RunConfig(data=DataConfig("iris", "species"), model=ModelConfig("mlp", {"hidden_sizes": [16]}),
                 train=TrainConfig(epochs=3, batch_size=16))


def iris_y() -> np.ndarray:
    from core.data import SAMPLE_DIR

    return pd.read_csv(SAMPLE_DIR / "iris.csv")["species"].to_numpy()


def test_folds_partition_rows_and_are_stratified_and_seeded():
    y = iris_y()
    folds = cv_splits(y, "multiclass", 3, val_fraction=0.2, seed=0)
    tests = np.concatenate([f.test for f in folds])
    assert sorted(tests.tolist()) == list(range(len(y)))  # every row is tested exactly once
    for f in folds:
        assert not (set(f.train) & set(f.val) or set(f.train) & set(f.test) or set(f.val) & set(f.test))
        assert len(f.train) + len(f.val) + len(f.test) == len(y)
        assert len(f.val) == pytest.approx(0.2 * (len(y) - len(f.test)), abs=1)
        counts = pd.Series(y[f.test]).value_counts()
        assert counts.max() - counts.min() <= 1  # stratified: 50 per class -> 16 or 17 per fold
    again = cv_splits(y, "multiclass", 3, val_fraction=0.2, seed=0)
    other = cv_splits(y, "multiclass", 3, val_fraction=0.2, seed=1)
    assert all(np.array_equal(a.test, b.test) and np.array_equal(a.val, b.val) for a, b in zip(folds, again))
    assert not all(np.array_equal(a.test, b.test) for a, b in zip(folds, other))


def test_regression_folds_and_bad_k():
    y = np.random.default_rng(0).normal(size=40)
    folds = cv_splits(y, "regression", 4)
    assert sorted(np.concatenate([f.test for f in folds]).tolist()) == list(range(40))
    from core.errors import WorkbenchError

    with pytest.raises(WorkbenchError, match="between 2 and"):
        cv_splits(y, "regression", 1)
    with pytest.raises(WorkbenchError, match="too few"):
        cv_splits(y[:8], "regression", 4)


def test_aggregate_is_numpy_mean_and_population_std():
    folds = [{"accuracy": 0.9, "log_loss": 0.3}, None, {"accuracy": 0.8, "log_loss": float("nan")},
             {"accuracy": 0.6, "log_loss": 0.5}]
    out = aggregate(folds)
    assert DDOF == 0
    assert out["accuracy"]["mean"] == pytest.approx(np.mean([0.9, 0.8, 0.6]))
    assert out["accuracy"]["std"] == pytest.approx(np.std([0.9, 0.8, 0.6], ddof=0))
    assert out["accuracy"]["folds"] == [0.9, None, 0.8, 0.6]  # one entry per fold, in fold order
    assert out["log_loss"]["folds"] == [0.3, None, None, 0.5]  # NaN is no value
    assert out["log_loss"]["std"] == pytest.approx(np.std([0.3, 0.5]))


def test_cv_on_iris_gives_k_child_runs_and_their_mean_std(engine):
    parent_id = run_cv_inline(engine.store, engine.catalog, IRIS, 3)
    parent = engine.store.get(parent_id)
    assert parent.status == "completed" and parent.tags == ["cv"]
    assert parent.model == "mlp" and parent.dataset == "iris" and parent.task == "multiclass"
    children = sorted(engine.store.list_runs(parent_id=parent_id), key=lambda r: r.name)
    assert len(children) == 3 and all(c.status == "completed" for c in children)
    folds = load_folds(engine.store.run_dir(parent_id) / FOLDS_FILE)
    for child, fold in zip(children, folds):  # each child trained and tested on its own fold
        split = load_split(engine.store.artifact_path(child.run_id, "split"))
        assert np.array_equal(split.test, fold.test) and np.array_equal(split.train, fold.train)
    cv = parent.metrics["cv"]
    for name in ("accuracy", "f1_macro", "log_loss"):
        values = [c.metrics["test"][name] for c in children]
        assert cv[name]["folds"] == pytest.approx(values)
        assert cv[name]["mean"] == pytest.approx(np.mean(values))
        assert cv[name]["std"] == pytest.approx(np.std(values, ddof=0))
        assert parent.metrics["test"][name] == pytest.approx(np.mean(values))  # tables show the means
    assert {f["status"] for f in parent.summary["folds"]} == {"completed"}


def test_cli_train_cv_json(capsys):
    code = main(["train", "--data", "iris", "--target", "species", "--cv", "3", "--epochs", "3", "--json", "--quiet"])
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert code == 0 and result["status"] == "completed" and len(result["folds"]) == 3
    accuracy = result["metrics"]["cv"]["accuracy"]
    assert set(accuracy) == {"mean", "std", "folds"} and len(accuracy["folds"]) == 3
    assert accuracy["mean"] == pytest.approx(np.mean(accuracy["folds"]))
    assert result["metrics"]["test"]["accuracy"] == pytest.approx(accuracy["mean"])


def test_cli_cv_bad_k_is_one_line_exit_2(capsys):
    assert main(["train", "--data", "iris", "--target", "species", "--cv", "1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "between 2 and" in err[0]


def test_parent_fails_only_when_every_fold_failed(engine):
    def parent_with(statuses: list[str]) -> str:
        parent = engine.store.create_run(IRIS.to_dict(), status="running", tags=("cv",))
        engine.store.update(parent, summary={"cv_folds": len(statuses)})
        for i, status in enumerate(statuses, start=1):
            child = engine.store.create_run(IRIS.to_dict(), parent_id=parent, tags=("cv-fold", f"fold:{i}"))
            engine.store.set_status(child, status, f"reason {i}")
        return parent

    failed = parent_with(["failed", "failed"])
    assert finalize_cv(engine.store, failed)
    assert engine.store.get(failed).status == "failed"
    assert "every fold failed" in engine.store.get(failed).status_reason
    stopped = parent_with(["cancelled", "failed"])
    finalize_cv(engine.store, stopped)
    assert engine.store.get(stopped).status == "failed"
    still = parent_with(["completed", "running"])
    assert not finalize_cv(engine.store, still) and engine.store.get(still).status == "running"
    assert cv_result(engine.store, still).done is False


def test_stop_cv_through_the_manager_leaves_nothing_running(engine):
    long = RunConfig(data=DataConfig("digits", "label"), model=ModelConfig("mlp", {"hidden_sizes": [32]}),
                     train=TrainConfig(epochs=200, batch_size=4, early_stopping=False))
    parent_id = submit_cv(engine, long, 3)
    children = engine.store.list_runs(parent_id=parent_id)
    assert len(children) == 3 and all(c.parent_id == parent_id for c in children)
    wait_for(lambda: any(c.status == "running" for c in engine.store.list_runs(parent_id=parent_id)), 60,
             what="a fold running")
    stop_cv(engine, parent_id)
    active = ("queued", "running")
    wait_for(lambda: engine.store.get(parent_id).status not in active, 30, what="the parent to end")
    assert all(c.status not in active for c in engine.store.list_runs(parent_id=parent_id))
    assert engine.store.get(parent_id).status == "cancelled"


def test_submit_cv_trains_each_fold_in_a_worker(engine):
    parent_id = submit_cv(engine, IRIS, 2)  # two folds: each worker's start-up is most of the time here
    folds = load_folds(engine.store.run_dir(parent_id) / FOLDS_FILE)
    # each fold's split file is in its child's folder from the moment it is queued: the worker reads it there
    for child in engine.store.list_runs(parent_id=parent_id):
        number = int(child.name.rsplit("fold", 1)[1])
        given = load_split(engine.store.run_dir(child.run_id) / SPLIT_FILE)
        assert np.array_equal(given.test, folds[number - 1].test) and np.array_equal(given.val, folds[number - 1].val)
    # one worker after another, each importing torch: minutes when the machine is shared, seconds when not
    wait_for(lambda: engine.store.get(parent_id).status not in ("queued", "running"), 300, what="the CV parent")
    parent = engine.store.get(parent_id)
    assert parent.status == "completed", parent.status_reason
    children = sorted(engine.store.list_runs(parent_id=parent_id), key=lambda r: r.name)
    for child, fold in zip(children, folds):
        assert np.array_equal(load_split(engine.store.artifact_path(child.run_id, "split")).test, fold.test)
    values = [c.metrics["test"]["accuracy"] for c in children]
    assert parent.metrics["cv"]["accuracy"]["mean"] == pytest.approx(np.mean(values))


def _ended_fold(store, parent: str, number: int, accuracy: float) -> str:
    child = store.create_run(IRIS.to_dict(), parent_id=parent, tags=("cv-fold", f"fold:{number}"))
    store.set_status(child, "running")
    assert store.set_status(child, "completed", summary={"metrics": {"test": {"accuracy": accuracy}}})
    return child


def test_two_finalizers_write_the_parent_once_from_the_folds_final_metrics(engine, workspace):
    """The manager's ended-run hook and stop_cv may finalize one parent side by side. Forced here: the
    rival runs to its end between this finalizer's reading of the folds and its write."""
    from core.runs.store import RunStore

    parent = engine.store.create_run(IRIS.to_dict(), status="running", tags=("cv",))
    engine.store.update(parent, summary={"cv_folds": 2})
    folds = [_ended_fold(engine.store, parent, 1, 0.5), _ended_fold(engine.store, parent, 2, 0.75)]
    # a fold's final metrics came with its terminal status; a late writer (a second worker) changes nothing
    assert not engine.store.set_status(folds[0], "completed", summary={"metrics": {"test": {"accuracy": 0.0}}})
    assert engine.store.get(folds[0]).metrics["test"]["accuracy"] == 0.5

    class RivalFirst(RunStore):
        writes: list[bool] = []

        def set_status(self, run_id, status, reason=None, **fields):
            if run_id == parent and not self.writes:
                self.writes.append(finalize_cv(engine.store, parent))  # the rival, to its end
            self.writes.append(super().set_status(run_id, status, reason, **fields))
            return self.writes[-1]

    assert finalize_cv(RivalFirst(workspace), parent)
    assert RivalFirst.writes == [True, False]  # the rival's write stands; this one's changed nothing
    record = engine.store.get(parent)
    assert record.status == "completed" and record.metrics["cv"]["accuracy"]["folds"] == [0.5, 0.75]
    assert record.metrics["test"]["accuracy"] == pytest.approx(0.625)
    assert finalize_cv(engine.store, parent) and engine.store.get(parent).ended_at == record.ended_at


def test_a_fold_that_has_ended_is_not_trained_again(engine):
    """A worker started for a run that ended meanwhile (stopped while queued) leaves it as it is."""
    from core.runs.execute import execute_run

    run_id = engine.store.create_run(IRIS.to_dict())
    engine.store.request_stop(run_id)  # queued: cancelled at once
    before = engine.store.get(run_id)
    assert execute_run(engine.store, engine.catalog, run_id) == "cancelled"
    after = engine.store.get(run_id)
    assert (after.status, after.summary, after.pid, after.started_at) == ("cancelled", before.summary, None, None)
    assert engine.store.epoch_rows(run_id) == []
