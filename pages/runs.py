"""Runs: every run in a table; one selected shows its evaluation, two or more are compared."""
from __future__ import annotations

import streamlit as st

from core.evaluation import curves_figure
from core.errors import RunNotFound
from core.runs import compare
from core.runs.store import RunRecord
from core.tuning.repeats import is_group
from core.vocab import ACTIVE
from workbench.engine import get_engine
from workbench.ui import sequences as seq_ui
from workbench.ui import evaluation as ev
from workbench.ui import gallery
from workbench.ui import compare as figures
from workbench.ui import insight
from workbench.ui import steer
from workbench.ui.common import PRIMARY_METRICS, md_escape, page_link, status_label, status_message

SELECTED = "selected_runs"  # list of run ids; the Train page sets it to open one run here
TABLE = "runs_table"  # the dataframe's selection state (row positions in the table shown)
PICKER = "runs_pick"  # the multiselect mirror of SELECTED
VISIBLE = "_runs_visible"  # run ids of the table's rows, in order, as last drawn
TICKED = "_runs_ticked"  # run ids ticked in the table as last drawn
SIGNATURE = "_runs_signature"  # (run_id, status) of every run at the last full rerun
DRAWN = "_runs_drawn_selection"  # SELECTED at the last full rerun
FLASH = "_runs_flash"
REFRESH_S = 2.0  # while a run is queued or training
IDLE_REFRESH_S = 10.0  # otherwise: still notice runs started elsewhere (another tab, the CLI)

engine = get_engine()
store = engine.store


# --- selection: one list of ids, mirrored by the table's ticks and the multiselect --------
def _on_table_select() -> None:
    # Apply only what the user changed since the table was drawn: the widget may also report the
    # selection the page itself set, in the same rerun as a pick in the multiselect.
    visible = st.session_state.get(VISIBLE, [])
    rows = st.session_state[TABLE]["selection"]["rows"]
    ticked = {visible[r] for r in rows if 0 <= r < len(visible)}
    drawn = set(st.session_state.get(TICKED, []))
    old = st.session_state.get(SELECTED, [])
    # keep the earlier order, so colours stay with their run
    st.session_state[SELECTED] = [i for i in old if i not in drawn - ticked] + \
        [i for i in visible if i in ticked - drawn and i not in old]


def _on_pick() -> None:
    picked, drawn = list(st.session_state[PICKER]), set(st.session_state.get(DRAWN, []))
    old = st.session_state.get(SELECTED, [])
    st.session_state[SELECTED] = [i for i in old if i in picked or i not in drawn] + \
        [i for i in picked if i not in old]


def _flash(level: str, text: str) -> None:
    st.session_state[FLASH] = (level, text)


# --- actions (callbacks run before the page redraws) ------------------------------------
def _save_run(run_id: str) -> None:
    name = st.session_state.get(f"run_name_{run_id}", "").strip()
    tags = compare.parse_tags(st.session_state.get(f"run_tags_{run_id}", ""))
    if not name:
        return _flash("error", "A run needs a name.")
    if any(r.name == name and r.run_id != run_id for r in store.list_runs()):
        return _flash("error", f"Another run is already called '{md_escape(name)}'; pick a different name.")
    store.update(run_id, name=name, tags=tags)
    _flash("success", f"Saved '{md_escape(name)}'.")


def _delete_runs(run_ids: list[str]) -> None:
    names = []
    for run_id in run_ids:
        try:
            run = store.get(run_id)
        except RunNotFound:  # already deleted, in another tab
            continue
        if run.status in ACTIVE:
            continue  # the button is disabled for these; a run may have started since
        store.delete(run_id)
        names.append(md_escape(run.name))
    st.session_state[SELECTED] = [i for i in st.session_state.get(SELECTED, []) if i not in run_ids]
    _flash("success", f"Deleted {', '.join(names)}." if names else "Nothing deleted: stop training runs first.")


def _stop_run(run_id: str) -> None:
    engine.manager.stop(run_id)
    _flash("info", "Asked the run to stop; it finishes its current step first.")


# --- the table -------------------------------------------------------------------------
TABLE_CONFIG = {
    "name": st.column_config.TextColumn("Name"),
    "status": st.column_config.TextColumn("Status"),
    "dataset": st.column_config.TextColumn("Dataset"),
    "model": st.column_config.TextColumn("Model", width="small"),
    "metric": st.column_config.TextColumn("Metric", width="small",
                                          help=PRIMARY_METRICS),
    "best_val": st.column_config.NumberColumn("Best val", format="%.4f", width="small",
                                              help="Best validation score over the epochs"),
    "test": st.column_config.NumberColumn("Test", format="%.4f", width="small",
                                          help="Score on the held-out test rows"),
    "duration_s": st.column_config.NumberColumn("Time (s)", format="%.1f", width="small"),
    "device": st.column_config.TextColumn("Device", width="small"),
    "ran_on": st.column_config.TextColumn("Ran on", width="small",
                                          help="The machine the run trained on, and how it was started: local (a "
                                               "worker of this app), cli (workbench train) or ray (a Ray cluster)"),
    "created": st.column_config.DatetimeColumn("Created", format="MMM D, HH:mm"),
    "started_from": st.column_config.TextColumn("Started from", help="The run whose weights this run was "
                                                "fine-tuned from (empty: trained from fresh weights)"),
    "tags": st.column_config.ListColumn("Tags"),
    "run_id": st.column_config.TextColumn("Run id"),
}


def runs_table(statuses: list[str], datasets: list[str], models: list[str], text: str) -> None:
    runs = store.list_runs()
    spans = store.metric_spans([r.run_id for r in runs])
    frame = compare.filter_runs(compare.runs_frame(runs, spans), statuses, datasets, models, text)
    visible = frame["run_id"].tolist()
    st.session_state[VISIBLE] = visible
    wanted = sorted(visible.index(i) for i in st.session_state.get(SELECTED, []) if i in visible)
    st.session_state[TICKED] = [visible[r] for r in wanted]
    if _table_rows() != wanted:  # rows moved (a new run, a filter) or the selection came from elsewhere
        st.session_state[TABLE] = {"selection": {"rows": wanted}}
    shown = frame.assign(status=frame["status"].map(status_label))
    st.dataframe(shown, key=TABLE, on_select=_on_table_select, selection_mode="multi-row", hide_index=True,
                 column_config=TABLE_CONFIG, width="stretch", placeholder="–")
    hidden = len(runs) - len(frame)
    st.caption("Tick one run to see its evaluation, or several to compare them; click a column header to sort."
               + (f" {hidden} run(s) hidden by the filters." if hidden else ""))
    # A status change (a run finished) or a new selection redraws the whole page below the table.
    signature = [(r.run_id, r.status) for r in runs]
    if signature != st.session_state.get(SIGNATURE) or st.session_state.get(SELECTED) != st.session_state.get(DRAWN):
        st.rerun()


def _table_rows() -> list[int]:
    try:
        return sorted(st.session_state[TABLE]["selection"]["rows"])
    except (KeyError, TypeError):
        return []


# --- curves (live while a run trains) --------------------------------------------------
def curves(run_ids: list[str], labels: dict[str, str], live: bool) -> None:
    history = store.metrics_frame(run_ids)
    metrics = compare.curve_metrics(history)
    if not metrics:
        st.info("No epochs recorded yet: curves appear after the first epoch." if live else
                "No epochs were recorded, so there are no curves to draw.")
        return
    columns = st.columns(2)
    for i, metric in enumerate(metrics):
        with columns[i % 2]:
            fig = curves_figure(history, metric, labels)
            if len(run_ids) == 1:
                steer.mark_lr_changes(fig, store, run_ids[0])
            st.plotly_chart(fig, key=f"curve_{metric}", width="stretch")
            st.caption(ev.curve_caption(metric, several=len(run_ids) > 1))


def show_curves(runs: list[RunRecord]) -> None:
    live = any(r.status in ACTIVE for r in runs)
    st.fragment(curves, run_every=REFRESH_S if live else None)(
        [r.run_id for r in runs], compare.run_labels(runs), live)


# --- one run ---------------------------------------------------------------------------
def run_header(run_id: str) -> None:
    """Status, progress, numbers and curves: the part of one run's view that moves while it trains."""
    try:
        run = store.get(run_id)
    except RunNotFound:  # deleted from another tab
        st.rerun()
    message = status_message(run)
    if message:
        level, text = message
        getattr(st, level)(text)
    if run.status in ("running", "paused"):
        st.progress(min(1.0, max(0.0, float(run.progress.get("fraction") or 0.0))))
        st.button("Stop this run", key=f"stop_{run.run_id}", on_click=_stop_run, args=(run.run_id,))
        steer.controls(engine, run, "runs")
    elif steer.resume_button(engine, run, "runs"):
        st.rerun()
    numbers = ev.summary_numbers(run)
    for column, number in zip(st.columns(len(numbers)), numbers):
        column.metric(number.label, number.value, help=number.help or None)
    st.subheader("Learning curves")
    curves([run.run_id], compare.run_labels([run]), run.status in ACTIVE)


def show_lineage(run: RunRecord) -> None:
    ancestors, children = compare.lineage(store.list_runs(), run.run_id)
    if not ancestors and not children and not compare.parent_of(run):
        return
    chain = [f"**{md_escape(r.name)}**" for r in ancestors] + [f"**{md_escape(run.name)}** (this run)"]
    if compare.parent_of(run) and not ancestors:
        chain.insert(0, f"{md_escape(compare.parent_of(run))} (deleted)")
    text = "Lineage: " + " → ".join(chain)
    if children:
        text += " → fine-tuned into " + ", ".join(f"**{md_escape(r.name)}**" for r in children)
    init = run.config.get("init") or {}
    if init.get("freeze"):
        text += f" · its first {init['freeze']} layer(s) were kept frozen"
    st.markdown(text)


def show_run(run: RunRecord) -> None:
    st.header(md_escape(run.name))
    facts = [run.dataset, run.model, run.task, run.device, f"on {compare.ran_on(run)}", f"id {run.run_id}"]
    st.caption(" · ".join(f for f in facts if f) + (f" · tags: {', '.join(run.tags)}" if run.tags else ""))
    show_lineage(run)
    if is_group(run):  # a group of repeats: its statistics and members, no curves of its own
        insight.show_group(engine, run)
        manage_run(run)
        return
    st.fragment(run_header, run_every=REFRESH_S if run.status in ACTIVE else None)(run.run_id)

    insight.draw_baselines(run)
    evaluation = compare.load_evaluation(store, run.run_id)
    plots = ev.evaluation_plots(evaluation)
    if plots:
        st.subheader("Evaluation on the test rows")
        columns = st.columns(2)
        for i, plot in enumerate(plots):
            with columns[i % 2]:
                gallery.chart(engine, run, plot, evaluation)  # the confusion matrix and residuals answer clicks
        gallery.draw(engine, run)
    elif run.status == "completed":
        st.info("This run has no saved evaluation.")
    seq_ui.show_run(store, run)

    events = run.summary.get("events") or run.progress.get("events") or []
    if events:
        with st.expander("Training notes"):
            for event in events:
                st.markdown(f"- {event}")

    st.subheader("Config")
    st.code(ev.config_yaml(run), language="yaml")

    manage_run(run)


def manage_run(run: RunRecord) -> None:
    st.subheader("Manage")
    with st.form(key=f"edit_{run.run_id}", border=False):
        left, right = st.columns(2)
        left.text_input("Name", value=run.name, key=f"run_name_{run.run_id}", max_chars=80)
        right.text_input("Tags", value=", ".join(run.tags), key=f"run_tags_{run.run_id}",
                         help="Comma-separated, e.g. baseline, best")
        st.form_submit_button("Save name and tags", on_click=_save_run, args=(run.run_id,))
    delete_controls([run])


def delete_controls(runs: list[RunRecord]) -> None:
    ids = [r.run_id for r in runs]
    busy = [md_escape(r.name) for r in runs if r.status in ACTIVE]
    what = f"'{md_escape(runs[0].name)}'" if len(runs) == 1 else f"the {len(runs)} selected runs"
    key = "confirm_delete_" + "_".join(ids)
    files = "its files" if len(runs) == 1 else "their files"
    confirmed = st.checkbox(f"Yes, delete {what} and {files} for good", key=key, disabled=bool(busy))
    st.button(f"Delete {what}", key="delete_runs", type="primary", disabled=not confirmed or bool(busy),
              on_click=_delete_runs, args=(ids,))
    if busy:
        st.caption(f"Still training: {', '.join(busy)}. Stop a run before deleting it.")


# --- several runs ------------------------------------------------------------------------
def show_comparison(runs: list[RunRecord]) -> None:
    st.header(f"Comparing {len(runs)} runs")
    for run in runs:
        message = status_message(run)
        if message:
            level, text = message
            getattr(st, level)(f"**{md_escape(run.name)}**: {text}")

    st.subheader("Learning curves")
    show_curves(runs)

    if len(runs) == 2:
        insight.draw_paired(store, runs[0], runs[1])

    st.subheader("Test metrics")
    if compare.metrics_long(runs).empty:
        st.info("None of these runs has test metrics yet: they appear when a run completes.")
    else:
        st.plotly_chart(figures.metrics_bar_figure(runs), key="compare_bars", width="stretch")
        st.caption("Each group is one test score with one bar per run, in the same colours as the curves; "
                   "for all of these taller is better and 1.0 is perfect.")
        table = compare.metrics_table(runs)
        st.dataframe(table, width="stretch",
                     column_config={c: st.column_config.NumberColumn(c, format="%.4f") for c in table.columns})
        st.caption("Every test metric side by side; for loss, log loss, mse, rmse and mae lower is better.")

    st.subheader("What differs")
    diff = compare.config_diff_frame(runs)
    if diff.empty:
        st.info("These runs share exactly the same settings.")
    else:
        st.dataframe(diff, width="stretch")
        st.caption("Only the settings that differ between the selected runs are listed; each column is one run.")

    st.subheader("Settings against a metric")
    metrics = list(compare.metrics_table(runs).index)
    if not metrics:
        st.info("The parallel-coordinates plot needs runs with test metrics.")
    else:
        default = compare.run_metric(runs[0])
        metric = st.selectbox("Metric", metrics, index=metrics.index(default) if default in metrics else 0,
                              key="parcoords_metric")
        frame = compare.parcoords_frame(runs, metric)
        if len(frame) < 2 or len(frame.columns) < 2:
            st.info("Pick runs that differ in a numeric setting (learning rate, batch size, layers...) and that "
                    f"all have a test {metric} to see them side by side here.")
        else:
            st.plotly_chart(figures.parcoords_figure(frame, metric), key="compare_parcoords", width="stretch")
            st.caption(f"Each line is one run passing through its value of every setting that differs, ending at "
                       f"its test {metric} on the last axis; blue lines scored best and red ones worst. Drag along "
                       "an axis to highlight a range.")

    st.subheader("Manage")
    delete_controls(runs)


# --- the page ---------------------------------------------------------------------------
st.title("Runs")
flash = st.session_state.pop(FLASH, None)
if flash:
    getattr(st, flash[0])(flash[1])

all_runs = store.list_runs()
if not all_runs:
    st.info("No runs yet. Train a model and it will show up here, ready to inspect and compare.")
    if not page_link("train", label="Go to the Train page"):
        st.markdown("Open the **Train** page from the menu to start one.")
    st.stop()

by_id = {r.run_id: r for r in all_runs}
selected = list(dict.fromkeys(i for i in st.session_state.get(SELECTED, []) if i in by_id))
st.session_state[SELECTED] = selected
st.session_state[DRAWN] = list(selected)
st.session_state[SIGNATURE] = [(r.run_id, r.status) for r in all_runs]

f_status, f_data, f_model, f_text = st.columns([1, 1, 1, 1.4])
statuses = f_status.multiselect("Status", sorted({r.status for r in all_runs}), key="runs_f_status",
                                placeholder="any")
datasets = f_data.multiselect("Dataset", sorted({r.dataset or "" for r in all_runs} - {""}), key="runs_f_dataset",
                              placeholder="any")
models = f_model.multiselect("Model", sorted({r.model or "" for r in all_runs} - {""}), key="runs_f_model",
                             placeholder="any")
text = f_text.text_input("Search", key="runs_f_text", placeholder="name, tag, id...")

live = any(r.status in ACTIVE for r in all_runs)
st.fragment(runs_table, run_every=REFRESH_S if live else IDLE_REFRESH_S)(statuses, datasets, models, text)

labels = compare.run_labels(all_runs)
if st.session_state.get(PICKER) != selected:
    st.session_state[PICKER] = selected
st.multiselect("Selected runs", list(by_id), key=PICKER, on_change=_on_pick, format_func=lambda i: labels[i],
               placeholder="Choose runs to inspect or compare")

chosen = [by_id[i] for i in selected]
if not chosen:
    st.info("Tick a run in the table (or pick it above) to see its evaluation; tick two or more to compare them.")
elif len(chosen) == 1:
    show_run(chosen[0])
else:
    show_comparison(chosen)
