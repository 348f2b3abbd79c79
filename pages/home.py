"""Home: what the workbench does, the machine it runs on, and where to start."""
import pandas as pd
import streamlit as st

from core.numbers import finite_or_none
from core.runs.compare import run_metric
from core.training.device import available_devices
from core.vocab import ACTIVE
from workbench.engine import get_engine
from workbench.ui.common import device_line, format_ago, format_duration, page_link, status_label

engine = get_engine()

st.title("Workbench")
st.markdown(
    "Train neural networks on your own tables without writing code.  \n"
    "Pick data, set up a model and watch it learn live; then compare runs side by side.  \n"
    "Ask SHAP and LIME why a model predicts what it does, and export it when it is good enough."
)

devices = available_devices()
gpus = [d for d in devices if d["id"] != "cpu"]
runs = engine.store.list_runs()
n_active = sum(r.status in ACTIVE for r in runs)

c1, c2, c3 = st.columns([2, 1, 1])
with c1:
    st.metric("Training device", gpus[0]["name"] if gpus else "CPU", border=True)
    for d in devices:
        st.caption(device_line(d))
    if not gpus:
        st.caption("No GPU found: runs train on the CPU, which is fine for the samples and small tables.")
c2.metric("Datasets", len(engine.catalog.all()), border=True,
          help="The bundled samples plus the files you uploaded")
c3.metric("Runs", len(runs), border=True, help="Every run recorded in this workspace")
if n_active:
    c3.caption(f"{n_active} training or waiting in the queue.")

st.subheader("Latest runs")
if not runs:
    st.info("No runs yet. Choose a dataset on the Data page, then start a run on the Train page.",
            icon=":material/info:")
else:
    rows = []
    for r in runs[:8]:
        metric = run_metric(r)
        score = finite_or_none((r.metrics.get("test") or {}).get(metric)) if metric else None
        rows.append({
            "Run": r.name, "Status": status_label(r.status), "Model": r.model or "", "Data": r.dataset or "",
            "Test score": f"{metric} {score:.3f}" if score is not None else "",
            "Took": format_duration(r.summary.get("duration_s") or (r.duration_s if r.ended_at else None)),
            "Started": format_ago(r.created_at),
        })
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
    st.caption("The eight most recent runs of this workspace. The score is measured on test data the model "
               "never saw while training.")

st.subheader("Where to start")
steps = (
    ("data", "1. Data", "Pick a sample or upload a CSV, look at it and choose what to predict."),
    ("train", "2. Train", "Choose a model and its settings, start runs and watch the curves."),
    ("runs", "3. Runs", "Compare finished runs and look at their evaluation."),
    ("explain", "4. Explain", "See which inputs drive a model's predictions."),
)
for column, (name, label, text) in zip(st.columns(len(steps)), steps):
    with column:
        if page_link(name, label):
            st.caption(text)
