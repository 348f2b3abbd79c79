"""The live panel's logic as plain functions: incremental polling, which runs to show (queue places are
core.runs.queue's, tested with the manager in tests/test_runs_manager.py)."""
from __future__ import annotations

from core.runs.store import MetricRow
from workbench.ui.live import (
    any_active, history_frame, live_curves, poll_metrics, progress_fraction, progress_stats, result_cards,
    tracked_runs,
)


def _rows(epoch: int) -> list[MetricRow]:
    return [MetricRow(epoch * 10, epoch, "train", "loss", 1.0 / epoch),
            MetricRow(epoch * 10, epoch, "val", "loss", 1.1 / epoch)]


def test_poll_reads_only_new_rows_and_keeps_all(engine) -> None:
    store = engine.store
    run_id = store.create_run({"data": {}}, model="mlp", dataset="iris")
    other = store.create_run({"data": {}}, model="mlp", dataset="iris")
    caches: dict = {}
    assert poll_metrics(store, run_id, caches) == []
    store.log_metrics(run_id, _rows(1))
    store.log_metrics(other, _rows(1))  # another run's rows never leak in
    first = poll_metrics(store, run_id, caches)
    assert [(r["split"], r["epoch"]) for r in first] == [("train", 1), ("val", 1)]
    assert poll_metrics(store, run_id, caches) == []  # nothing new: nothing read twice
    store.log_metrics(run_id, _rows(2))
    second = poll_metrics(store, run_id, caches)
    assert [r["epoch"] for r in second] == [2, 2]
    cache = caches[run_id]
    assert len(cache["rows"]) == 4 and cache["last_id"] == second[-1]["id"]
    frame = history_frame(cache["rows"], run_id)
    assert set(frame["run_id"]) == {run_id} and frame["epoch"].tolist() == [1, 1, 2, 2]


def test_a_live_chart_is_built_once_per_new_rows_and_shared(engine) -> None:
    store = engine.store
    run_id = store.create_run({"data": {}}, model="mlp", dataset="iris")
    store.log_metrics(run_id, _rows(1))
    caches: dict = {}
    poll_metrics(store, run_id, caches)
    cache = caches[run_id]
    key = (str(store.workspace), run_id, "mlp-iris-1", "loss", cache["last_id"], ())
    first = live_curves(*key, cache["rows"])
    assert live_curves(*key, list(cache["rows"])) is first  # another session, another tick: the same figure
    assert [t.x for t in first.data] == [(1,), (1,)] and first.layout.height == 300
    store.log_metrics(run_id, _rows(2))
    poll_metrics(store, run_id, caches)
    grown = live_curves(*key[:4], cache["last_id"], ((1.5, 0.01),), cache["rows"])
    assert [t.x for t in grown.data] == [(1, 2), (1, 2)]
    assert [s.x0 for s in grown.layout.shapes] == [1.5]  # the rate change's mark


def test_history_frame_of_no_rows_has_the_columns_curves_need() -> None:
    frame = history_frame([], "r1")
    assert {"run_id", "epoch", "split", "name", "value"} <= set(frame.columns) and frame.empty


def test_tracked_runs_shows_active_runs_then_my_latest_finished(engine) -> None:
    store = engine.store
    ids = [store.create_run({"data": {}}, name=f"r{i}") for i in range(6)]
    for run_id in ids[:4]:
        store.set_status(run_id, "running")
        store.set_status(run_id, "completed")
    store.set_status(ids[4], "running")  # ids[5] stays queued
    shown = [r.run_id for r in tracked_runs(store, ids[:4] + ["gone-run"], max_finished=3)]
    # running first, then queued, then this session's newest finished runs; unknown ids are dropped
    assert shown == [ids[4], ids[5], ids[3], ids[2], ids[1]]
    assert any_active(tracked_runs(store, []))
    store.set_status(ids[4], "completed")
    store.request_stop(ids[5])
    assert not any_active(tracked_runs(store, ids))


def test_progress_stats_in_words() -> None:
    stats = dict(progress_stats({"epoch": 3, "epochs": 60, "eta_s": 75, "samples_per_s": 1234.5,
                                 "batch_size": 8, "device": "cpu", "gpu_mem_mb": None}))
    assert stats == {"Time left": "1 min 15 s", "Samples / s": "1,234", "Batch size": "8", "Device": "cpu"}
    gpu = dict(progress_stats({"eta_s": None, "gpu_mem_mb": 512.4, "device": "cuda"}))
    assert gpu["Time left"] == "estimating" and gpu["GPU memory"] == "512 MB"
    assert progress_fraction({"fraction": 1.7}) == 1.0 and progress_fraction({}) == 0.0


def test_result_cards_put_the_telling_metrics_first(engine) -> None:
    store = engine.store
    run_id = store.create_run({"data": {}})
    store.update(run_id, summary={"metrics": {"test": {"log_loss": 0.2, "accuracy": 0.9512, "roc_auc": 0.99,
                                                       "f1_macro": 0.95, "balanced_accuracy": 0.94}}})
    cards = result_cards(store.get(run_id))
    assert cards[0] == ("accuracy", "0.951") and [c[0] for c in cards][1:3] == ["F1 (macro)", "ROC AUC"]
    assert len(cards) == 4
    assert result_cards(store.get(store.create_run({"data": {}}))) == []


def test_the_stats_row_says_how_the_steps_run_where_it_is_not_plain() -> None:
    from workbench.ui.live import progress_stats

    def device(mode):
        return dict(progress_stats({"device": "cuda:0", "step_mode": mode}))["Device"]
    assert device("cuda-graph") == "cuda:0 · CUDA graph"
    assert device("streaming") == "cuda:0 · streamed from host memory"
    assert device("eager") == device(None) == "cuda:0"
