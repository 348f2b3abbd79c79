"""Widgets and figures for cross-validation and search results.

The figure and table builders draw what core.tuning computes (unit-tested); the
`draw_*` functions put them on the page. `draw_cv` is what the Train page shows for
a cross-validation parent.
"""
from __future__ import annotations

import math
from typing import Any, Sequence

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from core.vocab import ACTIVE
from core.tuning.analysis import (
    MIN_TRIALS_FOR_IMPORTANCE, best_so_far, complete_trials, param_importances, trial_curves,
)
from core.tuning.cv import CvResult, cv_result
from core.tuning.search import StudySpec, TrialRow, study_spec, study_trials
from core.tuning.space import SearchParam
from workbench.ui.common import format_duration

STATE_COLORS = {"complete": "#2e7d32", "pruned": "#9e9e9e", "failed": "#c62828", "stopped": "#ef6c00",
                "running": "#1565c0"}


# --- search: tables and figures ----------------------------------------------------------------
def trials_frame(trials: Sequence[TrialRow], metric: str) -> pd.DataFrame:
    rows = []
    for t in trials:
        row: dict[str, Any] = {"trial": t.number + 1, "state": t.state, f"val {metric}": t.value}
        row.update({name: _plain(v) for name, v in t.params.items()})
        row["pruned at epoch"] = t.pruned_epoch
        row["duration"] = format_duration(t.duration_s)
        row["run"] = t.run_id or ""
        rows.append(row)
    frame = pd.DataFrame(rows)
    if not frame.empty and frame["pruned at epoch"].isna().all():
        frame = frame.drop(columns=["pruned at epoch"])
    return frame


def best_so_far_figure(trials: Sequence[TrialRow], metric: str, direction: str) -> go.Figure:
    points = best_so_far(trials, direction)
    fig = go.Figure()
    fig.add_scatter(x=[p[0] for p in points], y=[p[1] for p in points], mode="markers", name="trial",
                    marker={"color": STATE_COLORS["complete"], "size": 9})
    fig.add_scatter(x=[p[0] for p in points], y=[p[2] for p in points], mode="lines", name="best so far",
                    line={"shape": "hv", "color": "#1565c0", "width": 2})
    pruned = [t for t in trials if t.state == "pruned"]
    fig.add_scatter(x=[t.number + 1 for t in pruned], y=[None] * len(pruned), mode="markers", name="pruned",
                    marker={"color": STATE_COLORS["pruned"], "symbol": "x"}, visible="legendonly")
    last = max((t.number + 1 for t in trials), default=1)
    fig.update_xaxes(dtick=max(1, math.ceil(last / 10)), range=[0.5, last + 0.5])  # whole trial numbers only
    fig.update_layout(title=f"Best val {metric} so far", xaxis_title="trial", yaxis_title=f"val {metric}",
                      height=320, margin={"l": 10, "r": 10, "t": 40, "b": 10}, legend={"orientation": "h", "y": -0.25})
    return fig


def parallel_figure(trials: Sequence[TrialRow], space: Sequence[SearchParam], metric: str) -> go.Figure | None:
    """One line per complete trial through its parameter values, coloured by the metric."""
    done = [t for t in trials if t.state == "complete" and t.value is not None and all(p.name in t.params for p in space)]
    if len(done) < 2:
        return None
    dims = []
    for p in space:
        values = [t.params[p.name] for t in done]
        if p.kind == "choice":
            labels = [str(c) for c in p.choices]
            index = {c: i for i, c in enumerate(labels)}
            dims.append({"label": p.name, "values": [index[str(v)] for v in values],
                         "tickvals": list(range(len(labels))), "ticktext": labels, "range": [0, max(len(labels) - 1, 1)]})
        elif p.log:
            logs = [math.log10(float(v)) for v in values]
            lo, hi = math.log10(float(p.low)), math.log10(float(p.high))
            ticks = list(range(math.ceil(lo), math.floor(hi) + 1))
            dims.append({"label": f"{p.name} (log)", "values": logs, "range": [lo, hi],
                         "tickvals": ticks, "ticktext": [f"1e{t}" for t in ticks]})
        else:
            dims.append({"label": p.name, "values": [float(v) for v in values], "range": [p.low, p.high]})
    values = [t.value for t in done]
    dims.append({"label": f"val {metric}", "values": values})
    fig = go.Figure(go.Parcoords(line={"color": values, "colorscale": "Viridis", "showscale": True,
                                          "colorbar": {"thickness": 12, "x": 1.04}}, dimensions=dims))
    fig.update_layout(title={"text": "Parameters of each complete trial", "y": 0.98}, height=380,
                      margin={"l": 60, "r": 80, "t": 90, "b": 20})
    return fig


def importance_figure(importances: dict[str, float]) -> go.Figure:
    items = sorted(importances.items(), key=lambda kv: kv[1])
    fig = go.Figure(go.Bar(x=[v for _, v in items], y=[k for k, _ in items], orientation="h",
                           marker={"color": "#1565c0"}))
    fig.update_layout(title="Which settings mattered most", xaxis_title="importance (share)", height=320,
                      margin={"l": 10, "r": 10, "t": 40, "b": 10})
    return fig


def trial_curves_figure(curves: pd.DataFrame, monitor: str) -> go.Figure:
    """Each trial's validation curve (from the run store's metric rows): live for the running one."""
    fig = go.Figure()
    for trial, frame in curves.groupby("trial", sort=True):
        fig.add_scatter(x=frame["epoch"], y=frame["value"], mode="lines", name=f"trial {int(trial) + 1}")
    fig.update_layout(title=f"val {monitor} per epoch", xaxis_title="epoch", yaxis_title=f"val {monitor}",
                      height=320, margin={"l": 10, "r": 10, "t": 40, "b": 10}, showlegend=False)
    return fig


# --- cross-validation ---------------------------------------------------------------------------
def cv_table(result: CvResult) -> pd.DataFrame:
    """metric | mean | std | fold 1 .. fold K (test split of each fold)."""
    rows = []
    for name, stats in result.cv.items():
        row: dict[str, Any] = {"metric": name, "mean": stats["mean"], "std": stats["std"]}
        for i, value in enumerate(stats["folds"], start=1):
            row[f"fold {i}"] = value
        rows.append(row)
    return pd.DataFrame(rows)


def cv_spread_figure(result: CvResult, metrics: Sequence[str] | None = None) -> go.Figure:
    """One small panel per metric (each its own scale): a dot per fold and the mean +- std."""
    names = [m for m in (metrics or list(result.cv)) if m in result.cv and result.cv[m]["mean"] is not None]
    fig = make_subplots(rows=1, cols=max(len(names), 1), subplot_titles=names or ["no fold has completed yet"])
    for col, name in enumerate(names, start=1):
        stats = result.cv[name]
        folds = [(i, v) for i, v in enumerate(stats["folds"], start=1) if v is not None]
        fig.add_scatter(x=[name] * len(folds), y=[v for _, v in folds], mode="markers", row=1, col=col,
                        marker={"size": 10, "color": "#1565c0", "opacity": 0.7},
                        text=[f"fold {i}" for i, _ in folds], hovertemplate="%{text}: %{y:.4f}<extra></extra>",
                        showlegend=False)
        fig.add_scatter(x=[name], y=[stats["mean"]], mode="markers", row=1, col=col, showlegend=False,
                        marker={"size": 14, "symbol": "line-ew-open", "color": "#c62828", "line": {"width": 3}},
                        error_y={"type": "data", "array": [stats["std"]], "color": "#c62828"},
                        hovertemplate=f"mean %{{y:.4f}} +- {stats['std']:.4f}<extra></extra>")
    fig.update_xaxes(showticklabels=False)
    fig.update_layout(height=300, margin={"l": 10, "r": 10, "t": 40, "b": 10})
    return fig


def draw_cv(engine: Any, parent_id: str) -> None:
    """The Train page's view of a cross-validation parent; polls while folds still run."""
    import streamlit as st

    active = engine.store.get(parent_id).status in ACTIVE

    @st.fragment(run_every=1.5 if active else None)
    def _live() -> None:
        record = engine.store.get(parent_id)
        result = cv_result(engine.store, parent_id)
        done = sum(1 for f in result.folds if f.status not in ACTIVE)
        st.caption(f"{result.k}-fold cross-validation: {done} of {result.k} folds done · {record.status}"
                   + (f" ({record.status_reason})" if record.status_reason else ""))
        if result.cv:
            table = cv_table(result)
            table.insert(1, "mean ± std", [_pm(m, s) for m, s in zip(table["mean"], table["std"])])
            st.dataframe(table.drop(columns=["mean", "std"]), hide_index=True, key=f"cv_table_{parent_id}")
            st.plotly_chart(cv_spread_figure(result), key=f"cv_spread_{parent_id}")
        if active and record.status not in ACTIVE:
            st.rerun()

    _live()


def _pm(mean: float | None, std: float | None) -> str:
    return "–" if mean is None else f"{mean:.4f} ± {std:.4f}"


def _plain(value: Any) -> Any:
    return round(value, 6) if isinstance(value, float) else value


def draw_study(engine: Any, parent_id: str) -> None:
    """Trials table, best-so-far curve, live validation curves, parallel coordinates and importances."""
    import streamlit as st

    record = engine.store.get(parent_id)
    active = record.status in ACTIVE
    spec: StudySpec = study_spec(record)

    @st.fragment(run_every=1.5 if active else None)
    def _live() -> None:
        now = engine.store.get(parent_id)
        trials = study_trials(engine, parent_id)
        if not trials:
            st.info("The first trial is starting…" if active else "This study ran no trials.")
        else:
            left, right = st.columns(2)
            left.plotly_chart(best_so_far_figure(trials, spec.metric, spec.direction), key=f"tune_best_{parent_id}")
            right.plotly_chart(trial_curves_figure(trial_curves(engine.store, trials, spec.monitor), spec.monitor),
                               key=f"tune_curves_{parent_id}")
            st.dataframe(trials_frame(trials, spec.metric), hide_index=True, key=f"tune_trials_{parent_id}")
            parallel = parallel_figure(trials, spec.space, spec.metric)
            n_complete = complete_trials(trials)
            importances = param_importances(engine.workspace, spec.name, n_complete)
            left, right = st.columns(2)
            if parallel is not None:
                left.plotly_chart(parallel, key=f"tune_parallel_{parent_id}")
            if importances:
                right.plotly_chart(importance_figure(importances), key=f"tune_importance_{parent_id}")
            elif n_complete < MIN_TRIALS_FOR_IMPORTANCE:
                right.caption(f"Parameter importances appear after {MIN_TRIALS_FOR_IMPORTANCE} complete trials.")
        if active and now.status not in ACTIVE:
            st.rerun()  # the study ended: redraw the whole page (buttons, status)

    _live()


# --- the search form ----------------------------------------------------------------------------
DEFAULT_SEARCHED = ("lr", "batch_size", "width", "depth", "dropout")


def space_inputs(kind: str, fixed: dict[str, Any], key_prefix: str) -> tuple[list[SearchParam], dict[str, Any]]:
    """A row per setting the search may vary: tick it to search a range (or options), else set its value.

    Returns the searched settings and the fixed values of the others.
    """
    import streamlit as st

    from core.tuning.space import search_candidates

    space: list[SearchParam] = []
    values: dict[str, Any] = {}
    head = st.columns([0.7, 2.2, 1.6, 1.6])
    for col, title in zip(head, ("Search", "Setting", "From · options · value", "To")):
        col.caption(title)
    for p in search_candidates(kind):
        key = f"{key_prefix}{kind}_{p.name}"
        on_col, name_col, low_col, high_col = st.columns([0.7, 2.2, 1.6, 1.6], vertical_alignment="center")
        searched = on_col.checkbox(f"search {p.label}", value=p.name in DEFAULT_SEARCHED, key=f"{key}_on",
                                   label_visibility="collapsed")
        name_col.markdown(f"**{p.label}**", help=p.help)
        if searched and p.kind == "choice":
            chosen = low_col.multiselect(f"{p.label} options", list(p.choices), default=list(p.choices),
                                         key=f"{key}_choices", label_visibility="collapsed")
            space.append(SearchParam(**{**p.to_dict(), "choices": tuple(chosen)}))
            high_col.caption(f"{len(chosen)} of {len(p.choices)} options")
        elif searched:
            step, fmt = _number_style(p)
            low = low_col.number_input(f"{p.label} from", value=_num(p.kind, p.low), step=step, format=fmt,
                                       key=f"{key}_low", label_visibility="collapsed")
            high = high_col.number_input(f"{p.label} to", value=_num(p.kind, p.high), step=step, format=fmt,
                                         key=f"{key}_high", label_visibility="collapsed")
            space.append(SearchParam(**{**p.to_dict(), "low": low, "high": high, "choices": ()}))
        else:
            values[p.name] = _fixed_input(low_col, p, fixed.get(p.name), f"{key}_value")
            high_col.caption("fixed")
    return space, values


def _num(kind: str, value: float | None) -> int | float:
    return int(value or 0) if kind == "int" else float(value or 0.0)


def _number_style(p: SearchParam) -> tuple[int | float, str | None]:
    if p.kind == "int":
        return 1, None
    return (1e-4 if p.log else 0.05), "%g"


def _fixed_input(col: Any, p: SearchParam, value: Any, key: str) -> Any:
    label = f"{p.label} value"
    if p.kind == "choice":
        options = list(p.choices)
        index = options.index(value) if value in options else 0
        return col.selectbox(label, options, index=index, key=key, label_visibility="collapsed")
    step, fmt = _number_style(p)
    return col.number_input(label, value=_num(p.kind, value), step=step, format=fmt, key=key,
                            label_visibility="collapsed")


def best_yaml(best: dict[str, Any]) -> str:
    """The best trial's full run config as YAML (`workbench train --config` reads it)."""
    from core.config import RunConfig

    return RunConfig.from_dict(best["config"]).to_yaml() if best.get("config") else ""
