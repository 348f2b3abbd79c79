"""RunManager without training: ended-run hooks, split files at submit, the Engine's wiring, the queue order.

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
from core.runs.queue import queue_positions
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


class _Held:
    """A worker process that runs until the test lets it end."""

    def __init__(self) -> None:
        self.returncode: int | None = None

    def poll(self) -> int | None:
        return self.returncode

    def terminate(self) -> None:
        self.returncode = -15

    kill = terminate

    def wait(self, timeout: float | None = None) -> int | None:
        return self.returncode


def test_runs_start_in_the_order_queue_positions_shows(engine, monkeypatch) -> None:
    store = engine.store
    started: dict[str, _Held] = {}

    def spawn(self: RunManager, run_id: str) -> _Held:
        self.store.set_status(run_id, "running")
        started[run_id] = _Held()
        return started[run_id]
    monkeypatch.setattr(RunManager, "_spawn", spawn)
    manager = RunManager(store, engine.catalog, poll_s=0.05)
    try:
        first = manager.submit(IRIS)
        wait_for(lambda: first in started, what="the first run to start")
        waiting = [manager.submit(IRIS) for _ in range(3)]
        positions = queue_positions(store.list_runs())
        assert positions == {run_id: (place, "cpu") for place, run_id in enumerate(waiting, start=1)}
        order = [first]
        for _ in waiting:  # end the running one: the run in place 1 starts next
            head = min(queue_positions(store.list_runs()).items(), key=lambda item: item[1][0])[0]
            store.set_status(order[-1], "completed")
            started[order[-1]].returncode = 0
            wait_for(lambda: head in started, what="the head of the queue to start")
            order.append(head)
        assert order == [first, *waiting]
    finally:
        manager.close()


def test_queue_places_count_per_device_and_leave_other_statuses_out(engine) -> None:
    store = engine.store
    a = store.create_run({"data": {}}, queue_device="cpu")
    b = store.create_run({"data": {}})  # an older workspace's run names no queue: the CPU's
    c = store.create_run({"data": {}}, queue_device="cuda:0")
    d = store.create_run({"data": {}}, queue_device="cpu")
    store.set_status(d, "running")
    assert queue_positions(store.list_runs()) == {a: (1, "cpu"), b: (2, "cpu"), c: (1, "cuda:0")}


def test_owner_and_queue_outlive_the_heartbeat(engine) -> None:
    store = engine.store
    run_id = store.create_run({"data": {}}, owner_pid=4321, queue_device="cuda:1")
    store.heartbeat(run_id, {"epoch": 1})  # the worker's progress replaces progress_json whole
    record = store.get(run_id)
    assert (record.owner_pid, record.queue_device, record.progress) == (4321, "cuda:1", {"epoch": 1})


def test_a_run_on_an_upload_is_named_for_the_file_the_user_gave(engine, monkeypatch) -> None:
    monkeypatch.setattr(RunManager, "_spawn", lambda self, run_id: (
        self.store.set_status(run_id, "failed", "not trained in this test"), _Ended())[1])
    ref = engine.catalog.add_upload("big.csv", b"x,y\n" + b"".join(b"%d,%d\n" % (i, i % 2) for i in range(40)))
    assert ref.name.endswith("_big.csv") and ref.name != "big.csv"
    manager = RunManager(engine.store, engine.catalog, poll_s=0.05)
    try:
        run_id = manager.submit(RunConfig(data=DataConfig(ref.source, "y"), train=TrainConfig(epochs=1)))
    finally:
        manager.close()
    run = engine.store.get(run_id)
    assert run.dataset == "big.csv" and run.name == "mlp-big.csv-1"


def test_a_started_run_that_still_reads_queued_is_not_started_again(engine, monkeypatch) -> None:
    """A worker says "running" a moment after it is started; a dispatcher pass in between (the next fold's
    submit wakes one) started the run a second time: two workers trained one CV fold, one failed on the
    other's files, and the parent finished on the other fold alone. The pass is forced here."""
    store = engine.store
    starts: list[str] = []

    def spawn(self: RunManager, run_id: str) -> _Held:
        starts.append(run_id)  # and no "running" yet: the worker has not got that far
        return _Held()
    monkeypatch.setattr(RunManager, "_spawn", spawn)
    parent = store.create_run(IRIS.to_dict(), status="running", tags=("cv",))
    manager = RunManager(store, engine.catalog, poll_s=0.05)
    manager.cpu_side_by_side = 4  # room for every fold side by side, whatever this machine's cores
    try:
        first = manager.submit(IRIS, parent_id=parent, tags=("cv-fold", "fold:1"))
        wait_for(lambda: first in starts, what="the first fold to start")
        second = manager.submit(IRIS, parent_id=parent, tags=("cv-fold", "fold:2"))
        wait_for(lambda: second in starts, what="the second fold to start")
        assert {store.get(first).status, store.get(second).status} == {"queued"}
        manager._start_queued()  # one more pass while both still read queued
        assert starts == [first, second]
    finally:
        manager.close()
