"""The decision-boundary view: on the Explain page for a finished run, on the Train page while one trains."""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import streamlit as st

from core.errors import WorkbenchError
from core.explain.boundary import decision_boundary, live_model, numeric_columns, table_frame
from core.explain.insight_plots import BOUNDARY_CAPTION, boundary_figure
from core.runs.trained import TrainedModel
from core.vocab import ACTIVE
from workbench.ui import state as ui_state
from workbench.ui.common import md_escape
from workbench.ui.live import LEAVING

PROJECTION = "2-D projection (PCA)"
POLL_S = 3.0


def axes_controls(trained: TrainedModel, frame: pd.DataFrame, key: str) -> tuple[str | None, str | None, bool]:
    """(x column, y column, projection?) from the widgets; the projection when fewer than two numbers."""
    axes = numeric_columns(trained, frame)
    modes = (["Two columns"] if len(axes) >= 2 else []) + [PROJECTION]
    left, mid, right = st.columns(3)
    mode = left.radio("Axes", modes, key=f"{key}_mode", horizontal=True,
                      help="Two of the model's numeric columns, the others held at typical values; or the plane "
                           "in which the training data spreads most (PCA), for every column at once.")
    if mode == PROJECTION:
        return None, None, True
    x = mid.selectbox("Across", axes, index=0, key=f"{key}_x")
    y = right.selectbox("Up", [c for c in axes if c != x], index=0, key=f"{key}_y")
    return x, y, False


def draw_boundary(trained: TrainedModel, frame: pd.DataFrame, train_rows: np.ndarray, key: str,
                  axes: tuple[str | None, str | None, bool], title: str = "") -> None:
    x, y, projection = axes
    try:
        boundary = decision_boundary(trained, frame, train_rows, x, y, projection=projection)
    except WorkbenchError as exc:
        st.warning(md_escape(exc), icon=":material/warning:")
        return
    fig = boundary_figure(boundary)
    if title:
        fig.update_layout(title={"text": title})
    fig.update_layout(uirevision=key)  # zoom and legend survive a refresh of the live view
    st.plotly_chart(fig, key=f"{key}_chart", config={"displaylogo": False})
    if boundary.task == "regression":
        st.caption("The background's colour is the value the model predicts at each point; dots are training rows "
                   "coloured by their true value on the same scale, so a dot that stands out from its background "
                   "is a row the model gets wrong.")
    else:
        st.caption(BOUNDARY_CAPTION)
    st.caption(boundary.words())


def explain_tab(ctx: Any) -> None:
    """Explain page: the finished run's model, on the run's own data."""
    if ctx.data_kind != "table":
        st.info("The decision boundary is drawn over two columns of a table; this run's inputs are "
                f"{ctx.data_kind} data.", icon=":material/info:")
        return
    axes = axes_controls(ctx.trained, ctx.frame, "boundary")
    draw_boundary(ctx.trained, ctx.frame, ctx.split.train, "boundary", axes)


@st.cache_resource(max_entries=4, show_spinner=False)
def _frame(workspace: str, run_id: str, _engine: Any, _trained: TrainedModel) -> pd.DataFrame:
    return table_frame(_trained, _engine.catalog)


def live_boundary(engine: Any) -> None:
    """Train page: the decision boundary of this session's latest table run, following it while it trains."""
    records = [r for r in engine.store.list_runs() if r.run_id in set(ui_state.my_runs(st.session_state)[-8:])]
    records = [r for r in records if r.status in (*ACTIVE, "completed")
               and r.config.get("sequence") is None and r.summary.get("data_kind", "table") == "table"]
    if not records:
        return
    records.sort(key=lambda r: r.created_at, reverse=True)  # the latest first
    # drawn only when asked: a live chart polls, and the page's own charts stay what they were
    if not st.toggle("Show the decision boundary", key="live_boundary_on",
                     help="The model's prediction over two columns of your data, with the training rows on top; "
                          "it follows a run while it trains."):
        return
    by_id = {r.run_id: r for r in records}
    run_id = st.selectbox("Run", list(by_id), format_func=lambda i: f"{by_id[i].name} ({by_id[i].status})",
                          key="live_boundary_run")
    record = by_id[run_id]
    live = live_model(engine.store.run_dir(run_id))
    if live is None:
        st.caption("The picture appears once the run has built its model (a table run; image and sequence "
                   "runs have none).")
        if record.status in ACTIVE:
            st.fragment(run_every=POLL_S)(_wait_for_weights)(engine, run_id)
        return
    try:
        frame = _frame(str(engine.store.workspace), run_id, engine, live.trained)
    except WorkbenchError as exc:
        st.warning(md_escape(exc), icon=":material/warning:")
        return
    axes = axes_controls(live.trained, frame, "live_boundary")
    if record.status in ACTIVE:
        st.fragment(run_every=POLL_S)(_draw_live)(engine, run_id, axes)
    else:
        _draw_live(engine, run_id, axes)


def _wait_for_weights(engine: Any, run_id: str) -> None:
    """Until the run's first weights are written; then the whole page again, to draw the axes' widgets."""
    if not st.session_state.get(LEAVING) and live_model(engine.store.run_dir(run_id)) is not None:
        st.rerun()


def _draw_live(engine: Any, run_id: str, axes: tuple[str | None, str | None, bool]) -> None:
    if st.session_state.get(LEAVING):  # a late timer tick after the user left the page draws nothing
        return
    live = live_model(engine.store.run_dir(run_id))
    try:
        record = engine.store.get(run_id)
    except WorkbenchError:  # deleted meanwhile
        return
    if live is None:
        return
    frame = _frame(str(engine.store.workspace), run_id, engine, live.trained)
    status = "training" if record.status in ACTIVE else record.status
    draw_boundary(live.trained, frame, live.split.train, f"live_boundary_{run_id}", axes,
                  title=f"Decision boundary at epoch {live.epoch} ({status})")
    if record.status in ACTIVE:
        st.caption(f"Redrawn every {POLL_S:.0f} s from the weights the run writes about every 2 s.")


__all__ = ["axes_controls", "draw_boundary", "explain_tab", "live_boundary"]
