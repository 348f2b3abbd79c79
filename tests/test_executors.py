"""The executors behind the run manager: warm forked workers (the default) and a fresh process per run."""
from __future__ import annotations

from core.config import DataConfig, ModelConfig, RunConfig, TrainConfig
from core.runs.executors import FreshProcessExecutor, WarmExecutor
from core.runs.manager import RunManager
from tests.helpers import wait_for

IRIS = RunConfig(data=DataConfig("iris", "species"), train=TrainConfig(epochs=2, device="cpu"))
LONG = RunConfig(data=DataConfig("digits", "label"), model=ModelConfig("mlp", {"hidden_sizes": [64]}),
                 train=TrainConfig(epochs=200, batch_size=4, early_stopping=False, device="cpu"))


def test_a_killed_warm_run_takes_only_its_own_process(engine) -> None:
    manager = engine.manager
    assert isinstance(manager.executor, WarmExecutor)
    doomed = manager.submit(LONG)
    wait_for(lambda: engine.store.epoch_rows(doomed), 120, what="the long run under way")
    manager.kill(doomed)
    wait_for(lambda: engine.store.get(doomed).status == "interrupted", 30, what="the killed run recorded")
    after = manager.submit(IRIS)  # forked from the same server: it was not the one killed
    record = manager.wait(after, 120)
    assert record.status == "completed", record.status_reason
    assert engine.store.get(after).pid not in (None, engine.store.get(doomed).pid)


def test_a_fresh_process_per_run_where_workers_are_not_kept_warm(engine) -> None:
    manager = RunManager(engine.store, engine.catalog, executor=FreshProcessExecutor(engine.workspace))
    try:
        record = manager.wait(manager.submit(IRIS), 180)
        assert record.status == "completed", record.status_reason
    finally:
        manager.close()
