"""Explain page, tabs Over time and Compare runs: importance while training, and two runs side by side."""
from __future__ import annotations

from typing import Any, Sequence

import streamlit as st

from core.explain import ShapParams, explain_shap
from core.explain.compare import rank_changes
from core.explain.insight_plots import CAPTIONS, importance_over_time, rank_slope, side_by_side
from core.explain.over_time import importance_history
from core.explain.rows import test_rows
from core.explain.service import DEFAULT_ROWS, lookup
from core.runs.insight import importance_words
from core.runs.store import RunRecord
from workbench.ui import explain_views as ui
from workbench.ui.common import md_escape


def draw_over_time(store: Any, run: RunRecord, data_kind: str) -> None:
    history = importance_history(store, run.run_id)
    if history is None or not history.snapshots:
        words = importance_words(data_kind)
        if words:
            st.info(words[0].upper() + words[1:] + ".", icon=":material/info:")
        else:
            st.info("This run took no importance snapshots while it trained (switched off with "
                    "`shap_every: 0`, or trained before snapshots existed). Train it again to see how its "
                    "columns' importance moves over the epochs.", icon=":material/info:")
        return
    frame = history.frame()
    st.plotly_chart(importance_over_time(frame), key="over_time_chart", config={"displaylogo": False})
    st.caption(CAPTIONS["over_time"])
    st.caption(history.cost_text())
    for note in history.notes:
        st.caption(f":material/info: {md_escape(note)}")
    first, last = history.snapshots[0], history.snapshots[-1]
    before, after = _leader(first["importance"]), _leader(last["importance"])
    if before == after:
        st.markdown(f"**{md_escape(after)}** mattered most from epoch {first['epoch']} to the end.")
    else:
        st.markdown(f"At epoch {first['epoch']} **{md_escape(before)}** mattered most; the final model leans most "
                    f"on **{md_escape(after)}**.")


def _leader(importance: dict[str, float]) -> str:
    return max(importance, key=lambda c: importance[c]) if importance else "?"


def draw_compare(engine: Any, run: RunRecord, runs: Sequence[RunRecord], params: ShapParams) -> None:
    store = engine.store
    others = [r for r in runs if r.run_id != run.run_id and r.config.get("sequence") is None
              and r.summary.get("data_kind") != "image"]
    if not others:
        st.info("Train a second model to compare its explanation with this one's.", icon=":material/info:")
        return
    # runs on the same data first: those are the ones whose ranks can be compared column by column
    others.sort(key=lambda r: (r.dataset != run.dataset,))
    by_id = {r.run_id: r for r in others}
    other = by_id[st.selectbox("Compare with", list(by_id), format_func=lambda i: ui.run_label(by_id[i]),
                               key="explain_compare_run")]
    pair = [(run, test_rows(store, run.run_id, DEFAULT_ROWS)), (other, test_rows(store, other.run_id, DEFAULT_ROWS))]
    found = [lookup(store, r.run_id, "shap", rows, params) for r, rows in pair]
    if any(f is None for f in found):
        st.write(f"Each run is explained with SHAP on its first {DEFAULT_ROWS} test rows, with the settings above.")
        if st.button("Explain both", type="primary", key="explain_compare_go"):
            for (r, rows), f in zip(pair, found):
                if f is None:
                    update, bar = ui.progress_bar(f"SHAP of {r.name}")
                    explain_shap(store, engine.catalog, r.run_id, rows, params, progress=update)
                    bar.empty()
            st.rerun()
        return
    name_a, name_b = run.name, other.name
    comparison = rank_changes(found[0].importances(), found[1].importances())
    if comparison.table.empty:
        st.warning(comparison.words(name_a, name_b), icon=":material/warning:")
        return
    (st.info if comparison.same_columns else st.warning)(md_escape(comparison.words(name_a, name_b)))
    left, right = st.columns(2)
    left.plotly_chart(rank_slope(comparison, name_a, name_b), key="compare_slope", config={"displaylogo": False})
    left.caption(CAPTIONS["slope"])
    right.plotly_chart(side_by_side(comparison, name_a, name_b), key="compare_bars", config={"displaylogo": False})
    right.caption("Each run's mean |SHAP| per column as a share of its total, so that two models whose outputs "
                  f"differ in scale compare fairly ({found[0].space} space).")
    with st.expander("The numbers"):
        st.dataframe(comparison.table.rename(columns={
            "importance_a": f"{name_a}: mean |SHAP|", "importance_b": f"{name_b}: mean |SHAP|",
            "share_a": f"{name_a}: share", "share_b": f"{name_b}: share", "rank_a": f"{name_a}: rank",
            "rank_b": f"{name_b}: rank", "change": "places risen"}), hide_index=True)


__all__ = ["draw_over_time", "draw_compare"]
