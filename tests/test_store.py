"""The run store, the same tests on SQLite and on PostgreSQL (the `db_url` fixture runs each on both).

PostgreSQL is a throwaway server the session starts (tests/postgres.py); where none can be started
the PostgreSQL half skips and says why, except in CI, where it must run.
"""
from __future__ import annotations

import math
import threading
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect

from core.errors import RunNotFound
from core.runs import database, recovery
from core.runs.store import MetricRow, RunStore
from core.runs.tables import METADATA

DEAD_PID = 2**22 + 12345  # above the default pid_max: never a live process


@pytest.fixture
def store(workspace: Path, db_url: str) -> RunStore:
    s = RunStore(workspace, db_url)
    yield s
    s.close()


def test_the_store_uses_the_database_it_was_given(store: RunStore, db_url: str, workspace: Path) -> None:
    assert store.db_url == database.database_url(workspace, db_url)
    assert (store.db_path is not None) == db_url.startswith("sqlite")
    assert database.current_revision(store.db_url) == database.HEAD


def test_runs_are_found_by_id_prefix_or_name(store: RunStore) -> None:
    first = store.create_run({"x": 1}, model="mlp", dataset="iris", tags=("a", "b"))
    second = store.create_run({"x": 2}, model="mlp", dataset="iris")
    other = store.create_run({"x": 3}, model="cnn", dataset="digits_images", name="mine")
    assert [store.get(r).name for r in (first, second, other)] == ["mlp-iris-1", "mlp-iris-2", "mine"]
    record = store.get(first)
    assert (record.config, record.tags, record.status, record.summary, record.progress) == \
        ({"x": 1}, ["a", "b"], "queued", {}, {})
    assert store.get("mine").run_id == other
    assert store.get(other[:-2]).run_id == other  # a prefix, as people type them
    for unknown in ("nope", "%", "_", first[:4] + "%"):
        with pytest.raises(RunNotFound):
            store.get(unknown)
    for hostile in ("../x", "/etc", "a\\b", "a\x00b", 7):
        with pytest.raises(RunNotFound):
            store.run_dir(hostile)  # type: ignore[arg-type]


def test_list_filters_and_orders_newest_first(store: RunStore) -> None:
    parent = store.create_run({}, status="running")
    children = [store.create_run({}, parent_id=parent) for _ in range(2)]
    store.set_status(children[0], "running")
    assert [r.run_id for r in store.list_runs()] == [*reversed(children), parent]
    assert [r.run_id for r in store.list_runs(include_children=False)] == [parent]
    assert [r.run_id for r in store.list_runs(parent_id=parent)] == list(reversed(children))
    assert [r.run_id for r in store.list_runs(status="running")] == [children[0], parent]


def test_statuses_move_forward_and_a_terminal_one_stays(store: RunStore) -> None:
    run_id = store.create_run({})
    assert store.set_status(run_id, "running")
    started = store.get(run_id).started_at
    assert store.set_status(run_id, "running") and store.get(run_id).started_at == started
    assert store.set_status(run_id, "completed")
    assert not store.set_status(run_id, "failed", "too late")  # stopping twice is harmless
    record = store.get(run_id)
    assert (record.status, record.status_reason) == ("completed", None) and record.ended_at >= started
    assert store.set_status(run_id, "running", only_if_active=False)  # a resumed study


def test_updates_heartbeats_and_stop_requests(store: RunStore) -> None:
    run_id = store.create_run({"a": 1})
    store.update(run_id, summary={"metrics": {"val": {"accuracy": 0.5}}}, tags=["t"], device="cpu", pid=123)
    store.heartbeat(run_id, {"step": 3, "events": ["x"]})
    store.heartbeat(run_id)
    record = store.get(run_id)
    assert (record.metrics, record.tags, record.device, record.pid) == ({"val": {"accuracy": 0.5}}, ["t"], "cpu", 123)
    assert record.progress == {"step": 3, "events": ["x"]} and record.heartbeat_at is not None
    queued, running = run_id, store.create_run({})
    store.set_status(running, "running")
    for r in (queued, running):
        assert not store.stop_requested(r)
        store.request_stop(r)
        assert store.stop_requested(r)
    assert store.get(queued).status == "cancelled"  # nothing to stop yet: cancelled at once
    assert store.get(running).status == "running"  # its worker stops it


def test_metric_rows_are_read_back_in_order_and_after_an_id(store: RunStore) -> None:
    run_id, other = store.create_run({}), store.create_run({})
    store.log_metrics(run_id, [MetricRow(e, e, "val", "loss", 1.0 / e, 100.0 + e) for e in range(1, 4)])
    store.log_metrics(other, [MetricRow(1, 1, "val", "loss", 9.0)])
    store.log_metrics(run_id, [MetricRow(4, 4, "val", "loss", math.nan), MetricRow(4, 4, "val", "r2", math.inf)])
    store.log_metrics(run_id, [])
    rows = store.epoch_rows(run_id)
    assert [(r["epoch"], r["name"], r["value"]) for r in rows] == \
        [(1, "loss", 1.0), (2, "loss", 0.5), (3, "loss", 1.0 / 3), (4, "loss", None), (4, "r2", None)]
    assert rows[0]["time"] == 101.0 and [r["id"] for r in rows] == sorted(r["id"] for r in rows)
    assert [r["epoch"] for r in store.epoch_rows(run_id, after_id=rows[2]["id"])] == [4, 4]
    frame = store.metrics_frame([run_id, other])
    assert len(frame) == 6 and list(frame.columns) == ["run_id", "id", "step", "epoch", "split", "name", "value", "time"]
    assert store.metrics_frame([]).empty
    spans = store.metric_spans([run_id, other]).set_index(["run_id", "name"])
    assert spans.loc[(run_id, "loss"), "min"] == pytest.approx(1.0 / 3) and spans.loc[(run_id, "loss"), "max"] == 1.0
    assert spans.loc[(other, "loss"), "max"] == 9.0 and store.metric_spans([run_id], split="train").empty


def test_artifacts_are_recorded_replaced_and_forgotten(store: RunStore, workspace: Path) -> None:
    run_id = store.create_run({})
    path = store.run_dir(run_id) / "model.json"
    path.write_text("{}")
    store.add_artifact(run_id, "model_meta", path)
    path.write_text('{"a": 1}')
    store.add_artifact(run_id, "model_meta", path)  # the same kind again replaces the row
    art = store.artifacts(run_id)["model_meta"]
    assert (art["path"], art["bytes"]) == (str(path), 8) and len(art["sha256"]) == 64
    assert store.artifact_path(run_id, "model_meta") == path and store.artifact_path(run_id, "nothing") is None
    store.forget_artifact(run_id, "model_meta")
    assert store.artifacts(run_id) == {}


def test_delete_removes_rows_and_folder(store: RunStore) -> None:
    run_id, kept = store.create_run({}), store.create_run({})
    store.log_metrics(run_id, [MetricRow(1, 1, "val", "loss", 1.0)])
    (store.run_dir(run_id) / "f.json").write_text("{}")
    store.add_artifact(run_id, "f", store.run_dir(run_id) / "f.json")
    store.delete(run_id)
    with pytest.raises(RunNotFound):
        store.get(run_id)
    assert store.epoch_rows(run_id) == [] and store.artifacts(run_id) == {} and not store.run_dir(run_id).exists()
    assert store.get(kept).run_id == kept


def test_start_up_recovery_marks_orphans(store: RunStore) -> None:
    running = store.create_run({}, status="running", pid=DEAD_PID)
    queued = store.create_run({}, owner_pid=DEAD_PID)
    alive = store.create_run({}, status="running", pid=__import__("os").getpid())
    assert sorted(recovery.mark_orphans(store)) == sorted([running, queued])
    assert [store.get(r).status for r in (running, queued, alive)] == ["interrupted", "interrupted", "running"]


def test_writers_replacing_one_artifact_at_once_all_succeed(store: RunStore) -> None:
    run_id = store.create_run({})
    path = store.run_dir(run_id) / "model.safetensors"
    path.write_bytes(b"weights")
    failures: list[BaseException] = []

    def write() -> None:
        try:
            for _ in range(10):
                store.add_artifact(run_id, "weights", path)
        except BaseException as exc:  # noqa: BLE001 - reported below
            failures.append(exc)

    threads = [threading.Thread(target=write) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not failures and list(store.artifacts(run_id)) == ["weights"]


def test_threads_creating_runs_at_once_get_distinct_names(store: RunStore) -> None:
    made: list[str] = []
    threads = [threading.Thread(target=lambda: made.append(store.create_run({}, model="mlp", dataset="iris")))
               for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(store.get(r).name for r in made) == [f"mlp-iris-{n}" for n in range(1, 7)]


def test_eight_writers_at_once_lose_no_row(store: RunStore) -> None:
    """Threads here (processes are tests/test_faults.py's on SQLite and the eight CLI runs of
    tests/test_store_postgres.py's): each writes its run's rows and heartbeats in its own transactions."""
    runs = [store.create_run({}, status="running") for _ in range(8)]
    errors: list[BaseException] = []

    def write(run_id: str) -> None:
        try:
            for step in range(25):
                store.log_metrics(run_id, [MetricRow(step, 1, "train", f"m{k}", float(step * k)) for k in range(4)])
                store.heartbeat(run_id, {"step": step})
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
    threads = [threading.Thread(target=write, args=(r,)) for r in runs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert errors == []
    for run_id in runs:
        rows = store.epoch_rows(run_id)
        assert {(r["step"], r["name"]) for r in rows} == {(s, f"m{k}") for s in range(25) for k in range(4)}
        assert len(rows) == 100 and store.get(run_id).progress == {"step": 24}


def test_a_new_database_and_the_migrations_give_the_same_schema(db_url: str, workspace: Path,
                                                               request: pytest.FixtureRequest) -> None:
    """The store builds an empty database whole from core.runs.tables; alembic's migrations build the
    same tables, and core/runs/tables.py matches what they built."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    change = database.ensure_schema(db_url)
    assert change is not None and change.created and database.ensure_schema(db_url) is None
    assert database.alembic_head() == database.HEAD
    if db_url.startswith("sqlite"):
        (workspace / "second").mkdir()
        migrated_url = database.database_url(workspace / "second")
    else:
        migrated_url = database.database_url(workspace, request.getfixturevalue("postgres_server").create_database())
    with database.writing(migrated_url, serial=True) as con:
        database._alembic_upgrade(con)  # the path an empty database would take without the shortcut
    engines = [create_engine(db_url), create_engine(migrated_url)]
    try:
        for engine in engines:
            with engine.connect() as con:
                ctx = MigrationContext.configure(con, opts={"compare_type": True, "version_table": "workbench_version"})
                assert compare_metadata(ctx, METADATA) == []
                assert set(inspect(con).get_table_names()) == {"runs", "metrics", "artifacts", "run_controls",
                                                               "workbench_version"}
        assert database.current_revision(migrated_url) == database.HEAD
    finally:
        for engine in engines:
            engine.dispose()
        database.dispose(migrated_url)
        if not db_url.startswith("sqlite"):
            request.getfixturevalue("postgres_server").drop_database(migrated_url)
