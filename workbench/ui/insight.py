"""Views of a run's standing: its baselines, a group of repeats, and two runs compared row by row.

Only drawing: the numbers and the words come from core (core.runs.baselines, core.tuning.repeats,
core.tuning.paired).
"""
from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from core.errors import WorkbenchError
from core.evaluation.plots import band_figure
from core.runs.baselines import baseline_rows, baseline_verdict
from core.runs.store import RunRecord, RunStore
from core.tuning.paired import PairedComparison, compare_runs
from core.tuning.repeats import RepeatResult, members, repeat_result, seed_bands, stats_table, stop_repeats
from core.vocab import ACTIVE, metric_label, metrics_for_task, primary_metric
from workbench.ui.common import md_escape


def draw_baselines(run: RunRecord) -> None:
    """The network's test metrics beside its baselines', with one sentence on how it stands."""
    rows = baseline_rows(run.summary, run.task)
    if not rows:
        return
    st.subheader("Against baselines")
    frame = pd.DataFrame(rows).set_index("model")
    first = primary_metric(run.task)
    frame = frame[[first, *[c for c in frame.columns if c != first]]]
    frame.columns = [metric_label(c) for c in frame.columns]
    st.dataframe(frame, width="stretch",
                 column_config={c: st.column_config.NumberColumn(c, format="%.4f") for c in frame.columns})
    verdict = baseline_verdict(run.summary, run.task)
    st.caption((verdict + " " if verdict else "") +
               "Both baselines come from scikit-learn, fitted on this run's own preprocessed training rows and "
               "scored on the same test rows.")


# --- repeats ------------------------------------------------------------------------------
def _interval(s: dict) -> str:
    if s.get("low") is None or s.get("high") is None:
        return "–"
    return f"[{s['low']:.4f}, {s['high']:.4f}]"


def stats_frame(result: RepeatResult, part: str = "test") -> pd.DataFrame:
    """The group's metrics as the page shows them: mean ± std and the 95% t interval, primary first."""
    table = stats_table(result, part)
    if table.empty:
        return table
    first = primary_metric(result.members[0].task) if result.members and result.members[0].task else None
    table = table.sort_values("metric", key=lambda c: c != first, kind="stable")
    return pd.DataFrame({
        "metric": [metric_label(m) for m in table["metric"]],
        "mean ± std": [f"{m:.4f} ± {s:.4f}" if s is not None and s == s else f"{m:.4f}"
                       for m, s in zip(table["mean"], table["std"])],
        "95% interval (t)": [_interval(dict(low=lo, high=hi)) for lo, hi in zip(table["low"], table["high"])],
        "seeds": table["n"],
    })


def draw_repeats(engine: Any, parent_id: str, *, curves: bool = True, key: str = "") -> None:
    """A group of repeats: progress, each metric's mean ± std and 95% interval, and banded curves;
    polls while seeds still train."""
    store = engine.store
    active = store.get(parent_id).status in ACTIVE

    @st.fragment(run_every=1.5 if active else None)
    def _live() -> None:
        record = store.get(parent_id)
        result = repeat_result(store, parent_id)
        done = sum(1 for m in result.members if m.status not in ACTIVE)
        seeds = record.summary.get("seeds") or []
        st.caption(f"{result.n} seeds ({', '.join(map(str, seeds))}) on one split: {done} of {result.n} done · "
                   f"{record.status}" + (f" ({record.status_reason})" if record.status_reason else ""))
        table = stats_frame(result)
        if not table.empty:
            st.dataframe(table, hide_index=True, key=f"repeat_stats_{key}{parent_id}")
            st.caption("Mean and sample standard deviation over the seeds that completed, and a 95% Student-t "
                       "interval for the mean: where the mean of these settings would fall with other seeds.")
        if curves:
            ids = [m.run_id for m in result.members]
            bands = seed_bands(store.metrics_frame(ids), ids)
            names = [n for n in ("loss", primary_metric(record.task) if record.task else "") if n]
            shown = [n for n in names if not bands[bands["name"] == n].empty]
            for column, name in zip(st.columns(max(len(shown), 1)), shown):
                column.plotly_chart(band_figure(bands, name, metric_label(name).capitalize()),
                                    key=f"repeat_band_{key}{parent_id}_{name}", width="stretch")
            if shown:
                st.caption("The line is the mean over the seeds at each epoch, the shaded band one standard "
                           "deviation either side; solid is training, dashed validation.")
        if active and record.status not in ACTIVE:
            st.rerun()

    _live()


def show_group(engine: Any, run: RunRecord) -> None:
    """The Runs page's view of a group of repeats: its statistics, banded curves and members."""
    if run.status in ACTIVE:
        st.button("Stop these runs", key=f"stop_group_{run.run_id}", on_click=stop_repeats,
                  args=(engine, run.run_id))
    draw_repeats(engine, run.run_id, key="runs_")
    found = members(engine.store, run.run_id)
    if found:
        metric = primary_metric(run.task) if run.task else None
        rows = [{"member": m.name, "seed": m.config.get("train", {}).get("seed"), "status": m.status,
                 **({f"test {metric_label(metric)}": (m.metrics.get("test") or {}).get(metric)} if metric else {}),
                 "run id": m.run_id} for m in found]
        st.dataframe(pd.DataFrame(rows), hide_index=True, key=f"group_members_{run.run_id}")
        st.caption("Each seed is an ordinary run: tick it in the table above to see its own evaluation.")


# --- two runs, paired ----------------------------------------------------------------------
def draw_paired(store: RunStore, a: RunRecord, b: RunRecord) -> None:
    """Is A better than B? A paired bootstrap on their shared test rows, in one sentence."""
    st.subheader("Is one better?")
    if a.status != "completed" or b.status != "completed":
        st.info("Both runs need test predictions: compare them once both have completed.")
        return
    choices = list(metrics_for_task(a.task)) if a.task else []
    first = primary_metric(a.task) if a.task else None
    metric = st.selectbox("Metric", choices, index=choices.index(first) if first in choices else 0,
                          format_func=metric_label, key=f"paired_metric_{a.run_id}_{b.run_id}")
    try:
        result = _paired(store, a.run_id, b.run_id, metric, a.ended_at, b.ended_at)
    except WorkbenchError as exc:
        st.info(md_escape(exc))
        return
    sure = result.low > 0 or result.high < 0
    (st.success if sure else st.info)(md_escape(result.words))
    st.caption(f"{md_escape(result.a['name'])}: {result.label} {result.a_value:.4f}; "
               f"{md_escape(result.b['name'])}: {result.b_value:.4f}. Rows were drawn with replacement "
               f"{result.resamples} times and both scored on the same draw each time; the interval holds the "
               "middle 95% of the differences." + (f" Note: {result.shared_note}." if result.shared_note else ""))


@st.cache_data(show_spinner=False, max_entries=64)
def _paired(_store: RunStore, a: str, b: str, metric: str, ended_a: float | None, ended_b: float | None) -> PairedComparison:
    # keyed by the runs' end times too: a group that gained a seed is compared afresh
    return compare_runs(_store, a, b, metric)
