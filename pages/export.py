"""Export: take a completed run away as a bundle, an ONNX file or its config; try it on a row or a picture;
start and stop its prediction server."""
from __future__ import annotations

import json
from pathlib import Path

import streamlit as st

from core.export import bundle_name, bundle_zip, example_record, example_window, onnx_bytes, why_not_exportable
from core.export.model_card import render_model_card
from core.runs.compare import run_metric
from core.runs.store import RunRecord
from core.runs.trained import TrainedModel
from workbench.engine import get_engine
from workbench.ui import export_views
from workbench.ui.serving import Servers
from workbench.ui.common import format_metric, page_link, user_errors

engine = get_engine()
store = engine.store
PICK = "export_run"
CURL_MAX_COLUMNS = 12  # beyond this the example is a wall of text; /docs has the full example


# Cached per process: a run's artifacts never change once it has completed, so (workspace, run id)
# is a full key. A rerun (changing the ONNX tick box, say) then costs nothing.
@st.cache_data(show_spinner="Building the bundle…", max_entries=16)
def _bundle(workspace: str, run_id: str, with_onnx: bool) -> tuple[str, bytes, dict]:
    zipped = bundle_zip(store, engine.catalog, run_id, onnx=with_onnx)
    return zipped.file_name, zipped.data, zipped.manifest


@st.cache_data(show_spinner="Exporting ONNX…", max_entries=16)
def _onnx(workspace: str, run_id: str) -> bytes:
    return onnx_bytes(store, engine.catalog, run_id)


@st.cache_resource(show_spinner=False)
def _servers(workspace: str) -> Servers:
    return Servers(Path(workspace))  # one per app process: every session sees (and can stop) the same servers


@st.cache_resource(max_entries=8)
def _trained(workspace: str, run_id: str) -> TrainedModel:
    return TrainedModel.load(store.run_dir(run_id))


def _label(run: RunRecord) -> str:
    test = run.metrics.get("test", {})
    key = run_metric(run)
    score = f" · test {key} {format_metric(test.get(key))}" if key in test else ""
    return f"{run.name} · {run.model} on {run.dataset}{score}"


st.title("Export")
st.caption("Take a trained model anywhere: a bundle with a standalone `predict.py`, an ONNX file, "
           "the config that retrains it, or a REST server on this machine.")

runs = store.list_runs()
completed = [r for r in runs if r.has_model]  # completed, or stopped with its kept weights evaluated
wanted = (st.session_state.get("selected_runs") or [None])[0]
chosen = next((r for r in runs if r.run_id == wanted), None)
problem = why_not_exportable(chosen) if chosen else None
if problem:
    st.info(problem, icon=":material/info:")
if not completed:
    if not runs:
        st.info("Nothing to export yet: no run has been trained. Train a model, then come back here.",
                icon=":material/info:")
    elif not problem:
        st.info(f"Nothing to export yet: none of the {len(runs)} run(s) has completed.", icon=":material/info:")
    page_link("train", "Train a model")
    st.stop()

ids = [r.run_id for r in completed]
if st.session_state.get(PICK) not in ids:
    st.session_state[PICK] = chosen.run_id if chosen and chosen.run_id in ids else ids[0]  # latest completed
by_id = {r.run_id: r for r in completed}
run_id = st.selectbox("Run", ids, key=PICK, format_func=lambda i: _label(by_id[i]),
                      help="Only completed runs can be exported.")
run = by_id[run_id]
workspace = str(store.workspace)

with user_errors():
    trained = _trained(workspace, run_id)
    sequence = trained.meta.get("data_kind") == "sequence"  # windows of rows: a bundle, no ONNX graph
    left, middle, right = st.columns(3)
    with left:
        st.subheader("Bundle")
        with_onnx = st.session_state.get("export_with_onnx", True) and not sequence
        file_name, data, manifest = _bundle(workspace, run_id, with_onnx)
        st.download_button("Download bundle (.zip)", data, file_name=file_name, mime="application/zip",
                           icon=":material/folder_zip:", type="primary", on_click="ignore", key="dl_bundle")
        if not sequence:
            st.checkbox("Include model.onnx", value=True, key="export_with_onnx",
                        help="Adds model.onnx with the preprocessing inside; checked against torch.")
        st.caption("Weights (safetensors), preprocessor (JSON), config, metrics, model card and `predict.py`, "
                   "which needs only torch, safetensors and pandas.")
    with middle:
        st.subheader("ONNX")
        if sequence:
            st.caption("A sequence model leaves as the bundle: its `predict.py` and the server sort the rows by "
                       "time and cut the windows, which no ONNX graph does.")
        else:
            st.download_button("Download model.onnx", lambda: _onnx(workspace, run_id),
                               file_name=f"{bundle_name(run)}.onnx", mime="application/octet-stream",
                               icon=":material/download:", on_click="ignore", key="dl_onnx")
            st.caption("One input: the image as uint8 (batch, channels, height, width), scaled inside. Outputs "
                       "logits, probabilities and the label." if trained.data_kind == "image" else
                       "One input per column (numbers as double, categories as strings), preprocessing inside. "
                       "Outputs logits and probabilities, or the prediction.")
            check = manifest.get("onnx_check") or {}
            if check.get("checked"):
                st.caption(f":material/check_circle: Matches torch on {check['rows']} test rows "
                           f"(largest difference {check['max_abs_diff']:.1e}).")
            elif check:
                st.caption(f"Not checked: {check.get('reason')}.")
    with right:
        st.subheader("Config")
        config_text = store.run_dir(run_id).joinpath("config.yaml").read_text(encoding="utf-8")
        st.download_button("Download config.yaml", config_text, file_name=f"{bundle_name(run)}.yaml",
                           mime="text/yaml", icon=":material/settings:", on_click="ignore", key="dl_config")
        st.caption("Same data, seed and CPU give the same metrics: `workbench train --config config.yaml`.")

    export_views.draw_try_it(trained, run)

    st.subheader("Serve it on this machine")
    servers = _servers(workspace)
    export_views.draw_server(servers, run)
    served = servers.state(run_id)
    port = served.port if served is not None and served.running else 8000
    st.markdown("Or from a terminal:")
    st.code(f"workbench serve {run_id} --port {port}", language="bash")
    image = trained.data_kind == "image"
    records = [] if image else (example_window(trained, engine.catalog) if sequence
                                else [example_record(trained.preprocessor)])
    if sequence:
        st.caption(f"Send a window of rows, the last {trained.preprocessor.layout.window} of each series: the "
                   "answer is one forecast (or class) per series. Here, the last rows of the training data:")
    if image:
        st.code(f"curl -s http://127.0.0.1:{port}/predict -F file=@photo.jpg", language="bash")
    elif records and len(records[0]) <= CURL_MAX_COLUMNS:
        body = json.dumps({"records": records})
        st.code(f"curl -s http://127.0.0.1:{port}/predict -H 'content-type: application/json' \\\n  -d '{body}'",
                language="bash")
    st.caption(f"The server answers on 127.0.0.1 only; its API docs are at http://127.0.0.1:{port}/docs.")
    st.subheader("From the command line")
    st.code(f"workbench export {run_id} --out {bundle_name(run)}{'' if sequence else ' --onnx'}\n"
            f"python {bundle_name(run)}/predict.py {'photo.jpg' if image else 'rows.csv'} > predictions.csv",
            language="bash")

    with st.expander("Model card", icon=":material/description:"):
        card = render_model_card(run, trained, store, onnx=with_onnx)
        # the card's own headings are page-sized; inside an expander, two levels smaller reads better
        st.markdown("\n".join("##" + line if line.startswith("#") else line for line in card.splitlines()))
