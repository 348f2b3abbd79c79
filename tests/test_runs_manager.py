"""RunManager without training: ended-run hooks, per-run split files at submit, and the Engine's wiring.

Worker processes are stood in for (RunManager._spawn is replaced), so these take a second.
"""
from __future__ import annotations

import logging

import numpy as np
import pytest

from core.config import DataConfig, RunConfig, TrainConfig
from core.data import Split
from core.data.split import SPLIT_FILE, load_split
from core.runs.manager import RunManager
from tests.helpers import wait_for

IRIS = RunConfig(data=DataConfig("iris", "species"), train=TrainConfig(epochs=1, device="cpu"))


class _Ended:
    """A worker process that has already exited with code 0 (it wrote its run's status itself)."""

    returncode = 0

    def poll(self) -> int:
        return 0

    def terminate(self) -> None:
        pass

    kill = terminate

    def wait(self, timeout: float | None = None) -> int:
        return 0


@pytest.fixture
def finishing(monkeypatch: pytest.MonkeyPatch):
    """Every run the manager starts completes at once, as a worker would record it."""
    def spawn(self: RunManager, run_id: str) -> _Ended:
        self.store.set_status(run_id, "running")
        self.store.set_status(run_id, "completed")
        return _Ended()
    monkeypatch.setattr(RunManager, "_spawn", spawn)


def test_ended_run_hooks_get_the_ids_once_the_status_is_final(engine, finishing, caplog) -> None:
    manager = RunManager(engine.store, engine.catalog, poll_s=0.05)
    seen: list[tuple[str, str]] = []

    def broken(run_ids) -> None:
        raise RuntimeError("a bug in one hook")

    manager.on_run_ended(broken)
    manager.on_run_ended(lambda run_ids: seen.extend((i, engine.store.get(i).status) for i in run_ids))
    try:
        with caplog.at_level(logging.ERROR, logger="core.runs.manager"):
            first = manager.submit(IRIS)
            wait_for(lambda: [i for i, _ in seen] == [first], what="the hook to see the first run")
            second = manager.submit(IRIS)  # the queue goes on after a hook raised
            wait_for(lambda: [i for i, _ in seen] == [first, second], what="the hook to see the second run")
    finally:
        manager.close()
    assert seen == [(first, "completed"), (second, "completed")]
    assert "ended-run hook" in caplog.text and "a bug in one hook" in caplog.text


def test_a_split_given_at_submit_is_in_the_run_folder_before_it_is_queued(engine, monkeypatch) -> None:
    seen_at_start: dict[str, bool] = {}

    def spawn(self: RunManager, run_id: str) -> _Ended:
        seen_at_start[run_id] = (self.store.run_dir(run_id) / SPLIT_FILE).is_file()
        self.store.set_status(run_id, "failed", "not trained in this test")
        return _Ended()
    monkeypatch.setattr(RunManager, "_spawn", spawn)
    split = Split(np.arange(0, 100), np.arange(100, 125), np.arange(125, 150))
    manager = RunManager(engine.store, engine.catalog, poll_s=0.05)
    try:
        with_split = manager.submit(IRIS, split=split)
        plain = manager.submit(IRIS)
        wait_for(lambda: len(seen_at_start) == 2, what="both runs to start")
    finally:
        manager.close()
    assert seen_at_start == {with_split: True, plain: False}
    given = load_split(engine.store.run_dir(with_split) / SPLIT_FILE)
    assert all(np.array_equal(getattr(given, p), getattr(split, p)) for p in ("train", "val", "test"))


def test_the_engine_finishes_a_cv_parent_through_its_hook(engine, finishing) -> None:
    store = engine.store
    parent = store.create_run(IRIS.to_dict(), status="running", tags=("cv",))
    store.update(parent, summary={"cv_folds": 2})
    for number in (1, 2):
        engine.manager.submit(IRIS, parent_id=parent, tags=("cv-fold", f"fold:{number}"))
    wait_for(lambda: store.get(parent).status != "running", what="the parent to finish")
    record = store.get(parent)
    assert record.status == "completed" and [f["fold"] for f in record.summary["folds"]] == [1, 2]
