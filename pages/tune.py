"""Tune: search hyperparameters with Optuna; every trial is a run with its own live curves."""
import time

import streamlit as st

from core.errors import WorkbenchError
from core.vocab import MODEL_KINDS, TASKS, models_for_task
from core.vocab import ACTIVE
from core.tuning import background
from core.tuning.search import (
    can_resume, create_study, list_studies, metric_choices, resume_study, stop_study, study_spec, submit_best,
)
from core.tuning.space import apply_values, current_values
from workbench.engine import get_engine
from workbench.ui import state, tune_views
from workbench.ui.common import PRIMARY_METRICS, format_metric, page_link, status_label, user_errors
from workbench.ui.forms import FORM_DEFAULTS, build_config

SELECTED = "tune_study"
# The new-search form's widget keys, kept across page changes. Only settable widgets may carry it:
# buttons and charts refuse a value put back into session state.
PREFIX = "tune_form_"

engine = get_engine()
st.title("Tune")
st.caption("Let Optuna search the settings: each trial is an ordinary run, unpromising ones are stopped early "
           "(pruned), and the best settings become a new run in one click.")

state.restore_widgets(st.session_state, PREFIX)
choice, chosen = state.choice_or_default(st.session_state)
studies = list_studies(engine)


def _task_of(source: str, task: str | None) -> str | None:
    if task:
        return task
    try:
        return engine.catalog.resolve(source).task
    except WorkbenchError:
        return None


# --- a new search ------------------------------------------------------------------------------------
with st.expander("New search", expanded=not studies, icon=":material/add:"):
    line = f"Data: **{choice.label}** → target **{choice.target}**"
    st.markdown(line + ("" if chosen else " (the sample; pick your own on the Data page)"))
    task = _task_of(choice.source, choice.task)
    kinds = models_for_task(task if task in TASKS else None, choice.data_kind, choice.image)
    c1, c2, c3, c4 = st.columns(4)
    default_kind = FORM_DEFAULTS["model"] if FORM_DEFAULTS["model"] in kinds else kinds[0]
    kind = c1.selectbox("Model", kinds, index=kinds.index(default_kind),
                        format_func=lambda k: MODEL_KINDS[k].label, key=f"{PREFIX}model")
    n_trials = c2.number_input("Trials", min_value=1, max_value=1000, value=20, step=1, key=f"{PREFIX}trials")
    epochs = c3.number_input("Epochs per trial (fixed)", min_value=1, max_value=10000,
                             value=FORM_DEFAULTS["epochs"], step=1, key=f"{PREFIX}epochs")
    metrics = ["auto", *(metric_choices(task) if task else ())]
    metric = c4.selectbox("Optimise (validation)", metrics, key=f"{PREFIX}metric",
                          help=f"auto: {PRIMARY_METRICS}.")
    with st.expander("Search options"):
        o1, o2, o3 = st.columns(3)
        seed = o1.number_input("Seed", min_value=0, value=FORM_DEFAULTS["seed"], step=1, key=f"{PREFIX}seed",
                               help="Seeds the trials and Optuna's sampler: the same seed gives the same search.")
        pruning = o2.toggle("Prune unpromising trials", value=True, key=f"{PREFIX}pruning",
                            help="Stop a trial whose validation curve is below the median of earlier trials.")
        name = o3.text_input("Study name", value="", placeholder="automatic", key=f"{PREFIX}name")
    st.markdown("**Settings**: tick the ones to search and give their range; the others stay at the value shown.")
    form_values = {"source": choice.source, "target": choice.target, "task": choice.task, "roles": choice.roles,
                   "model": kind, "epochs": int(epochs), "seed": int(seed)}
    base = None
    with user_errors():
        base = build_config(form_values)
    fixed_now = current_values(base) if base else {}
    space, fixed = tune_views.space_inputs(kind, fixed_now, PREFIX)
    if st.button("Start search", type="primary", icon=":material/play_arrow:", key="tune_start",
                 disabled=base is None):
        with user_errors():
            config = apply_values(base, fixed)
            parent_id = create_study(engine, config, space, int(n_trials), metric=None if metric == "auto" else metric,
                                     name=name, pruning=pruning)
            background.start(engine, parent_id)
            st.session_state[SELECTED] = parent_id
            state.save_widgets(st.session_state, PREFIX)
            st.rerun()

state.save_widgets(st.session_state, PREFIX)

# --- studies -------------------------------------------------------------------------------------------
st.subheader("Searches")
if not studies:
    st.info("No search yet. Tick the settings to search above and press **Start search**.",
            icon=":material/info:")
    st.stop()

ids = [r.run_id for r in studies]
# no status in the label: it would be stale in the closed dropdown while the study runs
labels = {r.run_id: f"{r.name} · {r.model} on {r.dataset} · {time.strftime('%d %b %H:%M', time.localtime(r.created_at))}"
          for r in studies}
current = st.session_state.get(SELECTED)
picked = st.selectbox("Study", ids, index=ids.index(current) if current in ids else 0, format_func=labels.get,
                      key="tune_picked")
st.session_state[SELECTED] = picked
record = engine.store.get(picked)
spec = study_spec(record)
counts = record.summary.get("trials") or {}
best = record.summary.get("best")

m1, m2, m3, m4 = st.columns(4)
m1.metric("Status", status_label(record.status))
m2.metric("Trials", f"{counts.get('finished', 0)} / {spec.n_trials}")
m3.metric(f"Best val {spec.metric}", format_metric(best["value"]) if best else "–")
m4.metric("Pruned", counts.get("pruned", 0))
if record.status_reason:
    st.caption(record.status_reason)
st.caption("Searching: " + " · ".join(f"{p.label or p.name} {p.describe()}" for p in spec.space))

actions = iter(st.columns([1.3, 1.1, 1.1, 2.5]))
if best and next(actions).button("Train best config", type="primary", icon=":material/model_training:",
                                 key="tune_best"):
    with user_errors():
        run_id = submit_best(engine, picked)
        state.remember_run(st.session_state, run_id)
        st.success(f"Started run {run_id} with the best settings.")
        page_link("runs", "See it on the Runs page")
if best:
    with next(actions).popover("Best config", icon=":material/description:"):
        st.json(best["params"])
        st.code(tune_views.best_yaml(best), language="yaml")
if record.status in ACTIVE:
    if next(actions).button("Stop search", icon=":material/stop:", key="tune_stop"):
        stop_study(engine, picked)
        st.toast("Stopping: the running trial ends and the study keeps what it found.")
elif can_resume(record):
    if next(actions).button("Resume", icon=":material/play_arrow:", key="tune_resume"):
        with user_errors():
            resume_study(engine, picked)
            background.start(engine, picked)
            st.rerun()

tune_views.draw_study(engine, picked)
