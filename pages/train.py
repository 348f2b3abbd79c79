"""Train: pick a model, set how it trains, start runs and watch them live."""
import streamlit as st

from core.data import infer_task
from core.errors import WorkbenchError
from core.vocab import (
    MODEL_KINDS, OPTIMIZER_LABELS, OPTIMIZERS, PRECISIONS, SCHEDULES, models_for_task, monitor_choices,
    uses_learning_rate,
)
from core.runs.ray_executor import ray_address
from core.training.device import available_devices
from core.tuning.cv import submit_cv
from core.tuning.repeats import MAX_REPEATS, submit_repeats
from workbench.engine import get_engine
from workbench.ui import datasets as ds
from workbench.ui import image_train
from workbench.ui import state as ui_state
from workbench.ui.common import md_escape, page_link
from workbench.ui.forms import (
    FORM_DEFAULTS, build_config, cluster_device_options, config_to_cli, device_options, hyperparam_inputs,
)
from workbench.ui.insight import draw_repeats
from workbench.ui.live import follow_open_request, live_panel
from workbench.ui.boundary_view import live_boundary
from workbench.ui.network_view import draw_network
from workbench.ui.tune_views import draw_cv

follow_open_request()  # before anything else: an "Open its evaluation" click leaves this page
PRECISION_LABELS = {"fp32": "fp32 (full)", "bf16": "bf16 (mixed, CUDA)", "fp16": "fp16 (mixed, CUDA)"}
P = "tf_"  # widget keys of this form; kept across page changes
CV_PARENTS = ui_state.CV_PARENTS  # cross-validation parents started from this session
REPEAT_PARENTS = ui_state.REPEAT_PARENTS  # groups of repeats started from this session
STARTED = "_train_started"  # the toast of a run just started, shown after the rerun that clears its name
ui_state.restore_widgets(st.session_state, P)
if STARTED in st.session_state:  # a run started: its name is used, the next run gets a fresh one
    st.session_state[P + "name"] = ""
    st.toast(st.session_state.pop(STARTED), icon=":material/play_arrow:")


def reset_form() -> None:
    ui_state.forget_widgets(st.session_state, P, keep=(P + "sample",))


def kw(name: str, options=None):
    """key=..., plus the form's default (FORM_DEFAULTS: RunConfig's) only on first draw, as the value or,
    for a select, the index in `options` (a restored value must not fight a default)."""
    key = P + name
    if key in st.session_state:
        return {"key": key}
    default = FORM_DEFAULTS[name]
    return {"key": key, "index": list(options).index(default)} if options is not None else {"key": key, "value": default}


def keep_if_valid(name: str, options) -> None:
    """Drop a remembered choice that is no longer offered (another task, another machine)."""
    if P + name in st.session_state and st.session_state[P + name] not in options:
        del st.session_state[P + name]


engine = get_engine()
st.title("Train")

# --- the data --------------------------------------------------------------------------------
choice, chosen = ui_state.choice_or_default(st.session_state)
if not chosen:
    samples = {r.name: r for r in engine.catalog.samples()}
    names = list(samples) or [choice.source]
    st.info("No dataset chosen on the Data page yet, so this starts with the iris sample. Pick another sample "
            "here, or use the Data page to upload a file, set column roles and see the data checks.",
            icon=":material/info:")
    if st.session_state.get(f"{P}sample") not in names:
        st.session_state[f"{P}sample"] = choice.source if choice.source in names else names[0]
    sample = samples.get(st.selectbox("Sample", names, key=f"{P}sample"))
    if sample is not None and sample.target:
        choice = ui_state.DataChoice(source=sample.source, target=sample.target, task=sample.task,
                                     name=sample.name, image=bool(sample.image_shape) or sample.data_kind == "image",
                                     data_kind=sample.data_kind)

task = choice.task
if task is None:
    try:
        ref = engine.catalog.resolve(choice.source)
        task = infer_task(ds.load_frame(str(ref.path), ref.sha256, ref.name)[choice.target])
    except (WorkbenchError, KeyError) as exc:
        st.error(f"The chosen data cannot be read: {md_escape(exc)}", icon=":material/error:")
        st.stop()

overrides = f" · {len(choice.roles)} column role(s) changed" if choice.roles else ""
info_col, link_col = st.columns([4, 1], vertical_alignment="center")
read_as = ""
if choice.sequence is not None:  # set on the Data page: windows of a series, or whole sequences
    q = choice.sequence
    read_as = (f" · read as a series by **{md_escape(q['time_column'])}**" if q.get("time_column") else
               " · read as sequences") + (f", windows of {q['window']} steps" if q.get("window") else "")
info_col.markdown(f"**Data:** {md_escape(choice.label)} · predict **{md_escape(choice.target)}** · "
                  f"task **{task}**{overrides}{read_as}")
with link_col:
    page_link("data", "Change the data", icon=":material/table_chart:")

# --- the form ---------------------------------------------------------------------------------
values: dict = {"source": choice.source, "target": choice.target, "task": task, "roles": dict(choice.roles),
                "sequence": choice.sequence}
model_col, optim_col, train_col = st.columns(3, gap="large")

with model_col:
    st.subheader("Model")
    kinds = models_for_task(task, choice.data_kind, choice.image)
    if st.session_state.get(f"{P}model") not in kinds:
        st.session_state[f"{P}model"] = FORM_DEFAULTS["model"] if FORM_DEFAULTS["model"] in kinds else kinds[0]
    kind = st.selectbox("Model", kinds, key=f"{P}model", format_func=lambda k: MODEL_KINDS[k].label)
    st.caption(MODEL_KINDS[kind].description)
    values["model"] = kind
    values["params"] = hyperparam_inputs(kind, f"{P}hp_")

with optim_col:
    st.subheader("Optimiser")
    values["optimizer"] = st.selectbox("Optimiser", OPTIMIZERS, **kw("optimizer", OPTIMIZERS),
                                       format_func=OPTIMIZER_LABELS.get,
                                       help="How the weights are updated from the gradients. auto fits a linear "
                                            "or logistic model to convergence with full-batch L-BFGS and trains "
                                            "every other model with Adam, a safe default.")
    line_search = not uses_learning_rate(values["optimizer"], kind)
    values["lr"] = st.number_input("Learning rate", min_value=1e-6, max_value=10.0, step=1e-4, format="%g",
                                   **kw("lr"), disabled=line_search,
                                   help="How big each update step is. Too high: the loss jumps around; "
                                        "too low: training crawls.")
    if line_search:
        st.caption("L-BFGS uses every training row in each step and finds each step's size by a line search: "
                   "the learning rate and batch size do not apply.")
    if values["optimizer"] in ("sgd", "rmsprop"):
        values["momentum"] = st.number_input("Momentum", min_value=0.0, max_value=0.999, step=0.05,
                                             **kw("momentum"),
                                             help="How much of the previous update carries into the next one.")
    if values["optimizer"] == "sgd":
        values["nesterov"] = st.checkbox("Nesterov momentum", **kw("nesterov"),
                                         help="Looks ahead along the momentum before taking the gradient; "
                                              "often a little faster.")
    values["schedule"] = st.selectbox(
        "Learning-rate schedule", SCHEDULES, **kw("schedule", SCHEDULES),
        help="constant: never changes; step: cut every few epochs; cosine: glides down to zero; onecycle: "
             "warms up then anneals; plateau: cut when the validation loss stops improving.")
    if values["schedule"] == "step":
        a, b = st.columns(2)
        values["step_size"] = a.number_input("Every (epochs)", min_value=1, max_value=10_000,
                                             **kw("step_size"))
        values["gamma"] = b.number_input("Multiply by", min_value=0.01, max_value=1.0, step=0.05,
                                         **kw("gamma"))
    elif values["schedule"] == "plateau":
        a, b = st.columns(2)
        values["plateau_patience"] = a.number_input("Wait (epochs)", min_value=1, max_value=1000,
                                                    **kw("plateau_patience"))
        values["plateau_factor"] = b.number_input("Multiply by", min_value=0.01, max_value=0.99,
                                                  step=0.05, **kw("plateau_factor"))
    elif values["schedule"] == "onecycle":
        values["warmup_fraction"] = st.slider("Warm-up share of training", 0.05, 0.95, step=0.05,
                                              **kw("warmup_fraction"))
    a, b = st.columns(2)
    values["weight_decay"] = a.number_input("Weight decay (L2)", min_value=0.0, max_value=1.0, step=1e-4,
                                            format="%g", **kw("weight_decay"),
                                            help="Pulls weights towards zero; helps against overfitting.")
    values["l1"] = b.number_input("L1 penalty", min_value=0.0, max_value=1.0, step=1e-5, format="%g",
                                  **kw("l1"), help="Pushes unhelpful weights to exactly zero.")

with train_col:
    st.subheader("Training")
    a, b = st.columns(2)
    values["epochs"] = a.number_input("Epochs", min_value=1, max_value=100_000, **kw("epochs"),
                                      help="How many times the model sees the whole training data.")
    values["batch_size"] = b.number_input("Batch size", min_value=1, max_value=1_000_000,
                                          **kw("batch_size"), help="Rows per update step.")
    values["early_stopping"] = st.toggle("Early stopping", **kw("early_stopping"),
                                         help="Stop when the validation score stops improving, "
                                              "and keep the best weights.")
    if values["early_stopping"]:
        a, b = st.columns(2)
        values["patience"] = a.number_input("Patience (epochs)", min_value=1, max_value=10_000,
                                            **kw("patience"))
        keep_if_valid("monitor", monitor_choices(task))
        values["monitor"] = b.selectbox("Watch", monitor_choices(task), **kw("monitor", monitor_choices(task)),
                                        format_func=lambda m: f"val {m}",
                                        help="The validation score that must keep improving.")
    values["grad_clip"] = st.number_input("Gradient clipping (0 = off)", min_value=0.0, max_value=1e6, step=0.5,
                                          **kw("grad_clip"),
                                          help="Caps the size of each update; steadies unstable training.")
    cluster = ray_address()
    executor = "local"
    if cluster:  # WORKBENCH_RAY_ADDRESS: the run may go to the Ray cluster
        executor = st.radio("Train on", ("ray", "local"), key=f"{P}executor", horizontal=True,
                            format_func=lambda e: {"ray": f"The Ray cluster (`{cluster}`)",
                                                   "local": "This machine"}[e],
                            help="On Ray the run is a job on a node with the device it asks for; its metrics "
                                 "come back through the database, its files go to the shared workspace.")
    devices = device_options(available_devices())
    if executor == "ray":
        devices = cluster_device_options(devices)
    keep_if_valid("device", devices)
    values["device"] = st.selectbox("Device", list(devices), **kw("device", devices),
                                    format_func=lambda d: devices[d],
                                    help="Runs on different GPUs train at the same time; "
                                         "runs on one device one after another.")
    values["precision"] = st.selectbox("Precision", PRECISIONS, **kw("precision", PRECISIONS),
                                       format_func=lambda p: PRECISION_LABELS[p])
    st.caption("Mixed precision (bf16, fp16) only applies on a CUDA GPU; on the CPU a run trains in fp32.")
    a, b = st.columns(2)
    values["seed"] = a.number_input("Seed", min_value=0, max_value=2**31 - 1, **kw("seed"),
                                    help="Same seed, same settings, same device: the same result.")
    values["name"] = b.text_input("Run name", **kw("name"), placeholder="automatic",
                                  help="Leave empty for a name like mlp-iris-3. Two runs never share a name.")
    wanted = str(values["name"] or "").strip()
    if wanted and engine.store.unique_name(wanted) != wanted:
        st.caption(f":material/info: A run is already called '{md_escape(wanted)}', so this one will be "
                   f"'{md_escape(engine.store.unique_name(wanted))}'.")

if choice.data_kind == "image":
    values["image_size"], values["image_color"] = choice.image_size, choice.image_color
    with st.expander("Image augmentation", icon=":material/auto_awesome:"):
        settings_col, preview_col = st.columns([2, 3], gap="large")
        with settings_col:
            values["augment"] = image_train.augment_inputs(P)
        with preview_col:
            image_train.draw_preview(engine, choice.source, choice.image_size, choice.image_color,
                                     values["augment"], int(values["seed"]))

ui_state.save_widgets(st.session_state, P)

# --- start ------------------------------------------------------------------------------------
config, problem = None, None
try:
    config = build_config(values)
except WorkbenchError as exc:
    problem = str(exc)
if problem:
    st.error(md_escape(problem), icon=":material/error:")
draw_network(engine, config)

cv_col, k_col = st.columns([3, 1])
use_cv = cv_col.checkbox("Cross-validate", key=f"{P}cv",
                         help="Train one run per fold (stratified for classes, seeded) and report the mean "
                              "and spread of each test metric: a steadier estimate than one split.")
folds = int(k_col.number_input("Folds", min_value=2, max_value=20, value=5, key=f"{P}cv_k", disabled=not use_cv))
rep_col, n_col = st.columns([3, 1])
use_repeats = rep_col.checkbox("Repeat with several seeds", key=f"{P}repeats", disabled=use_cv,
                               help="Train these settings once per seed on one split and report each metric's mean, "
                                    "spread and 95% interval, with shaded bands on the curves: how much of a "
                                    "result is the seed's luck.") and not use_cv
n_seeds = int(n_col.number_input("Seeds", min_value=2, max_value=MAX_REPEATS, value=5, key=f"{P}repeats_n",
                                 disabled=not use_repeats))

start_col, reset_col = st.columns([3, 1])
reset_col.button("Reset to defaults", icon=":material/restart_alt:", on_click=reset_form, key="train_reset",
                 help="Every setting on this page back to its default; the data stays as chosen.")
if start_col.button("Start training", type="primary", icon=":material/play_arrow:", disabled=config is None):
    try:
        if use_cv:
            parent_id = submit_cv(engine, config, folds, executor=executor)
            st.session_state.setdefault(CV_PARENTS, []).append(parent_id)
        elif use_repeats:
            parent_id = submit_repeats(engine, config, n_seeds, executor=executor)
            st.session_state.setdefault(REPEAT_PARENTS, []).append(parent_id)
        else:
            run_id = engine.manager.submit(config, executor=executor)
    except WorkbenchError as exc:
        st.error(md_escape(exc), icon=":material/error:")
    else:
        if use_cv:
            st.session_state[STARTED] = f"Started {folds}-fold cross-validation"
        elif use_repeats:
            st.session_state[STARTED] = f"Started {n_seeds} runs with seeds {int(values['seed'])} to " \
                                        f"{int(values['seed']) + n_seeds - 1}"
        else:
            ui_state.remember_run(st.session_state, run_id)
            st.session_state[STARTED] = f"Started {md_escape(engine.store.get(run_id).name)}"
        st.rerun()  # the name field clears for the next run

for parent_id in st.session_state.get(CV_PARENTS, [])[-3:]:  # the latest cross-validations of this session
    draw_cv(engine, parent_id)
for parent_id in st.session_state.get(REPEAT_PARENTS, [])[-2:]:  # the latest repeats of this session
    st.markdown(f"**{md_escape(engine.store.get(parent_id).name)}**")
    draw_repeats(engine, parent_id, key="train_")

with st.expander("This run as code"):
    if config is None:
        st.caption("Fix the settings above to see the command.")
    else:
        st.markdown("The same run from a terminal (the common settings):")
        st.code(config_to_cli(config) + (f" --cv {folds}" if use_cv else "")
                + (f" --repeats {n_seeds}" if use_repeats else ""), language="bash", wrap_lines=True)
        st.markdown("Every setting, as YAML. Save it as `run.yaml` and run `workbench train --config run.yaml`:")
        st.code(config.to_yaml(), language="yaml")  # the copy button of st.code takes it whole

live_panel(engine)
live_boundary(engine)
