"""Explain: why a trained model predicts what it does, with SHAP, LIME and partial dependence."""
from __future__ import annotations

import numpy as np
import streamlit as st

from core.errors import WorkbenchError
from core.explain import LimeParams, PdpParams, RunContext, ShapParams, explain_lime, explain_shap
from core.explain import views
from core.explain.estimate import estimate_lime, estimate_shap
from core.explain.rows import rows_with_predictions
from core.explain.service import lookup, partial_dependence
from core.explain.shap_values import EXPLAINERS
from core.vocab import is_classification
from workbench.engine import get_engine
from workbench.ui import boundary_view, explain_insight
from workbench.ui import explain_views as ui
from workbench.ui import sequences as seq_ui
from workbench.ui.common import page_link, user_errors

engine = get_engine()
store = engine.store


@st.cache_resource(show_spinner="Loading the model and its data...", max_entries=4)
def load_context(workspace: str, run_id: str) -> RunContext:
    return RunContext.load(store, engine.catalog, run_id)


@st.cache_data(show_spinner="Timing a small probe to estimate how long this takes...", max_entries=64)
def estimate(workspace: str, run_id: str, method: str, n_rows: int, params: ShapParams | LimeParams) -> str:
    ctx = load_context(workspace, run_id)
    found = estimate_shap(ctx, n_rows, params) if method == "shap" else estimate_lime(ctx, n_rows, params)
    return found.text()


st.title("Explain")
st.caption("Ask a trained model why it predicts what it does: which columns matter overall (SHAP), "
           "for one row (SHAP waterfall, LIME), and how the prediction moves with one column (PDP/ICE).")

runs = [r for r in store.list_runs() if r.has_model]  # completed, or stopped with its kept weights
if not runs:
    st.info("No completed run yet. Train a model first; its explanations appear here.")
    page_link("train", "Train a model")
    st.stop()

by_id = {r.run_id: r for r in runs}
run = by_id[st.selectbox("Run", list(by_id), index=ui.default_run_index(runs, st.session_state),
                         format_func=lambda i: ui.run_label(by_id[i]), key="explain_run")]
workspace = str(store.workspace)
if run.config.get("sequence") is not None:  # a sequence model: attribution over its window's steps and columns
    seq_ui.show_explanation(store, engine.catalog, run)
    st.stop()
try:
    ctx = load_context(workspace, run.run_id)
except WorkbenchError as exc:
    st.error(str(exc), icon=":material/error:")
    st.stop()
for message in ctx.warnings:
    st.warning(message)

with user_errors():
    rows = ui.pick_rows(store, ctx)
if not rows:
    st.info("No rows chosen yet.")
    st.stop()
table = rows_with_predictions(store, ctx.run_id, ctx.frame, rows)
with st.expander(f"{len(rows)} rows chosen", expanded=False):
    st.dataframe(table, height=240)

with st.expander("Settings", expanded=False):
    left, mid, right = st.columns(3)
    spaces = ["logit", "probability"] if is_classification(ctx.task) else ["value"]
    space = left.selectbox("Output to explain", spaces, key="explain_space",
                           help="logit: the model's raw score; probability: after sigmoid/softmax (agnostic "
                                "explainers only, slower); value: the prediction in the target's units.")
    explainer = mid.selectbox("SHAP explainer", EXPLAINERS, key="explain_explainer",
                              help="auto: exact for linear models, batched DeepLIFT for networks, "
                                   "Kernel SHAP for probabilities. Permutation needs ~20 s to start.")
    background = right.number_input("Reference rows (from the training split)", 10, 1000, 100, step=10,
                                    key="explain_background")
    lime_samples = left.number_input("LIME samples per row", 100, 20000, 1000, step=100, key="explain_lime_n")
shap_params = ShapParams(explainer=explainer, space=space, background=int(background))

# Lazy tabs: only the open tab runs, so opening the page neither times a LIME probe nor computes PDP
tab_shap, tab_lime, tab_pdp, tab_time, tab_compare, tab_boundary = st.tabs(
    ["SHAP", "LIME", "PDP / ICE", "Over time", "Compare runs", "Decision boundary"], key="explain_tab",
    on_change="rerun")


def shap_tab() -> None:
    exp = lookup(store, run.run_id, "shap", rows, shap_params)
    if exp is None:
        st.write(f"Not explained yet for these {len(rows)} rows. "
                 f"Estimated time: **{estimate(workspace, run.run_id, 'shap', len(rows), shap_params)}**.")
        if st.button("Explain with SHAP", type="primary", key="explain_shap_go"):
            update, bar = ui.progress_bar("SHAP")
            explain_shap(store, engine.catalog, run.run_id, rows, shap_params, context=ctx, progress=update)
            bar.empty()
            st.rerun()  # draw from the cache, without the estimate and the button
    if exp is not None:
        st.caption(f"{exp.explainer} explainer, {len(exp.rows)} rows against {exp.references} reference rows, "
                   f"{exp.seconds:.2f} s. Check: base value + SHAP values = model output on every row "
                   f"(largest gap {exp.max_additivity_error:.1e}).")
        for message in exp.warnings:
            st.warning(message)
        if exp.data_kind == "image":
            image_shap(exp)
            return
        labels = exp.output_labels
        output = 0
        if len(labels) > 1:
            predicted = np.bincount(exp.outputs.argmax(axis=1), minlength=len(labels))
            output = st.selectbox("Class", range(len(labels)), index=int(predicted.argmax()),
                                  format_func=lambda k: labels[k], key="explain_class",
                                  help="The class whose score the views explain; first shown: the class "
                                       "predicted most often among these rows.")
        left, right = st.columns(2)
        with left:
            ui.show(views.importance_view(exp, None if len(labels) > 1 else 0), "shap_importance")
        with right:
            ui.show(views.beeswarm_view(exp, output), "shap_beeswarm")
        left, right = st.columns(2)
        with left:
            ranked = list(exp.importances(output))
            feature = st.selectbox("Dependence on", ranked, key="explain_dep_feature")
            colour = st.selectbox("Colour by", ["(none)", *[c for c in ranked if c != feature]],
                                  key="explain_dep_colour")
            ui.show(views.dependence_view(exp, feature, output, None if colour == "(none)" else colour),
                    "shap_dependence")
        with right:
            position = st.selectbox("Row", range(len(exp.rows)), key="explain_waterfall_row",
                                    format_func=lambda i: ui.row_label(exp.rows[i], table))
            ui.show(views.waterfall_view(exp, position, output), "shap_waterfall")
        if exp.image_shape:  # a pixel table: the picture's map is for the class this row is predicted as
            k = 0
            if len(labels) > 1:
                k = st.selectbox("Class of the picture's map", range(len(labels)),
                                 index=int(np.argmax(exp.outputs[position])), format_func=lambda k: labels[k],
                                 key=f"explain_pixels_class_{position}",
                                 help="First shown: the class the model predicts for this row.")
            ui.show(views.image_view(exp, position, k), "shap_image")

def image_shap(exp) -> None:
    """An image run: one picture at a time beside its SHAP map, for the class it was predicted as (by default)."""
    labels = exp.output_labels
    left, right = st.columns(2)
    position = left.selectbox("Image", range(len(exp.rows)), key="explain_image_row",
                              format_func=lambda i: ui.row_label(exp.rows[i], table))
    output = 0
    if len(labels) > 1:
        predicted = int(np.argmax(exp.outputs[position]))
        output = right.selectbox("Class", range(len(labels)), index=predicted, format_func=lambda k: labels[k],
                                 key=f"explain_image_class_{position}",
                                 help="First shown: the class the model predicts for this image.")
    ui.show(views.image_view(exp, position, output), "shap_image")


def lime_tab() -> None:
    row = st.selectbox("Row to explain with LIME", rows, key="explain_lime_row",
                       format_func=lambda r: ui.row_label(r, table))
    lime_params = LimeParams(num_samples=int(lime_samples), shap=shap_params)
    found = lookup(store, run.run_id, "lime", [row], lime_params)
    if found is None:
        st.write("LIME fits a small straight-line model around this one row. "
                 f"Estimated time: **{estimate(workspace, run.run_id, 'lime', 1, lime_params)}**.")
        if st.button("Explain this row with LIME", type="primary", key="explain_lime_go"):
            update, bar = ui.progress_bar("LIME")
            explain_lime(store, engine.catalog, run.run_id, [row], lime_params, context=ctx, progress=update)
            bar.empty()
            st.rerun()
    if found is not None:
        k = found.explained_output[0]
        a, b, c = st.columns(3)
        a.metric("Agreement with SHAP", "n/a" if found.agreement[0] is None else f"{found.agreement[0]:+.2f}",
                 help=f"Rank correlation of the top {found.top_k} columns of each method; +1 = same order.")
        b.metric("LIME fit (R²)", f"{found.score[0]:.2f}", help="How well LIME's straight line fits the model here.")
        c.metric(f"Model output ({found.output_labels[k]})", f"{found.prediction[0]:.4g}")
        ui.show(views.lime_view(found, 0), "lime_vs_shap")
        if found.image_shape:
            shap_row = explain_shap(store, engine.catalog, run.run_id, [row], shap_params, context=ctx)
            ui.show(views.image_view(shap_row, 0, k, found), "lime_image")

def pdp_tab() -> None:
    if ctx.data_kind == "image":
        st.info("Partial dependence varies one column at a time: for images, read the SHAP and LIME maps instead.",
                icon=":material/info:")
        return
    left, right = st.columns(2)
    column = left.selectbox("Column", ctx.columns, key="explain_pdp_column")
    output = None
    if is_classification(ctx.task):
        default = len(ctx.classes) - 1 if ctx.task == "binary" else 0
        output = right.selectbox("Probability of class", ctx.classes, index=default, key="explain_pdp_class")
    result = partial_dependence(store, engine.catalog, run.run_id, PdpParams(column=column, output=output), rows,
                                context=ctx)
    ui.show(views.pdp_view(result), "pdp_ice")


def time_tab() -> None:
    explain_insight.draw_over_time(store, run, ctx.data_kind)


def compare_tab() -> None:
    if ctx.data_kind == "image":
        st.info("Runs are compared column by column; an image's inputs are its pixels, so compare two image runs "
                "by their pictures' maps on the SHAP tab.", icon=":material/info:")
        return
    explain_insight.draw_compare(engine, run, runs, shap_params)


def boundary_tab() -> None:
    boundary_view.explain_tab(ctx)


for tab, draw in ((tab_shap, shap_tab), (tab_lime, lime_tab), (tab_pdp, pdp_tab), (tab_time, time_tab),
                  (tab_compare, compare_tab), (tab_boundary, boundary_tab)):
    if tab.open:
        with tab, user_errors():
            draw()
