"""Sequences in the pages: the Data page's sequence settings and preview, the Runs page's forecast view
beside the baselines, the Explain page's step x column heat map. Figures and tables are plain
functions (tested without a browser); the few widget functions only lay them out."""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st
from pandas.api import types as ptypes

from core.config import SequenceConfig
from core.data.sequences import SequenceData, build_sequences, preview_windows, summary
from core.errors import WorkbenchError
from core.evaluation.forecast import BASELINE_LABELS
from core.vocab import is_classification, metric_direction, metric_label
from workbench.ui.common import md_escape

HEIGHT = 380
TIME_NAMES = ("date", "time", "timestamp", "datetime", "day", "ds", "step", "t")
_NETWORK, _ACTUAL = "#1f77b4", "#222222"
_BASELINE_COLORS = {"persistence": "#ff7f0e", "seasonal_naive": "#2ca02c"}


# --- Data page ---------------------------------------------------------------------------
def guess_time_column(df: pd.DataFrame) -> str | None:
    """A column that holds dates (by type, or by name and parsable text); None when none looks like one."""
    for col in df.columns:
        if ptypes.is_datetime64_any_dtype(df[col].dtype):
            return str(col)
    for col in df.columns:
        if str(col).strip().lower() in TIME_NAMES:
            sample = df[col].dropna().astype(str).head(20)
            if ptypes.is_numeric_dtype(df[col].dtype) or \
                    pd.to_datetime(sample, errors="coerce", format="mixed").notna().mean() > 0.9:
                return str(col)
    return None


def settings_dict(seq: SequenceConfig) -> dict[str, Any]:
    """Only what differs from the defaults: what a DataChoice carries and a run config shows."""
    default = SequenceConfig()
    out = {k: getattr(seq, k) for k in ("time_column", "series_id", "window", "stride", "horizon",
                                        "seasonal_period") if getattr(seq, k) != getattr(default, k)}
    if seq.inputs:
        out["inputs"] = list(seq.inputs)
    return out


def sequence_settings(key: str, df: pd.DataFrame, target: str, task: str,
                      defaults: Mapping[str, Any] | None) -> SequenceConfig | None:
    """The 'Read as sequences' widgets; None when the rows are to be read one by one (a table)."""
    columns = [str(c) for c in df.columns if c != target]
    defaults = dict(defaults or {})
    on = st.toggle("Read the rows as sequences (time series)", value=bool(defaults) or "window" in defaults,
                   key=f"{key}::on", help="A forecast reads a window of past rows to predict a later value; "
                   "a sequence classifier reads each whole sequence (a row of steps, or the rows of one id).")
    if not on:
        return None
    classify = is_classification(task)
    none = "(none)"
    guess = defaults.get("time_column") or guess_time_column(df.drop(columns=[target]))
    c1, c2 = st.columns(2)
    time_column = c1.selectbox("Time column", [none, *columns], index=([none, *columns].index(guess)
                                                                        if guess in columns else 0),
                               key=f"{key}::time", help="Rows are sorted by it; its spacing (1 day, 1 hour...) "
                               "gives the seasonal-naive baseline its season. None: the file's row order.")
    series_default = defaults.get("series_id")
    series_id = c2.selectbox("Series id", [none, *columns],
                             index=[none, *columns].index(series_default) if series_default in columns else 0,
                             key=f"{key}::series", help="Long format: the column naming each series (many series "
                             "in one table) or each sequence to classify. None: one series, or one sequence per row.")
    time_column = None if time_column == none else time_column
    series_id = None if series_id == none else series_id
    wide = classify and not series_id
    numeric = [c for c in columns if c not in (time_column, series_id) and ptypes.is_numeric_dtype(df[c].dtype)]
    c3, c4, c5 = st.columns(3)
    if wide:
        st.caption(f"Each row is one sequence: its {len(numeric)} numeric columns are its steps, in table order.")
        return SequenceConfig(inputs=tuple(defaults.get("inputs") or ()))
    window = c3.number_input("Window (steps)", min_value=1, max_value=10_000, step=1,
                             value=int(defaults.get("window") or (24 if not classify else
                                                                  int(df.groupby(series_id).size().max()))),
                             key=f"{key}::window", help="How many consecutive rows one example shows the model.")
    horizon = c4.number_input("Horizon (steps ahead)", min_value=1, max_value=10_000, step=1,
                              value=int(defaults.get("horizon") or 1), key=f"{key}::horizon", disabled=classify,
                              help="How far after the window's last row the forecast target lies.")
    stride = c5.number_input("Stride", min_value=1, max_value=10_000, step=1, value=int(defaults.get("stride") or 1),
                             key=f"{key}::stride", disabled=classify,
                             help="Rows between the starts of two windows; 1 uses every window.")
    inputs = st.multiselect("Input columns", numeric, default=[c for c in (defaults.get("inputs") or numeric)
                                                               if c in numeric] or numeric,
                            key=f"{key}::inputs", help="The columns the model reads at every step. A forecast "
                            "reads the target's own past too." if not classify else
                            "The columns the model reads at every step.")
    if not classify and target not in inputs and ptypes.is_numeric_dtype(df[target].dtype):
        inputs = [target, *inputs]  # a forecast reads the target's past unless told otherwise
    return SequenceConfig(time_column=time_column, series_id=series_id, inputs=tuple(inputs), window=int(window),
                          horizon=int(horizon), stride=int(stride))


def show_preview(df: pd.DataFrame, target: str, task: str, seq: SequenceConfig) -> SequenceData | None:
    """What the settings make of the data: counts, checks in words and the first windows."""
    try:
        data = build_sequences(df, target, seq, task=task)
    except WorkbenchError as exc:
        st.error(md_escape(exc), icon=":material/error:")
        return None
    facts = summary(data)
    counts = facts["examples"]
    what = "windows" if facts["mode"] == "forecast" else "sequences"
    m = st.columns(4)
    m[0].metric(f"Training {what}", f"{counts['train']:,}")
    m[1].metric(f"Validation {what}", f"{counts['val']:,}")
    m[2].metric(f"Test {what}", f"{counts['test']:,}")
    m[3].metric("Steps x columns", f"{facts['window']} x {len(facts['channels'])}")
    st.caption(split_words(facts))
    for check in data.checks:
        show = {"error": st.error, "warning": st.warning, "info": st.info}[check.level]
        show(f"**{md_escape(check.message)}**  \n{md_escape(check.advice)}")
    if not data.checks:
        st.success("The series look regular: no gaps, repeated times or short series.", icon=":material/check:")
    with st.expander(f"The first {what} the model trains on", expanded=False):
        for i, table in enumerate(preview_windows(data, "train", 3)):
            st.dataframe(table, hide_index=True, width="stretch", key=f"seq_preview_{i}")
    return data


def split_words(facts: Mapping[str, Any]) -> str:
    """How the examples were cut and split, in one sentence."""
    if facts["mode"] == "forecast":
        spacing = f" every {facts['spacing']}" if facts.get("spacing") else ""
        season = f"; the seasonal-naive baseline repeats the value {facts['seasonal_period']} steps back" \
            if facts.get("seasonal_period") else ""
        return (f"Each window is {facts['window']} rows{spacing}; its target is the value {facts['horizon']} "
                f"step(s) after its last row. Train, validation and test follow each other in time, and no "
                f"window reaches across two of them{season}.")
    return (f"Each sequence is {facts['window']} steps of {len(facts['channels'])} column(s); sequences are split "
            "between train, validation and test whole, with each class in every part.")


# --- Runs page -----------------------------------------------------------------------------
def baseline_table(summary_: Mapping[str, Any], metrics: tuple[str, ...] | None = None) -> pd.DataFrame:
    """Test metrics of the network and each baseline, one row each, the network first."""
    base = summary_.get("baseline") or {}
    test = (summary_.get("metrics") or {}).get("test") or {}
    names = metrics or tuple(k for k in ("mae", "rmse", "smape", "mase", "accuracy", "f1_macro", "log_loss")
                             if k in test)
    rows = [{"model": "this network", **{metric_label(k): test.get(k) for k in names}}]
    for name, entry in (base.get("all") or {}).items():
        rows.append({"model": entry.get("label", name), **{metric_label(k): entry["test"].get(k) for k in names}})
    return pd.DataFrame(rows)


def verdict(summary_: Mapping[str, Any]) -> tuple[str, str] | None:
    """('success' | 'warning', words): does the network beat the first baseline on its main error?"""
    base = summary_.get("baseline")
    test = (summary_.get("metrics") or {}).get("test") or {}
    if not base:
        return None
    metric = "mae" if "mae" in test else "accuracy"
    ours, theirs = test.get(metric), base["test"].get(metric)
    if ours is None or theirs is None or not np.isfinite([ours, theirs]).all():
        return None
    better = ours < theirs if metric_direction(metric) == "min" else ours > theirs
    label = base.get("label", base["name"])
    if better:
        gain = abs(theirs - ours) / abs(theirs) if theirs else 0.0
        return "success", (f"The network beats {label}: test {metric_label(metric)} {ours:.4g} against "
                           f"{theirs:.4g} ({gain:.1%} better).")
    return "warning", (f"The network does not beat {label}: test {metric_label(metric)} {ours:.4g} against "
                       f"{theirs:.4g}. Try a longer window, more epochs or other inputs.")


def forecast_figure(pred: pd.DataFrame, target: str = "value") -> go.Figure:
    """Actual and forecast over the test range (one series: the first), with each baseline dotted."""
    test = pred[pred["split"] == "test"]
    if "series" in test and test["series"].nunique() > 1:
        test = test[test["series"] == test["series"].iloc[0]]
    x = test["time"] if "time" in test else test["row"]
    fig = go.Figure()
    fig.add_scatter(x=x, y=test["y_true"], name="actual", mode="lines", line={"color": _ACTUAL, "width": 2})
    fig.add_scatter(x=x, y=test["y_pred"], name="this network", mode="lines", line={"color": _NETWORK, "width": 2})
    for name, label in BASELINE_LABELS.items():
        if f"baseline_{name}" in test:
            fig.add_scatter(x=x, y=test[f"baseline_{name}"], name=label, mode="lines", visible="legendonly"
                            if name != "persistence" else True,
                            line={"color": _BASELINE_COLORS.get(name, "#999"), "dash": "dot", "width": 1})
    fig.update_layout(height=HEIGHT, margin={"l": 10, "r": 10, "t": 30, "b": 10}, xaxis_title="time",
                      yaxis_title=target, legend={"orientation": "h", "y": 1.12}, hovermode="x unified")
    return fig


def show_run(store: Any, run: Any) -> None:
    """The Runs page's part for a sequence run: the network beside its baselines, and the forecast."""
    if not run.summary.get("baseline"):
        return
    st.subheader("Against the baselines (test)")
    said = verdict(run.summary)
    if said:
        getattr(st, said[0])(said[1])
    st.dataframe(baseline_table(run.summary), hide_index=True, width="stretch", key=f"baselines_{run.run_id}")
    st.caption("The baselines are scored on exactly the test examples the network is: persistence repeats the "
               "window's last value, seasonal naive the value one season back; the class prior always says the "
               "most frequent training class. MASE below 1 beats the naive forecast on the training part.")
    path = store.run_dir(run.run_id) / "predictions.parquet"
    if run.task == "regression" and path.is_file():
        pred = pd.read_parquet(path)
        if "time" in pred:
            st.plotly_chart(forecast_figure(pred, run.config.get("data", {}).get("target", "value")),
                            key=f"forecast_{run.run_id}", width="stretch")
            st.caption("The test range: the actual values, the network's forecasts and the persistence baseline "
                       "(click a legend entry to show or hide a line).")


# --- Explain page --------------------------------------------------------------------------
def heatmap_figure(importance: np.ndarray, step_labels: list[str], channels: list[str],
                   title: str = "") -> go.Figure:
    """Steps down the side (oldest at the top), columns across: mean |attribution| per cell."""
    fig = go.Figure(go.Heatmap(z=importance, x=channels, y=step_labels, colorscale="Blues",
                               colorbar={"title": "mean |attr.|"},
                               hovertemplate="%{y}, %{x}: %{z:.3g}<extra></extra>"))
    fig.update_layout(height=max(HEIGHT, 18 * len(step_labels) + 120), title=title,
                      margin={"l": 10, "r": 10, "t": 40 if title else 10, "b": 10},
                      yaxis={"autorange": "reversed", "title": "step (t = the window's last)"},
                      xaxis={"title": "input column"})
    return fig


def signed_heatmap(attributions: np.ndarray, step_labels: list[str], channels: list[str]) -> go.Figure:
    """One example: red pushed the answer up, blue down."""
    limit = float(np.abs(attributions).max()) or 1.0
    fig = go.Figure(go.Heatmap(z=attributions, x=channels, y=step_labels, colorscale="RdBu_r", zmin=-limit,
                               zmax=limit, colorbar={"title": "attribution"},
                               hovertemplate="%{y}, %{x}: %{z:.3g}<extra></extra>"))
    fig.update_layout(height=max(HEIGHT, 18 * len(step_labels) + 120), margin={"l": 10, "r": 10, "t": 10, "b": 10},
                      yaxis={"autorange": "reversed", "title": "step"}, xaxis={"title": "input column"})
    return fig


def show_explanation(store: Any, catalog: Any, run: Any) -> None:
    """The Explain page for a sequence run: the heat map over all explained test examples, then one."""
    from core.explain.temporal import METHOD, TemporalParams, explain_sequences

    st.caption(f"Attribution by {METHOD}: for each test example, how much each step and column of its window "
               "moved the answer away from the answer for an all-average window. It works through recurrent "
               "layers, where SHAP's DeepLIFT rules do not; the values of one example add up to that move.")
    left, right = st.columns(2)
    n = int(left.number_input("Test examples to explain", 1, 1000, 50, step=10, key="explain_seq_n"))
    classes = [str(c) for c in run.summary.get("classes") or []]
    output = None
    if run.task == "multiclass":
        pick = right.selectbox("Class to explain", ["the predicted class", *classes], key="explain_seq_class")
        output = None if pick == "the predicted class" else pick
    try:
        with st.spinner("Computing integrated gradients..."):
            result = explain_sequences(store, catalog, run.run_id, TemporalParams(examples=n, output=output))
    except WorkbenchError as exc:
        st.error(md_escape(exc), icon=":material/error:")
        return
    st.subheader("Which steps and columns matter")
    st.plotly_chart(heatmap_figure(result.importance(), result.step_labels, result.channels),
                    key="explain_seq_heatmap", width="stretch")
    top = result.by_channel()
    st.caption(f"Mean absolute attribution to {md_escape(result.output_label)} over {len(result.examples)} test "
               f"examples (darker: more weight). The column that matters most is **{md_escape(top.index[0])}**; "
               f"the largest completeness gap is {result.completeness_gap:.2g} (0 is exact). "
               f"Computed in {result.seconds:.1f} s.")
    st.subheader("One example")
    labels = [f"{i}: {row.get('time', row.get('series', i))}" for i, row in result.examples.iterrows()]
    pick = st.selectbox("Example", range(len(labels)), format_func=lambda i: labels[i], key="explain_seq_one")
    row = result.examples.iloc[int(pick)]
    st.markdown(f"Actual **{_shown(row['actual'])}**, predicted **{_shown(row['predicted'])}**; the all-average "
                f"window gives {_shown(result.reference[int(pick)])}.")
    st.plotly_chart(signed_heatmap(result.attributions[int(pick)], result.step_labels, result.channels),
                    key="explain_seq_one_fig", width="stretch")
    st.caption("Red pushed this answer up, blue pulled it down.")


def _shown(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, (float, np.floating)) else md_escape(value)


__all__ = ["show_explanation", "guess_time_column", "settings_dict", "sequence_settings", "show_preview", "split_words",
           "baseline_table", "verdict", "forecast_figure", "show_run", "heatmap_figure", "signed_heatmap"]
