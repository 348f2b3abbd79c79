"""Monitor: what a served model has met (traffic, latency, predictions, input drift, live metrics),
a batch of new rows checked the same way, and feeding what came back into a new run."""
from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from core.data.loading import load_dataset
from core.errors import WorkbenchError
from core.lifecycle.drift import THRESHOLDS
from core.lifecycle.feedback import feedback_dataset, finetune_config
from core.lifecycle.monitor import check_batch, drift_frame, monitor_report
from core.lifecycle.run_data import RunData, load_run_data
from core.runs.compare import run_metric
from core.runs.warm_start import weight_layers
from core.vocab import metric_label
from workbench.engine import get_engine
from workbench.ui.common import format_ago, format_metric, md_escape, page_link, user_errors

engine = get_engine()
store = engine.store
PICK = "monitor_run"
REFRESH_S = 5.0


@st.cache_resource(max_entries=4, show_spinner="Loading the run's data…")
def _run_data(workspace: str, run_id: str) -> RunData:
    # a completed run's rows and model never change: (workspace, run id) is a full key
    return load_run_data(store, engine.catalog, run_id)


def _label(run) -> str:
    key = run_metric(run)
    score = run.metrics.get("test", {}).get(key)
    return f"{run.name} · {run.model} on {run.dataset}" + (f" · test {key} {format_metric(score)}" if score else "")


def drift_table(drift: dict, key: str) -> None:
    if drift.get("note"):
        st.info(md_escape(drift["note"]), icon=":material/info:")
    frame = drift_frame(drift)
    if frame.empty:
        return
    flagged = drift["drifted"]
    if flagged:
        st.warning(f"{len(flagged)} of {len(frame)} columns have drifted: "
                   f"{', '.join(md_escape(c) for c in flagged[:12])}", icon=":material/warning:")
    else:
        st.success(f"None of the {len(frame)} columns has drifted from the training rows.", icon=":material/check:")
    st.dataframe(frame, hide_index=True, width="stretch", key=key, column_config={
        "column": st.column_config.TextColumn("Column"),
        "drifted": st.column_config.CheckboxColumn("Drifted"),
        "verdict": st.column_config.TextColumn("In words"),
        "psi": st.column_config.NumberColumn("PSI", format="%.3f", help="Population stability index"),
        "test": st.column_config.TextColumn("Test"),
        "p_value": st.column_config.NumberColumn("p-value", format="%.2g"),
        "reference_mean": st.column_config.NumberColumn("Training mean", format="%.3g"),
        "current_mean": st.column_config.NumberColumn("New mean", format="%.3g"),
        "missing_share": st.column_config.NumberColumn("Missing", format="percent"),
    })
    st.caption(f"{drift['rows']} new rows against {drift['reference_rows']} training rows. {THRESHOLDS}")


def served(run_id: str) -> None:
    """The live part: refreshed every few seconds while the page is open."""
    with user_errors():
        report = monitor_report(store, engine.catalog, run_id, data=_run_data(str(store.workspace), run_id))
        if report.get("recording") is None:
            st.info(md_escape(report["note"]), icon=":material/info:")
            st.code(f"workbench serve {run_id} --port 8000", language="bash")
            return
        traffic, latency = report["traffic"], report["latency_ms"]
        cols = st.columns(4)
        cols[0].metric("Predictions", f"{traffic['predictions']:,}", help=f"in {traffic['requests']:,} requests")
        cols[1].metric("Latency p50", f"{latency['p50']:.2f} ms" if latency["p50"] is not None else "–",
                       help="Per request, model and preprocessing, as the server timed it")
        cols[2].metric("Latency p95", f"{latency['p95']:.2f} ms" if latency["p95"] is not None else "–")
        cols[3].metric("Last prediction", format_ago(traffic["last"]) if traffic["last"] else "–")
        st.caption(f"Recording: {md_escape(report['recording']['words'])} ({report['recording']['rows']:,} kept "
                   f"now). `workbench serve --no-record` turns it off; `--record-rows` and `--record-days` bound it.")

        feedback = report["feedback"]
        st.subheader("Live metrics")
        if feedback["metrics"]:
            cols = st.columns(len(feedback["metrics"]))
            for col, (name, value) in zip(cols, feedback["metrics"].items()):
                test = feedback["test"].get(name)
                col.metric(f"Live {metric_label(name)}", format_metric(value),
                           delta=f"{value - test:+.4f} against test" if test is not None else None)
            st.caption(f"On the {feedback['labelled']:,} predictions whose true labels came back through "
                       "POST /feedback; the change is against the run's test score.")
        else:
            st.info(md_escape(feedback.get("note", "No labels yet.")), icon=":material/info:")

        left, right = st.columns(2)
        with left:
            st.subheader("Traffic")
            hours = pd.DataFrame(traffic["per_hour"])
            if not hours.empty:
                # one bar an hour wide per hour: a single hour of traffic is a bar, not the whole axis
                fig = go.Figure(go.Bar(x=pd.to_datetime(hours["hour"]).tolist(), y=hours["predictions"].tolist(),
                                       width=[3_600_000] * len(hours), offset=0))
                fig.update_layout(height=260, margin={"l": 10, "r": 10, "t": 10, "b": 10},
                                  yaxis_title="predictions per hour", xaxis_tickformat="%b %d, %H:%M")
                st.plotly_chart(fig, key="mon_traffic", width="stretch")
        with right:
            st.subheader("What it predicts")
            mix = report["predictions"]
            if mix["kind"] == "classes":
                fig = go.Figure([go.Bar(name="served", x=list(mix["served"]), y=list(mix["served"].values())),
                                 go.Bar(name="training labels", x=list(mix["training"]),
                                        y=list(mix["training"].values()))])
                fig.update_layout(barmode="group", height=260, margin={"l": 10, "r": 10, "t": 10, "b": 10},
                                  yaxis_title="share", xaxis_type="category")
            else:
                fig = go.Figure([go.Scatter(name="served", x=mix["quantiles"], y=mix["served"], mode="lines+markers"),
                                 go.Scatter(name="training target", x=mix["quantiles"], y=mix["training"],
                                            mode="lines+markers")])
                fig.update_layout(height=260, margin={"l": 10, "r": 10, "t": 10, "b": 10}, xaxis_title="quantile")
            st.plotly_chart(fig, key="mon_mix", width="stretch")
        st.subheader("Input drift")
        drift_table(report["drift"], "mon_drift")


def _submit(config, flash: str) -> None:
    try:
        run_id = engine.manager.submit(config, name=config.name)
    except WorkbenchError as exc:
        st.session_state["mon_flash"] = ("error", str(exc))
        return
    st.session_state["selected_runs"] = [run_id]
    st.session_state["mon_flash"] = ("success", f"{flash} Run **{md_escape(config.name)}** is queued: "
                                                "follow it on the Runs page.")


def _finetune_on_batch(parent_id: str, source: str) -> None:
    try:
        config = finetune_config(store.get(parent_id), source, freeze=int(st.session_state.get("mon_freeze", 0)),
                                 epochs=int(st.session_state.get("mon_epochs", 10)))
    except WorkbenchError as exc:
        st.session_state["mon_flash"] = ("error", str(exc))
        return
    _submit(config, "Fine-tuning on the uploaded rows.")


def _retrain_with_feedback(parent_id: str) -> None:
    try:
        parent = store.get(parent_id)
        ref, added = feedback_dataset(store, engine.catalog, parent)
        config = finetune_config(parent, str(ref.path), warm=st.session_state.get("mon_warm", True),
                                 epochs=int(st.session_state.get("mon_epochs", 10)),
                                 freeze=int(st.session_state.get("mon_freeze", 0))
                                 if st.session_state.get("mon_warm", True) else 0)
    except WorkbenchError as exc:
        st.session_state["mon_flash"] = ("error", str(exc))
        return
    _submit(config, f"Retraining with {added} labelled feedback rows added to the training data.")


# --- the page ---------------------------------------------------------------------------
st.title("Monitor")
st.caption("What a served model meets: traffic, latency, its predictions, whether the inputs still look like the "
           "training data, and how right it is once true labels come back; then feed that back into a new run.")
flash = st.session_state.pop("mon_flash", None)
if flash:
    getattr(st, flash[0])(flash[1])

completed = [r for r in store.list_runs() if r.status == "completed"]
if not completed:
    st.info("Nothing to monitor yet: no run has completed. Train a model, serve it, then come back here.",
            icon=":material/info:")
    page_link("train", "Train a model")
    st.stop()
ids = [r.run_id for r in completed]
by_id = {r.run_id: r for r in completed}
wanted = (st.session_state.get("selected_runs") or [None])[0]
if st.session_state.get(PICK) not in ids:
    st.session_state[PICK] = wanted if wanted in ids else ids[0]
run_id = st.selectbox("Run", ids, key=PICK, format_func=lambda i: _label(by_id[i]))

served_tab, batch_tab, feed_tab = st.tabs(["Served predictions", "Check new rows", "Feed back"])
with served_tab:
    st.fragment(served, run_every=REFRESH_S)(run_id)

with batch_tab:
    upload = st.file_uploader("New rows (CSV or Parquet) with the model's columns", type=["csv", "tsv", "parquet"],
                              key="mon_upload", help="Each row gets a prediction, and the rows are compared "
                                                     "with the training data column by column.")
    if upload is not None:
        with user_errors():
            ref = engine.catalog.add_upload(upload.name, upload.getvalue())
            st.session_state["mon_batch_source"] = str(ref.path)
            rows = load_dataset(ref)
            data = _run_data(str(store.workspace), run_id)
            predicted, drift = check_batch(data, rows)
            st.subheader(f"Predictions for {len(rows):,} rows")
            st.dataframe(predicted, hide_index=True, width="stretch", key="mon_batch_predictions")
            st.download_button("Download the predictions (CSV)", predicted.to_csv(index=False),
                               file_name=f"predictions-{upload.name.rsplit('.', 1)[0]}.csv", mime="text/csv",
                               on_click="ignore", icon=":material/download:", key="mon_batch_download")
            st.subheader("Drift of these rows")
            drift_table(drift, "mon_batch_drift")
            target = data.trained.schema.target
            if target in rows.columns:
                st.caption(f"These rows have the target column **{md_escape(target)}**: they can fine-tune the "
                           "model on the Feed back tab.")

with feed_tab:
    parent = by_id[run_id]
    with user_errors():
        layers = len(weight_layers(_run_data(str(store.workspace), run_id).trained.model))
    left, right = st.columns(2)
    left.number_input("Epochs", 1, 200, 10, key="mon_epochs")
    right.number_input("Frozen layers", 0, max(0, layers - 1), 0, key="mon_freeze",
                       help="Keep the parent's first layers as they are and train only the rest "
                            f"(this model has {layers} layers with weights).")
    st.markdown("**Fine-tune on new labelled rows**: starts from this run's weights and keeps its preprocessing, "
                "so the new run learns from fewer rows and fewer epochs.")
    batch = st.session_state.get("mon_batch_source")
    st.button("Fine-tune on the uploaded rows", key="mon_finetune", disabled=batch is None,
              on_click=_finetune_on_batch, args=(run_id, batch), icon=":material/model_training:")
    if batch is None:
        st.caption("Upload rows with the target column on the Check new rows tab first.")
    st.markdown("**Retrain with the feedback**: the run's training data plus every served row whose label came "
                "back through /feedback.")
    st.checkbox("Start from this run's weights (warm start)", value=True, key="mon_warm")
    st.button("Retrain with the feedback rows", key="mon_retrain", on_click=_retrain_with_feedback, args=(run_id,),
              icon=":material/replay:")
    st.caption(f"From the command line: `workbench finetune {run_id} --data new.csv --freeze 1` or "
               f"`workbench finetune {run_id} --feedback`. The new run shows its parent on the Runs page.")
