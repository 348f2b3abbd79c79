"""Optimize: prune and quantise a completed run, and weigh each variant's score against its size and speed."""
from __future__ import annotations

import streamlit as st

from core.errors import WorkbenchError
from core.lifecycle import jobs
from core.lifecycle.optimize import OptimizeRequest, skipped_steps
from core.lifecycle.variants import list_variants, sparsity_figure, tradeoff_table
from core.runs.compare import run_metric
from core.vocab import metric_label
from workbench.engine import get_engine
from workbench.ui.common import format_metric, md_escape, page_link

engine = get_engine()
store = engine.store
PICK = "optimize_run"
SPARSITIES = (0.25, 0.5, 0.75, 0.9)


def _label(run) -> str:
    key = run_metric(run)
    test = run.metrics.get("test", {})
    score = f" · test {key} {format_metric(test.get(key))}" if key in test else ""
    return f"{run.name} · {run.model} on {run.dataset}{score}"


def _start(run_id: str) -> None:
    request = OptimizeRequest(prune=tuple(sorted(st.session_state.get("opt_sparsities", []))),
                              method=st.session_state.get("opt_method", "global"),
                              finetune_epochs=int(st.session_state.get("opt_epochs", 0)),
                              quantize="int8" if st.session_state.get("opt_int8") else None)
    try:
        if not jobs.start(store, engine.catalog, run_id, request):
            st.session_state["opt_flash"] = ("info", "This run is already being optimised.")
    except WorkbenchError as exc:
        st.session_state["opt_flash"] = ("error", str(exc))


def progress(run_id: str) -> None:
    job = jobs.state(run_id)
    if job is None:
        return
    if job.running:
        st.info(f"Optimising: {job.step}…", icon=":material/hourglass_top:")
    elif job.error:
        st.error(md_escape(job.error), icon=":material/error:")
    elif job.step == "done" and not st.session_state.get(f"opt_drawn_{run_id}_{job.ended_at}"):
        st.session_state[f"opt_drawn_{run_id}_{job.ended_at}"] = True
        st.rerun()  # the whole page, so the table below shows the new variants


st.title("Optimize")
st.caption("Make a trained model smaller and faster: prune its smallest weights, store it in 8-bit integers, "
           "and see what each costs in test score, on disk and in CPU time.")
flash = st.session_state.pop("opt_flash", None)
if flash:
    getattr(st, flash[0])(md_escape(flash[1]))

completed = [r for r in store.list_runs() if r.status == "completed"]
if not completed:
    st.info("Nothing to optimise yet: no run has completed. Train a model, then come back here.",
            icon=":material/info:")
    page_link("train", "Train a model")
    st.stop()
ids = [r.run_id for r in completed]
by_id = {r.run_id: r for r in completed}
wanted = (st.session_state.get("selected_runs") or [None])[0]
if st.session_state.get(PICK) not in ids:
    st.session_state[PICK] = wanted if wanted in ids else ids[0]
run_id = st.selectbox("Run", ids, key=PICK, format_func=lambda i: _label(by_id[i]),
                      help="Only completed runs can be optimised.")
run = by_id[run_id]
job = jobs.state(run_id)
busy = bool(job and job.running)

with st.form("optimize_form", border=True):
    left, middle, right = st.columns(3)
    left.multiselect("Prune to sparsity", SPARSITIES, default=[0.5], key="opt_sparsities",
                     format_func=lambda s: f"{s:.0%} of weights zero",
                     help="The share of weights set to zero, smallest first. Several give the accuracy-vs-sparsity "
                          "chart; none skips pruning.")
    left.radio("Pruning", ["global", "structured"], key="opt_method", horizontal=True,
               help="Global: the smallest weights anywhere in the model. Structured: whole neurons or channels "
                    "(an MLP then really shrinks and gets faster).")
    middle.number_input("Fine-tune epochs after pruning", 0, 20, 3, key="opt_epochs",
                        help="Training on the run's own rows with the zeros kept, to win back accuracy.")
    right.checkbox("int8 quantisation", value=True, key="opt_int8",
                   help="8-bit weights: torch's dynamic int8 (Linear/LSTM layers), and ONNX Runtime's static int8 "
                        "of the ONNX export, calibrated on training rows.")
    st.form_submit_button("Optimise", type="primary", on_click=_start, args=(run_id,), disabled=busy,
                          icon=":material/compress:")

st.fragment(progress, run_every=1.0 if busy else None)(run_id)

variants = list_variants(store.run_dir(run_id))
for step in skipped_steps(store.run_dir(run_id)):
    st.warning(f"Not made: {md_escape(step['variant'])}: {md_escape(step['why'])}", icon=":material/block:")
if not variants:
    st.info("No variants yet: choose what to try above and press **Optimise**. Each variant is measured on the "
            "run's test rows, on disk and on one CPU thread.", icon=":material/info:")
    st.stop()

primary = variants[0].primary
table = tradeoff_table(variants)
st.subheader("Trade-offs")
shown = table.drop(columns=["id", "finetune_epochs"])
st.dataframe(shown, hide_index=True, width="stretch", key="opt_table", column_config={
    "variant": st.column_config.TextColumn("Variant", width="large"),
    "runtime": st.column_config.TextColumn("Runtime"),
    "precision": st.column_config.TextColumn("Weights"),
    "sparsity": st.column_config.NumberColumn("Zeros", format="percent"),
    primary: st.column_config.NumberColumn(f"Test {metric_label(primary)}", format="%.4f"),
    "change": st.column_config.NumberColumn("Change", format="%+.4f", help="Against the float32 model"),
    "size_kb": st.column_config.NumberColumn("Size (KB)", format="%.1f"),
    "size_ratio": st.column_config.NumberColumn("× float32", format="%.2f",
                                                help="Against the float32 file of the same format"),
    "b1_p50_ms": st.column_config.NumberColumn("1 row p50 (ms)", format="%.3f"),
    "b1_p99_ms": st.column_config.NumberColumn("1 row p99 (ms)", format="%.3f"),
    "b256_p50_ms": st.column_config.NumberColumn("256 rows p50 (ms)", format="%.3f"),
    "b256_p99_ms": st.column_config.NumberColumn("256 rows p99 (ms)", format="%.3f"),
})
st.caption(f"Test {metric_label(primary)} on the run's own test rows, after each variant was saved and loaded "
           "again; sizes are the files on disk; latency is the median (p50) and 99th percentile (p99) of repeated "
           "calls on one CPU thread. The ONNX rows take the original columns, so their latency includes the "
           "preprocessing; compare them with each other.")
notes = [(v.label, note) for v in variants for note in v.notes if v.id != "fp32"]
if notes:
    with st.expander("Notes on the variants"):
        for label, note in notes:
            st.markdown(f"- **{md_escape(label)}**: {md_escape(note)}")

figure = sparsity_figure(variants)
if figure.data:
    st.subheader(f"{metric_label(primary).capitalize()} against sparsity")
    st.plotly_chart(figure, key="opt_sparsity_chart", width="stretch")
    st.caption("Each point is a pruned float32 variant, from the unpruned model at 0%; the further right a line "
               "stays flat, the more of the model could go.")
st.markdown(f"From the command line: `workbench optimize {run_id} --prune 0.5 --finetune-epochs 3 --quantize int8`")
