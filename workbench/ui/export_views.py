"""The Export page's two live pieces: "Try it" (type a row or drop a picture, see the prediction) and the
prediction server's start and stop buttons.

The fields and the answer are core.export.try_it's; the server process is workbench.ui.serving's.
"""
from __future__ import annotations

import plotly.graph_objects as go
import streamlit as st

from core.errors import WorkbenchError
from core.export import try_it
from core.runs.store import RunRecord
from core.runs.trained import TrainedModel
from workbench.ui.common import md_escape
from workbench.ui.serving import Servers, ServerState

PICTURE_TYPES = ["png", "jpg", "jpeg", "bmp", "gif", "webp", "tif", "tiff"]
GRID = 3  # fields per row of the form; a pixel table gets 8


def draw_try_it(trained: TrainedModel, run: RunRecord) -> None:
    st.subheader("Try it")
    reason = try_it.can_try(trained)
    if reason:
        st.info(reason, icon=":material/info:")
        return
    prefix = f"try_{run.run_id}_"
    if trained.data_kind == "image":
        upload = st.file_uploader("Drop a picture", type=PICTURE_TYPES, key=f"{prefix}picture",
                                  help="Decoded and resized as the training images were.")
        if upload is None:
            st.caption("Drop a picture (PNG, JPEG, ...) to see which class the model gives it.")
            return
        left, right = st.columns([1, 3])
        left.image(upload.getvalue(), caption=md_escape(upload.name), width=160)
        with right:
            try:
                _show_answer(try_it.predict_picture(trained, upload.getvalue()), trained)
            except WorkbenchError as exc:
                st.error(md_escape(exc), icon=":material/error:")
        return
    fields = try_it.input_fields(trained)
    st.caption("Change any value: the prediction below follows at once. Numbers start at their training median, "
               "categories at their most frequent level.")
    values = {}
    per_row = 8 if trained.schema.image_shape else GRID
    box = st.expander(f"The {len(fields)} inputs", expanded=len(fields) <= 24) if len(fields) > GRID * 4 else st.container()
    with box:
        columns = st.columns(per_row)
        for i, f in enumerate(fields):
            key = f"{prefix}{f.name}"
            with columns[i % per_row]:
                if f.kind == "number":
                    values[f.name] = st.number_input(f.name, value=float(f.default), format="%g", key=key,
                                                     help=f.hint or None)
                else:
                    values[f.name] = st.selectbox(f.name, list(f.choices), index=list(f.choices).index(f.default)
                                                  if f.default in f.choices else 0, key=key, help=f.hint or None)
    st.button("Back to typical values", key=f"{prefix}reset", icon=":material/restart_alt:",
              on_click=_reset, args=(prefix, [f.name for f in fields]))
    try:
        _show_answer(try_it.predict_row(trained, values), trained)
    except WorkbenchError as exc:
        st.error(md_escape(exc), icon=":material/error:")


def _reset(prefix: str, names: list[str]) -> None:
    for name in names:
        st.session_state.pop(f"{prefix}{name}", None)


def _show_answer(answer: try_it.Answer, trained: TrainedModel) -> None:
    target = trained.schema.target
    if not answer.probabilities:
        st.metric(f"Predicted {target}", f"{answer.prediction:.4g}")
        return
    st.metric(f"Predicted {target}", str(answer.prediction), help="The class with the highest probability.")
    labels = list(answer.probabilities)[::-1]  # most likely at the top
    values = [answer.probabilities[k] for k in labels]
    fig = go.Figure(go.Bar(x=values, y=labels, orientation="h", text=[f"{v:.1%}" for v in values],
                           textposition="outside", cliponaxis=False,
                           marker_color=["#1f77b4" if k != answer.prediction else "#d62728" for k in labels],
                           hovertemplate="%{y}: %{x:.2%}<extra></extra>"))
    fig.update_layout(template="plotly_white", height=min(80 + 28 * len(labels), 420), xaxis_range=[0, 1.12],
                      xaxis_tickformat=".0%", margin={"l": 10, "r": 30, "t": 10, "b": 30}, showlegend=False)
    fig.update_yaxes(type="category")
    st.plotly_chart(fig, key="try_it_probabilities", config={"displayModeBar": False})
    st.caption("The probability the model gives each class for this row; red is the one it predicts.")


def draw_server(servers: Servers, run: RunRecord) -> None:
    """Start and stop `workbench serve` for this run; while it runs, where it answers. While it starts, the
    panel polls every second until the server answers (then the page redraws and the polling stops)."""
    phase = _phase(servers.state(run.run_id))
    st.fragment(_server_panel, run_every=1.0 if phase == "starting" else None)(servers, run, phase)


def _phase(state: ServerState | None) -> str:
    if state is None or not state.running:
        return "off"
    return "ready" if state.ready else "starting"


def _server_panel(servers: Servers, run: RunRecord, drawn: str) -> None:
    state = servers.state(run.run_id)
    if _phase(state) != drawn:
        # a click here reruns only this fragment, and a server that now answers ends the polling: redraw
        # the page, which registers the panel again with the polling it needs now
        st.rerun()
    start, words = st.columns([1, 3], vertical_alignment="center")
    if state is None or not state.running:
        start.button("Start the server", key=f"serve_start_{run.run_id}", type="primary",
                     icon=":material/play_arrow:", on_click=servers.start, args=(run.run_id,))
        if state is not None and state.log_tail:
            words.error(f"The server stopped: {md_escape(state.log_tail.splitlines()[-1])}", icon=":material/error:")
        else:
            words.caption("Runs `workbench serve` for this run on this machine (127.0.0.1 only), until you stop "
                          "it or the workbench stops.")
        return
    start.button("Stop the server", key=f"serve_stop_{run.run_id}", icon=":material/stop_circle:",
                 on_click=servers.stop, args=(run.run_id,))
    if state.ready:
        words.success(f"Serving at {state.url}: POST /predict, API docs at [{state.url}/docs]({state.url}/docs).",
                      icon=":material/check_circle:")
    else:
        words.info(f"Starting on {state.url}: loading the model…", icon=":material/hourglass_top:")


__all__ = ["draw_try_it", "draw_server", "PICTURE_TYPES"]
