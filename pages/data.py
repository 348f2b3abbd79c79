"""Data: choose or upload a table, look at it, check it, and say what to predict."""
import streamlit as st

from core.data import infer_task, remembered
from core.data import roles as column_roles
from core.data.checks import left_out
from core.data.catalog import MAX_UPLOAD_BYTES
from core.vocab import ROLES, TASKS, is_classification
from core.errors import WorkbenchError
from workbench.engine import get_engine
from workbench.ui import datasets as ds
from workbench.ui import image_data
from workbench.ui import sequences as seq_ui
from workbench.ui import state as ui_state
from workbench.ui.common import md_escape, page_link

engine = get_engine()
st.title("Data")
st.caption("Choose a table to learn from, look at it, and say which column to predict. "
           "Your choice carries over to the Train page.")

choice = ui_state.get_choice(st.session_state)

# Layout first, filled below in the order the values are known.
st.subheader("1. Choose a dataset")
pick_col, upload_col = st.columns([3, 2], gap="large")
look = st.container()
predict = st.container()
checks_box = st.container()

# --- upload (handled before the picker so a new file can become the pick) ---------------
with upload_col:
    upload = st.file_uploader("Or upload your own data", type=["csv", "tsv", "txt", "parquet", "pq", "zip"],
                              help="A table with a header row, or a zip of images with one folder per class. "
                                   "Nothing leaves this computer.")
    st.caption(f"CSV, TSV or Parquet; or a .zip of class folders of images. Up to {MAX_UPLOAD_BYTES / 2**20:.0f} MB.")
    if upload is not None and st.session_state.get("_data_upload_id") != upload.file_id:
        try:
            added = engine.catalog.add_upload(upload.name, upload.getvalue())
        except WorkbenchError as exc:
            st.error(md_escape(exc), icon=":material/error:")
        else:
            st.session_state["_data_upload_id"] = upload.file_id
            st.session_state["data_pick"] = added.name
            st.success(f"Stored {md_escape(upload.name)}: it is now in the list of datasets.",
                       icon=":material/check:")

refs = {r.name: r for r in engine.catalog.all()}
if not refs:
    st.error("No datasets found: the sample folder is missing and nothing was uploaded yet. Upload a file.")
    st.stop()
if st.session_state.get("data_pick") not in refs:
    st.session_state["data_pick"] = choice.name if choice and choice.name in refs else (
        "iris" if "iris" in refs else next(iter(refs)))

with pick_col:
    name = st.selectbox("Dataset", list(refs), key="data_pick", format_func=lambda n: ds.dataset_label(refs[n]),
                        help="The samples are small real datasets; your uploads follow them.")
    ref = refs[name]
    if ref.description:
        st.caption(md_escape(ref.description))
    with st.expander("About the samples"):
        st.markdown("\n".join(f"- **{md_escape(r.name)}** ({r.task or 'task inferred'}, predict "
                               f"*{md_escape(r.target)}*): {md_escape(r.description)}"
                               for r in engine.catalog.samples()))

if ref.data_kind == "image":  # a zip or folder of class folders: its own profile, no columns
    image_data.draw(engine, ref, choice, look, predict, checks_box)
    st.stop()

try:
    df = ds.load_frame(str(ref.path), ref.sha256, ref.name)
    profile = ds.load_profile(str(ref.path), ref.sha256, ref.name)
except WorkbenchError as exc:
    st.error(md_escape(exc), icon=":material/error:")
    st.stop()
if df.shape[1] < 2 or df.empty:
    st.error(f"{md_escape(ds.dataset_label(ref))} needs at least two columns and one row: one to predict, one to learn from.")
    st.stop()

# --- what to predict --------------------------------------------------------------------------
columns = [str(c) for c in df.columns]
same_data = choice is not None and choice.source == ref.source
with predict:
    st.subheader("3. What to predict")
    # what was chosen for this dataset before (this session, or one before a reload): else the defaults
    before = remembered.recall(engine.workspace, ref.source)
    if same_data:
        before = remembered.DataChoices(choice.target, choice.task, dict(choice.roles))
    target_key = f"data_target::{ref.name}"
    if target_key not in st.session_state:
        st.session_state[target_key] = before.target if before and before.target in columns else (
            column_roles.default_target(columns, ref.target, df))
    t_col, task_col = st.columns(2)
    target = t_col.selectbox("Target column", columns, key=target_key,
                             help="The column the model learns to predict from the others.")
    inferred = ref.task if ref.target == target and ref.task else infer_task(df[target])
    task_key = f"data_task::{ref.name}::{target}"
    if task_key not in st.session_state:
        keep = before is not None and before.target == target and before.task in TASKS
        st.session_state[task_key] = before.task if keep else inferred
    task = task_col.selectbox("Task", list(TASKS), key=task_key,
                              help="binary: two classes; multiclass: more classes; regression: a number.")
    task_col.caption(f"Inferred from the target: **{inferred}**."
                     + ("" if task == inferred else " You chose otherwise."))

    overrides = {c: r for c, r in before.roles.items() if c in columns} if before and before.target == target else {}
    roles = None
    if ref.image_shape:
        st.info(f"This is image data ({' x '.join(map(str, ref.image_shape))} pixels): every pixel column is a "
                "numeric input, so there are no column roles to set.", icon=":material/image:")
        overrides = {}
    else:
        st.markdown("**Column roles**: how each column is used. *numeric* for quantities, *categorical* for "
                    "labels and codes, *ignore* to leave a column out.")
        inferred_roles = ds.inferred_roles(str(ref.path), ref.sha256, ref.name, target)
        table = column_roles.roles_table(df, target, overrides, profile, inferred_roles)
        edited = st.data_editor(
            table, key=f"data_roles::{ref.name}::{target}", hide_index=True, width="stretch",
            disabled=["column", "holds"], num_rows="fixed",
            column_config={
                "column": st.column_config.TextColumn("Column"),
                "holds": st.column_config.TextColumn("Holds", help="What the profile found in the column"),
                "role": st.column_config.SelectboxColumn("Role", options=list(ROLES), required=True),
            })
        overrides = column_roles.role_overrides(edited, df, target, inferred_roles)
        st.caption("Defaults come from the data: identifiers, running numbers, constant columns, dates and free "
                   "text start as ignore. " + (f"You changed {len(overrides)} role(s)." if overrides else ""))
        roles = dict(zip(edited["column"], edited["role"]))

    sequence = None
    if ref.data_kind == "table" and not ref.image_shape:
        st.markdown("**Sequences**: read the rows as a time series to forecast, or as sequences to classify.")
        kept = choice.sequence if same_data and choice.target == target else ref.sequence
        seq = seq_ui.sequence_settings(f"data_seq::{ref.name}::{target}", df, target, task, kept)
        if seq is not None:
            seq_ui.show_preview(df, target, task, seq)
            sequence = seq_ui.settings_dict(seq)

remembered.remember(engine.workspace, ref.source, remembered.DataChoices(target, task, overrides))
ui_state.set_choice(st.session_state, ui_state.DataChoice(
    source=ref.source, target=target, task=task, roles=overrides, name=ds.dataset_label(ref), image=bool(ref.image_shape),
    data_kind="sequence" if sequence is not None else ref.data_kind, sequence=sequence))

# --- look at it -----------------------------------------------------------------------------
with look:
    st.subheader("2. Look at it")
    m1, m2, m3, m4 = st.columns(4)
    m1.metric("Rows", f"{profile.n_rows:,}")
    m2.metric("Columns", f"{profile.n_cols:,}")
    m3.metric("Missing cells", f"{sum(c.missing for c in profile.columns):,}")
    m4.metric("Size in memory", ds.format_bytes(profile.memory_bytes))
    # Lazy tabs: only the open tab's content runs and reaches the browser, so opening the page costs
    # one table instead of a table and four charts (most of the page's load time with 8 sessions)
    preview, types, missing, dist, balance = st.tabs(
        ["Preview", "Column types", "Missing values", "Distributions", "Target balance"], key="data_tab",
        on_change="rerun")
    if preview.open:
        with preview:
            pages = ds.n_pages(len(df))
            pager, where = st.columns([1, 4], vertical_alignment="bottom")
            page = pager.number_input(f"Page (of {pages})", min_value=1, max_value=pages, value=1, step=1,
                                      key=f"data_page::{ref.name}", help=f"{ds.PAGE_SIZE} rows per page")
            where.caption(ds.page_caption(len(df), page))
            st.dataframe(ds.page_rows(df, page), width="stretch", height=420)
            st.caption("The raw table as loaded, before any encoding. Scroll inside the table to see all rows "
                       "of this page.")
    if types.open:
        with types:
            st.plotly_chart(ds.types_figure(profile), key="data_types_fig")
            st.caption("How many columns hold numbers, categories, yes/no values, dates or free text. "
                       "Each kind is encoded differently before training.")
            st.dataframe(profile.to_frame(), width="stretch", hide_index=True)
            st.caption("One row per column: its kind, how many values are missing or distinct, and its spread.")
    if missing.open:
        with missing:
            st.plotly_chart(ds.missing_figure(profile), key="data_missing_fig")
            st.caption("The share of rows with no value in each column. Gaps are filled in before training; "
                       "a column that is mostly empty carries little signal.")
    if dist.open:
        with dist:
            dist_col = st.selectbox("Column", columns, index=0, key=f"data_dist::{ref.name}")
            st.plotly_chart(ds.distribution_figure(df, dist_col, profile), key="data_dist_fig")
            st.caption("How often each value (or range of values) occurs. Look for odd spikes, impossible "
                       "values and long tails.")
    if balance.open:
        with balance:
            st.plotly_chart(ds.target_figure(df, target, task, profile), key="data_target_fig")
            st.caption("How many rows each class has. A class with few rows is hard to learn, and accuracy can "
                       "look good while that class is always wrong." if is_classification(task) else
                       "How the values to predict are spread. A few extreme values can dominate the error.")

# --- checks --------------------------------------------------------------------------------
with checks_box:
    st.subheader("4. Data checks")
    found = ds.checks_for(str(ref.path), ref.sha256, ref.name, target, task,
                          tuple(ref.image_shape) if ref.image_shape else None,
                          tuple(sorted(roles.items())) if roles is not None else None)
    if sequence is not None:  # the time column and the series id order and group the rows: no inputs to check
        found = [c for c in found if c.column not in (sequence.get("time_column"), sequence.get("series_id"))]
    aside = [c for c in found if left_out(c)]  # about columns already ignored: nothing left to do
    found = [c for c in found if not left_out(c)]
    if not found:
        st.success("No problems found: the data is ready to train on.", icon=":material/check_circle:")
    shows = {"error": (st.error, ":material/error:"), "warning": (st.warning, ":material/warning:"),
             "info": (st.info, ":material/info:")}
    for check in found:
        show, icon = shows[check.level]
        show(f"**{md_escape(check.message)}**  \n{md_escape(check.advice)}", icon=icon)
    if aside:
        with st.expander(f"Left out of training: {len(aside)} column(s) ignored, and why",
                         icon=":material/visibility_off:"):
            st.markdown("\n".join(f"- {md_escape(c.message)}" for c in aside))
            st.caption("Their role is ignore (set in the roles table above), so they cannot mislead the model.")
    if any(c.level == "error" for c in found):
        st.caption("Training cannot start until the problems in red are fixed.")
    page_link("train", "Continue to Train", icon=":material/arrow_forward:")
