"""Widgets of the Explain page: run and row pickers, progress, and drawing a figure with its caption."""
from __future__ import annotations

from typing import Any, Callable, MutableMapping, Sequence

import pandas as pd
import streamlit as st

from core.explain.context import RunContext
from core.explain.rows import OPERATORS, filter_rows, most_wrong, parse_row_ids, test_rows
from core.runs.store import RunRecord, RunStore

ROW_MODES = ("First test rows", "Most wrong predictions", "By row number", "By a filter")


def default_run_index(runs: Sequence[RunRecord], state: MutableMapping[str, Any]) -> int:
    """The run the Runs page selected when it is completed, else the latest completed run (runs: newest first)."""
    wanted = (state.get("selected_runs") or [None])[0]
    ids = [r.run_id for r in runs]
    return ids.index(wanted) if wanted in ids else 0


def run_label(run: RunRecord) -> str:
    return f"{run.name} · {run.model or '?'} on {run.dataset or '?'} ({run.task or '?'}) · {run.run_id}"


def pick_rows(store: RunStore, ctx: RunContext, key: str = "explain_rows") -> list[int]:
    """The row-selection widgets; returns row numbers as in predictions.parquet."""
    mode = st.radio("Rows to explain", ROW_MODES, horizontal=True, key=f"{key}_mode")
    n_test = len(ctx.split.test)
    if mode == ROW_MODES[0]:
        first = 12 if ctx.data_kind == "image" else 100  # an image has thousands of inputs to explain
        n = st.number_input("How many", 1, max(n_test, 1), min(first, max(n_test, 1)), key=f"{key}_n")
        return test_rows(store, ctx.run_id, int(n))
    if mode == ROW_MODES[1]:
        n = st.number_input("How many", 1, max(n_test, 1), min(20, max(n_test, 1)), key=f"{key}_wrong")
        return most_wrong(store, ctx.run_id, int(n))
    if mode == ROW_MODES[2]:
        first = " ".join(str(r) for r in test_rows(store, ctx.run_id, 5))
        text = st.text_input("Row numbers (spaces, commas or ranges like 10-14)", first, key=f"{key}_ids")
        rows = parse_row_ids(text)
        bad = [r for r in rows if r >= len(ctx.frame)]
        if bad:
            st.warning(f"Row {bad[0]} is past the end of the data ({len(ctx.frame)} rows); it is left out.")
        return [r for r in rows if r < len(ctx.frame)]
    left, mid, right, last = st.columns([3, 1, 2, 1])
    column = left.selectbox("Column", [ctx.trained.schema.target, *ctx.columns], key=f"{key}_fcol")
    op = mid.selectbox("Is", OPERATORS, key=f"{key}_fop")
    value = right.text_input("Value", key=f"{key}_fval")
    limit = last.number_input("At most", 1, 1000, 100, key=f"{key}_flimit")
    within = st.checkbox("Test rows only", True, key=f"{key}_ftest")
    if not value.strip():
        st.caption("Type a value to filter on.")
        return []
    return filter_rows(ctx.frame, column, op, value, sorted(int(r) for r in ctx.split.test) if within else None,
                       int(limit))


def progress_bar(label: str) -> tuple[Callable[[float, str], None], Any]:
    bar = st.progress(0.0, text=f"{label}: starting")

    def update(fraction: float, message: str) -> None:
        bar.progress(min(max(fraction, 0.0), 1.0), text=f"{message}: {fraction:.0%}")

    return update, bar


def show(view: tuple[Any, str] | None, key: str) -> None:
    """A figure and, under it, the sentence that says how to read it."""
    if view is None:
        return
    fig, text = view
    st.plotly_chart(fig, key=key, config={"displaylogo": False})
    st.caption(text)


def row_label(row: int, table: pd.DataFrame | None) -> str:
    if table is None or row not in table.index or "y_pred" not in table.columns:
        return f"row {row}"
    item = table.loc[row]
    pred = item.get("y_pred")
    if pred is None or pd.isna(pred):
        return f"row {row}"
    return f"row {row} (predicted {pred:.4g})" if isinstance(pred, float) else f"row {row} (predicted {pred})"


__all__ = ["ROW_MODES", "default_run_index", "run_label", "pick_rows",
           "progress_bar", "show", "row_label"]
