"""Formatting and the page registry shared by the pages."""
from __future__ import annotations

from core.vocab import STATUSES, TERMINAL
from workbench.ui import common


def test_registry_lists_existing_pages_in_order() -> None:
    names = [p.name for p in common.existing_pages()]
    assert names[:3] == ["home", "data", "train"]
    assert all(common.page_path(n).is_file() for n in names)
    assert [p.name for p in common.PAGES].index("runs") == 3


def test_durations_and_ages_in_words() -> None:
    assert common.format_duration(None) == "–" and common.format_duration(float("nan")) == "–"
    assert common.format_duration(4.4) == "4 s" and common.format_duration(0.3) == "under 1 s"
    assert common.format_duration(75) == "1 min 15 s"
    assert common.format_duration(3 * 3600 + 60) == "3 h 01 min"
    assert common.format_ago(100.0, now=110.0) == "just now"
    assert common.format_ago(0.0, now=600.0) == "10 min ago"
    assert common.format_ago(None) == "–"


def test_device_lines() -> None:
    gpu = {"id": "cuda", "name": "NVIDIA H100", "free_gb": 70.04, "total_gb": 79.6}
    assert common.device_line(gpu) == "NVIDIA H100 — 70.0 of 79.6 GB free"
    assert common.device_line({"id": "cpu", "name": "CPU (2 threads)", "free_gb": None}) == "CPU (2 threads)"
    assert common.status_label("completed").endswith("completed")
    assert common.format_metric(0.123456) == "0.1235" and common.format_metric(None) == "–"


def test_markdown_in_user_text_stays_text() -> None:
    escaped = common.md_escape("![x](http://a) **b** :red[c] $d$ <img>\nnext")
    for token in ("![", "](", "**", ":red[", "$d$"):
        assert token not in escaped
    assert "\n" not in escaped
    assert escaped.replace("\\", "") == "![x](http://a) **b** :red[c] $d$ <img> next"


def test_every_status_has_an_icon_and_words(engine) -> None:
    assert set(common.STATUS_ICONS) == set(STATUSES)
    store = engine.store
    run_id = store.create_run({"data": {}})
    assert common.status_message(store.get(run_id)) == ("info", "This run is waiting for its turn to train.")
    store.set_status(run_id, "running")
    store.heartbeat(run_id, {"epoch": 3, "epochs": 10})
    assert common.status_message(store.get(run_id))[1].startswith("This run is training (epoch 3 of 10)")
    store.set_status(run_id, "failed", "the loss became NaN at epoch 2; try a smaller learning rate")
    assert common.status_message(store.get(run_id)) == (
        "error", "This run failed: the loss became NaN at epoch 2; try a smaller learning rate.")
    for status in TERMINAL:
        other = store.create_run({"data": {}})
        store.set_status(other, status, "column '*x*' is not in iris." if status != "completed" else None)
        message = common.status_message(store.get(other))
        if status == "completed":
            assert message is None
            continue
        level, text = message
        assert level == ("error" if status == "failed" else "warning")
        assert "\\*x\\*" in text and ".." not in text and "Traceback" not in text  # user text stays literal
