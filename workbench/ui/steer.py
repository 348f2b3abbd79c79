"""Steer a live run from the page: Pause / Resume, a new learning rate, and Resume from checkpoint for a
stopped run. Requests go through the store (RunStore.request_control); the worker applies them between
two steps. Used by the live panel (Train page) and the run view (Runs page)."""
from __future__ import annotations

from typing import Any

import streamlit as st

from core.errors import WorkbenchError
from core.runs.resume import why_not_resumable
from core.runs.steering import lr_changes
from core.runs.store import RunRecord, RunStore
from core.vocab import RESUMABLE
from workbench.ui import state as ui_state
from workbench.ui.common import md_escape


def steerable(record: RunRecord) -> str | None:
    """None where the run's pace can be steered now; otherwise why not, in words."""
    progress = record.progress
    if record.status not in ("running", "paused") or "epochs" not in progress:
        return "starting"
    if progress.get("processes", 1) > 1:
        return "a run across several processes cannot be paused or given a new learning rate yet"
    return None


def pending(store: RunStore, run_id: str) -> set[str]:
    return {c.action for c in store.pending_controls(run_id)}


def controls(engine: Any, record: RunRecord, key: str) -> None:
    """Pause or Resume and the learning rate, for a running or paused run (drawn live, in a fragment)."""
    if record.stop_requested or steerable(record) == "starting":
        return
    why_not = steerable(record)
    if why_not:
        st.caption(f":material/info: {md_escape(why_not)}")
        return
    store = engine.store
    asked = pending(store, record.run_id)
    pause_col, lr_col, set_col = st.columns([1.2, 1.6, 1.2], vertical_alignment="bottom")
    if record.status == "paused":
        if "resume" in asked:
            pause_col.caption("Resuming…")
        elif pause_col.button("Resume", key=f"{key}_resume_{record.run_id}", icon=":material/play_circle:",
                              help="Go on training from the step it paused at."):
            _ask(store, record, "resume")
    elif "pause" in asked:
        pause_col.caption("Pausing…")
    elif pause_col.button("Pause", key=f"{key}_pause_{record.run_id}", icon=":material/pause_circle:",
                          help="Hold the run between two steps; its curves and weights stay, and it goes on "
                               "from there when resumed."):
        _ask(store, record, "pause")
    if record.progress.get("optimizer") == "lbfgs":
        lr_col.caption("L-BFGS picks its own step size: there is no learning rate to change.")
        return
    # a schedule may have brought the rate to (almost) zero: the field starts within its bounds
    current = min(max(float(record.progress.get("lr") or record.config.get("optim", {}).get("lr") or 1e-3), 1e-8),
                  10.0)
    lr = lr_col.number_input("New learning rate", min_value=1e-8, max_value=10.0, value=current, step=current / 2,
                             format="%.6g", key=f"{key}_lr_{record.run_id}",
                             help="Applies to every layer from the next step; a schedule goes on from the new rate.")
    if "lr" in asked:
        set_col.caption("Changing…")
    elif set_col.button("Change learning rate", key=f"{key}_setlr_{record.run_id}", icon=":material/tune:"):
        _ask(store, record, "lr", float(lr))


def _ask(store: RunStore, record: RunRecord, action: str, value: float | None = None) -> None:
    try:
        store.request_control(record.run_id, action, value)
    except WorkbenchError as exc:
        st.warning(md_escape(exc))
        return
    words = f"Learning rate {value:.4g} from the next step for" if action == "lr" else \
        {"pause": "Pausing", "resume": "Resuming"}[action]
    st.toast(f"{words} {md_escape(record.name)}…")


def resume_button(engine: Any, record: RunRecord, key: str) -> bool:
    """'Resume from its checkpoint' for a cancelled or interrupted run; True once it is queued again
    (the caller reruns the page, so the run shows as live). A run without a checkpoint says so."""
    if record.status not in RESUMABLE:
        return False
    problem = why_not_resumable(engine.store, record)
    if problem:
        st.caption(f":material/info: {md_escape(problem)}")
        return False
    if not st.button("Resume from its checkpoint", key=f"{key}_continue_{record.run_id}",
                     icon=":material/resume:", help="Go on training this run where it stopped: the same run, "
                                                    "its epochs and curves continuing."):
        return False
    try:
        engine.manager.resume(record.run_id)
    except WorkbenchError as exc:
        st.warning(md_escape(exc))
        return False
    ui_state.remember_run(st.session_state, record.run_id)
    return True


def paused_words(record: RunRecord) -> str:
    progress = record.progress
    return (f"Paused at epoch {progress.get('epoch', 0)} of {progress.get('epochs', '?')}, step "
            f"{progress.get('step', 0)}: its curves and weights stay as they are. Resume to go on.")


def mark_lr_changes(fig: Any, store: RunStore, run_id: str) -> None:
    """A dotted line on a curve where the learning rate was changed, labelled with the new rate."""
    draw_lr_marks(fig, lr_marks(store, run_id))


def lr_marks(store: RunStore, run_id: str) -> tuple[tuple[float, float], ...]:
    """(epoch, new rate) of each applied change: plain and hashable, so a cached figure can be keyed by it."""
    return tuple((float(c["epoch"]), float(c["lr"])) for c in lr_changes(store, run_id))


def draw_lr_marks(fig: Any, marks: tuple[tuple[float, float], ...]) -> None:
    for epoch, lr in marks:
        # epoch k's point is drawn after k epochs: a change after 2.5 epochs lies half-way from 2 to 3
        fig.add_vline(x=epoch, line_dash="dot", line_color="#888", annotation_text=f"lr {lr:.3g}",
                      annotation_position="top left")
