"""The live panel: runs started from this session and every active run, polled from the store.

The plain functions (poll_metrics, tracked_runs, progress_stats ...) hold
the logic and are unit-tested; `live_panel` only draws. Polling is a
`st.fragment(run_every=...)` that exists only while some run is active.
"""
from __future__ import annotations

from collections.abc import Iterable, MutableMapping, Sequence
from typing import Any

import pandas as pd
import streamlit as st

from core.evaluation.plots import curves_figure
from core.runs.queue import queue_positions
from core.runs.store import RunRecord, RunStore
from core.runs.compare import run_metric
from core.vocab import ACTIVE, TERMINAL, metric_direction, metric_label
from workbench.ui import state as ui_state
from workbench.ui import steer
from workbench.ui.common import (
    format_duration, format_metric, md_escape, page_registered, status_label, status_message, switch_page,
)

POLL_S = 1.0
MAX_FINISHED = 3  # finished runs of this session kept on the Train page
METRIC_CACHE = "live_metrics"
OPEN_RUNS = "_live_open_runs"  # set by an "Open its evaluation" click; the page then switches
LEAVING = "_live_leaving"  # set while switching away: a late timer tick of the fragment must draw nothing


# --- plain logic ------------------------------------------------------------------------
def poll_metrics(store: RunStore, run_id: str, caches: MutableMapping[str, Any]) -> list[dict[str, Any]]:
    """Read only the metric rows after the last id already drawn; keep them all in `caches`."""
    cache = caches.get(run_id)
    if cache is None:
        cache = caches[run_id] = {"last_id": 0, "rows": []}
    new = store.epoch_rows(run_id, after_id=cache["last_id"])
    if new:
        cache["rows"].extend(new)
        cache["last_id"] = new[-1]["id"]
    return new


def history_frame(rows: Sequence[dict[str, Any]], run_id: str) -> pd.DataFrame:
    """Metric rows as the frame core.evaluation.plots.curves_figure draws."""
    frame = pd.DataFrame(list(rows), columns=["id", "step", "epoch", "split", "name", "value", "time"])
    frame.insert(0, "run_id", run_id)
    return frame


def tracked_runs(store: RunStore, session_runs: Iterable[str], max_finished: int = MAX_FINISHED) -> list[RunRecord]:
    """Active runs (running first, then queued oldest first), then this session's latest finished runs."""
    mine = list(dict.fromkeys(session_runs))
    all_runs = store.list_runs()
    by_id = {r.run_id: r for r in all_runs}
    active = [r for r in all_runs if r.status in ACTIVE]
    active.sort(key=lambda r: (r.status != "running", r.created_at))
    finished = [by_id[i] for i in reversed(mine) if i in by_id and by_id[i].status not in ACTIVE]
    return active + finished[:max_finished]


def any_active(records: Iterable[RunRecord]) -> bool:
    return any(r.status in ACTIVE for r in records)


# how the steps run, where it is not the plain eager loop (core.training.trainer.step_mode_)
STEP_MODES = {"cuda-graph": " · CUDA graph", "streaming": " · streamed from host memory",
              "streaming-cuda-graph": " · streamed from host memory, CUDA graph"}


def step_mode_words(progress: dict[str, Any]) -> str:
    """How the steps run, after the device: ' · CUDA graph', ' · 2 processes (DDP)', or nothing for eager."""
    if progress.get("step_mode") == "ddp":
        return f" · {progress.get('processes', 2)} processes (DDP)"
    return STEP_MODES.get(progress.get("step_mode"), "")


def progress_stats(progress: dict[str, Any]) -> list[tuple[str, str]]:
    """(label, value) pairs for the running run's stats row (the epoch is on the progress bar)."""
    rate = progress.get("samples_per_s")
    eta = progress.get("eta_s")
    stats = [
        ("Time left", format_duration(eta) if eta is not None else "estimating"),
        ("Samples / s", f"{rate:,.0f}" if rate else "–"),
        ("Batch size", str(progress.get("batch_size", "–"))),
        ("Device", str(progress.get("device", "–")) + step_mode_words(progress)),
    ]
    if progress.get("gpu_mem_mb") is not None:
        stats.append(("GPU memory", f"{progress['gpu_mem_mb']:,.0f} MB"))
    return stats


def progress_fraction(progress: dict[str, Any]) -> float:
    try:
        return min(1.0, max(0.0, float(progress.get("fraction") or 0.0)))
    except (TypeError, ValueError):
        return 0.0


def result_cards(record: RunRecord, limit: int = 4) -> list[tuple[str, str]]:
    """(label, value) for the finished run's test metrics, most telling first."""
    test = record.metrics.get("test") or {}
    order = ("accuracy", "f1_macro", "roc_auc", "balanced_accuracy", "r2", "rmse", "mae", "log_loss", "mse")
    names = [n for n in order if n in test] + [n for n in test if n not in order]
    return [(metric_label(n), _card_value(test[n])) for n in names[:limit]]


def _card_value(value: Any) -> str:
    if isinstance(value, (int, float)) and value == value and abs(value) < 1e4:
        return f"{value:.3f}"
    return format_metric(value)


# --- drawing -------------------------------------------------------------------------------
@st.cache_resource(max_entries=64, show_spinner=False)
def live_curves(workspace: str, run_id: str, label: str, metric: str, last_id: int,
                marks: tuple[tuple[float, float], ...], _rows: Sequence[dict[str, Any]]) -> Any:
    """One live chart of a run, built once per new batch of metric rows (last_id) and shared by every
    session and timer tick that shows the run: building it (plotly's template and layout) was 180 ms, most
    of a Train page's script run, and a fragment rebuilt it every second in each session. The figure is
    never changed after this, so sessions may share it (st.plotly_chart only reads it)."""
    fig = curves_figure(history_frame(_rows, run_id), metric, {run_id: label})
    fig.update_layout(height=300, uirevision=run_id, legend={"orientation": "h", "y": -0.25})
    steer.draw_lr_marks(fig, marks)
    return fig


def live_panel(engine: Any) -> None:
    """Draw the tracked runs. Active ones live in a fragment polled every POLL_S; finished ones are
    drawn once by the page itself, so their buttons (which may switch pages) never run inside a
    fragment, and nothing polls once no run is active."""
    records = tracked_runs(engine.store, ui_state.my_runs(st.session_state))
    if not records:
        return
    st.subheader("Your runs")
    caches = st.session_state.setdefault(METRIC_CACHE, {})
    shown = {r.run_id for r in records}
    for run_id in [k for k in caches if k not in shown]:  # runs no longer on the page
        del caches[run_id]
    active = [r.run_id for r in records if r.status in ACTIVE]
    if active:
        st.fragment(run_every=POLL_S)(_draw_active)(engine, active)
    for record in records:
        if record.status not in ACTIVE:
            with st.container(border=True):
                _draw_run(engine, record, caches, {})


def follow_open_request() -> None:
    """Call first thing on the page: switch to Runs if the user asked to open a run's evaluation.

    Switching before the live fragment is registered (and flagging LEAVING for a timer tick that
    is already on its way) keeps a stale fragment rerun from drawing into the next page: Streamlit
    would place its elements at this page's positions in the other page's tree."""
    if st.session_state.pop(OPEN_RUNS, False):
        st.session_state[LEAVING] = True
        switch_page("runs")
    st.session_state.pop(LEAVING, None)


def _open_evaluation(run_id: str) -> None:
    ui_state.select_runs(st.session_state, [run_id])
    st.session_state[OPEN_RUNS] = True


def _draw_active(engine: Any, drawn: list[str]) -> None:
    if st.session_state.get(LEAVING):
        return  # a timer tick that arrived after the user left the page
    records = [r for r in tracked_runs(engine.store, ui_state.my_runs(st.session_state)) if r.status in ACTIVE]
    if [r.run_id for r in records] != drawn:
        # A run ended (or a new one appeared): redraw the whole page so finished runs move out of the
        # fragment, and the timer stops with the last active run. Done before drawing, so a click that
        # lands while this fragment runs never loses to the rerun it asks for.
        st.rerun()
    caches = st.session_state.setdefault(METRIC_CACHE, {})
    positions = queue_positions(records)
    for record in records:
        with st.container(border=True):
            _draw_run(engine, record, caches, positions)


def _draw_run(engine: Any, record: RunRecord, caches: MutableMapping[str, Any],
              positions: dict[str, tuple[int, str]]) -> None:
    head, button = st.columns([5, 1], vertical_alignment="center")
    what = " · ".join(md_escape(x) for x in (record.model, record.dataset, record.task, record.run_id) if x)
    head.markdown(f"**{md_escape(record.name)}** &nbsp; {status_label(record.status)}  \n:gray[{what}]")
    if record.status in ACTIVE:
        if record.stop_requested:
            button.caption("Stopping…")
        elif button.button("Stop", key=f"stop_{record.run_id}", icon=":material/stop_circle:"):
            engine.manager.stop(record.run_id)
            st.toast(f"Stopping {md_escape(record.name)}…")
    if record.status in ("running", "paused"):
        steer.controls(engine, record, "live")
    if record.status == "queued":
        place, device = positions.get(record.run_id, (1, "cpu"))
        st.info(f"Waiting in the {device} queue: number {place}. It starts when the runs ahead of it finish.",
                icon=":material/hourglass_top:")
        return
    progress = record.progress
    if record.status == "running" and "epochs" not in progress:
        st.progress(0.0, text="Starting: loading the data and building the model…")
    elif record.status in ("running", "paused"):
        paused = " · paused" if record.status == "paused" else ""
        st.progress(progress_fraction(progress),
                    text=f"Epoch {progress.get('epoch', 0)} / {progress['epochs']}{paused}")
        if record.status == "paused":
            st.info(steer.paused_words(record), icon=":material/pause_circle:")
        for column, (label, value) in zip(st.columns(5), progress_stats(progress)):
            column.metric(label, value)
    events = progress.get("events") or record.summary.get("events") or []
    for event in events[-5:]:
        st.caption(f":material/info: {md_escape(event)}")
    poll_metrics(engine.store, record.run_id, caches)
    cache = caches[record.run_id]
    if cache["rows"]:
        metric = run_metric(record)  # the trainer logs it every epoch beside the loss
        charts = ["loss", metric] if metric else ["loss"]
        marks = steer.lr_marks(engine.store, record.run_id)
        for column, name in zip(st.columns(2), charts):
            fig = live_curves(str(engine.store.workspace), record.run_id, record.name, name, cache["last_id"], marks,
                              cache["rows"])
            column.plotly_chart(fig, key=f"live_{record.run_id}_{name}", config={"displayModeBar": False})
        rises = metric and metric_direction(metric) == "max"
        score = f" and {metric_label(metric)} {'rise' if rises else 'fall'}" if metric else ""
        st.caption("Solid lines are the training data, dashed lines the validation data. Loss should fall"
                   f"{score}; training still improving while validation gets worse means the model is overfitting.")
    elif record.status == "running":
        st.caption("The curves appear after the first epoch.")
    message = status_message(record) if record.status in TERMINAL else None  # queued, running: drawn above
    if message:
        getattr(st, message[0])(message[1])
    if steer.resume_button(engine, record, "live"):
        st.rerun()
    if record.has_model:
        cards = result_cards(record)
        for column, (label, value) in zip(st.columns(max(len(cards), 1) + 1), cards):
            column.metric(f"Test {label}", value)
        st.caption(f"Measured on the test data the model never saw while training. "
                   f"Took {format_duration(record.summary.get('duration_s'))}.")
        # a button, not st.page_link: it must also select this run for the Runs page
        if page_registered("runs"):
            st.button("Open its evaluation on the Runs page", key=f"open_{record.run_id}",
                      icon=":material/leaderboard:", on_click=_open_evaluation, args=(record.run_id,))
