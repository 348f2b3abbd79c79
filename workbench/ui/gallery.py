"""The error gallery on the Runs page: click a confusion-matrix cell or residual points, see those test rows
(pictures as thumbnails) with the SHAP explanation of what each was predicted as.

Which rows a click names, and which output each row's explanation is for, is core.explain.gallery's.
"""
from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from core.errors import WorkbenchError
from core.evaluation.plots import confusion_figure, residuals_figure
from core.explain import ShapParams, explain_shap, views
from core.explain import gallery
from core.explain.context import RunContext
from core.explain.rows import predictions
from core.runs.store import RunRecord
from workbench.ui.common import md_escape, user_errors
from workbench.ui.evaluation import Plot

CLICKABLE = ("confusion", "residuals")
THUMBS = 48  # pictures in the strip above the explanations
HINT = {"confusion": " Click a cell to see its test rows below, each with why the model predicted what it did.",
        "residuals": " Click a point, or drag a box around several, to see those test rows below."}


@st.cache_resource(show_spinner="Loading the model and its data…", max_entries=4)
def _context(workspace: str, run_id: str, _engine: Any) -> RunContext:
    return RunContext.load(_engine.store, _engine.catalog, run_id)


@st.cache_data(show_spinner=False, max_entries=16)
def _predictions(workspace: str, run_id: str, _engine: Any) -> pd.DataFrame:
    return predictions(_engine.store, run_id)


def selection_key(run: RunRecord, plot_key: str) -> str:
    return f"eval_{plot_key}_{run.run_id}"


def chart(engine: Any, run: RunRecord, plot: Plot, evaluation: dict[str, Any] | None) -> None:
    """One evaluation plot; the confusion matrix and the residual plot answer clicks (their selection is in
    st.session_state under selection_key)."""
    key = selection_key(run, plot.key)
    figure = _clickable_figure(engine, run, plot, evaluation) if plot.key in CLICKABLE else None
    if figure is None:
        st.plotly_chart(plot.figure, key=key, width="stretch")
        st.caption(plot.caption)
        return
    st.plotly_chart(figure, key=key, width="stretch", on_select="rerun",
                    selection_mode="points" if plot.key == "confusion" else ("points", "box", "lasso"))
    st.caption(plot.caption + HINT[plot.key])


def _clickable_figure(engine: Any, run: RunRecord, plot: Plot, evaluation: dict[str, Any] | None):
    if plot.key == "confusion" and evaluation and evaluation.get("confusion"):
        figure = confusion_figure(evaluation["confusion"], clickable=True)
        figure.update_layout(height=plot.figure.layout.height)
        return figure
    try:
        pred = _predictions(str(engine.store.workspace), run.run_id, engine)
    except (WorkbenchError, OSError, ValueError):
        return None
    return residuals_figure(gallery.residual_points(pred))


def draw(engine: Any, run: RunRecord) -> None:
    """The rows behind the latest click, if any, with their explanations."""
    state = next((st.session_state.get(selection_key(run, k)) for k in CLICKABLE
                  if _has_points(st.session_state.get(selection_key(run, k)))), None)
    if state is None:
        return
    with user_errors():
        pred = _predictions(str(engine.store.workspace), run.run_id, engine)
        pick = gallery.pick_from_selection(state, pred)
        if pick is None:
            return
        st.subheader("Error gallery")
        st.markdown(f"**{md_escape(pick.title())}**")
        if not pick.rows:
            st.info("No test row falls in this cell.", icon=":material/info:")
            return
        ctx = _context(str(engine.store.workspace), run.run_id, engine)
        if ctx.data_kind not in ("table", "image"):
            st.info("The gallery explains table rows and images; a sequence's steps are explained on the "
                    "Explain page.", icon=":material/info:")
            st.dataframe(gallery.row_facts(pred, pick.rows))
            return
        _thumbnails(ctx, pred, pick)
        _explanations(engine, run, ctx, pred, pick)


def _has_points(state: Any) -> bool:
    try:
        return bool(state["selection"]["points"])
    except (KeyError, TypeError):
        return False


def _thumbnails(ctx: RunContext, pred: pd.DataFrame, pick: gallery.Pick) -> None:
    rows = pick.rows[:THUMBS]
    pictures = [gallery.thumbnail(ctx, r) for r in rows]
    if not rows or pictures[0] is None:
        return
    facts = gallery.row_facts(pred, rows)
    captions = [f"row {r} · {md_escape(facts.loc[r, 'predicted'])}" for r in rows]
    st.image(pictures, caption=captions, width=72)
    more = f" (the first {THUMBS} of {len(pick.rows)})" if len(pick.rows) > THUMBS else ""
    st.caption(f"The pictures of these rows{more}, most confidently wrong first, each with what it was predicted as.")


def _explanations(engine: Any, run: RunRecord, ctx: RunContext, pred: pd.DataFrame, pick: gallery.Pick) -> None:
    rows = gallery.shown_rows(pick)
    with st.spinner(f"Explaining {len(rows)} row(s) with SHAP…"):
        exp = explain_shap(engine.store, engine.catalog, run.run_id, rows, ShapParams(), context=ctx)
    facts = gallery.row_facts(pred, rows)
    towards = ("the class it was predicted as" if len(exp.output_labels) > 1 else
               f"{exp.output_labels[0]}" if exp.task != "binary" else f"class '{exp.output_labels[0]}'")
    st.caption(f"{exp.explainer} SHAP against {exp.references} training rows: each chart starts at the average output "
               f"and shows what moved this row's output towards {towards} (red) or away from it (blue)."
               + (f" The {len(rows)} most wrong of the {len(pick.rows)} rows; the Explain page takes the others "
                  f"by row number: {' '.join(map(str, pick.rows[:60]))}." if len(pick.rows) > len(rows) else ""))
    columns = st.columns(2)
    for position, row in enumerate(exp.rows):
        output = gallery.explained_output(exp, position)
        view = views.image_view(exp, position, output) or views.waterfall_view(exp, position, output, top=8)
        with columns[position % 2], st.container(border=True):
            st.markdown(_row_line(row, facts.loc[row]))
            figure, _ = view
            figure.update_layout(height=min(int(figure.layout.height or 340), 360), title=None,
                                 margin={"t": 30})
            st.plotly_chart(figure, key=f"gallery_{run.run_id}_{row}", width="stretch",
                            config={"displayModeBar": False})


def _row_line(row: int, fact: pd.Series) -> str:
    true, predicted = md_escape(fact["true"]), md_escape(fact["predicted"])
    if "p(predicted)" in fact:
        line = f"**Row {row}**: true **{true}**, predicted **{predicted}** with p = {fact['p(predicted)']:.2f}"
        return line if fact["true"] == fact["predicted"] else f"{line} (p of the true class {fact['p(true)']:.2f})"
    return f"**Row {row}**: true **{float(fact['true']):.4g}**, predicted **{float(fact['predicted']):.4g}** " \
           f"(error {float(fact['error']):+.4g})"


__all__ = ["CLICKABLE", "chart", "draw", "selection_key"]
