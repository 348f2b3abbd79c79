"""Plotly figures drawn from the plain data of `core.evaluation.curves` and run history.

Figures only: showing them (Streamlit, a notebook, an HTML export) is the
caller's business, so core stays free of the UI.
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.colors import qualitative

HEIGHT = 380
TEMPLATE = "plotly_white"
_COLORS = qualitative.Plotly
_SPLIT_DASH = {"train": "solid", "val": "dash", "test": "dot"}
_CHANCE = {"color": "#999999", "dash": "dot", "width": 1}


def _layout(fig: go.Figure, title: str, x: str, y: str, **extra: Any) -> go.Figure:
    fig.update_layout(
        title={"text": title},
        xaxis_title=x,
        yaxis_title=y,
        template=TEMPLATE,
        height=HEIGHT,
        margin={"l": 60, "r": 20, "t": 50, "b": 50},
        **extra,
    )
    return fig


LEGEND_ROW_PX = 22
PLOT_WIDTH_PX = 560  # a chart in one of two page columns


def legend_below(fig: go.Figure, names: Sequence[str], width: int = PLOT_WIDTH_PX) -> go.Figure:
    """The legend in rows under the plot, not in a column beside it (where long run names took half the
    width); the figure grows by the rows it needs, so the plot keeps its size."""
    widths = [40 + 6.5 * len(str(n)) for n in names]  # marker, gap, text at about 6.5 px a character
    rows, used = 1, 0.0
    for w in widths:
        if used and used + w > width:
            rows, used = rows + 1, 0.0
        used += w
    extra = LEGEND_ROW_PX * rows + 10
    margin = fig.layout.margin.to_plotly_json() if fig.layout.margin else {}
    height = int(fig.layout.height or HEIGHT)
    top, bottom = int(margin.get("t", 50)), int(margin.get("b", 50))
    plot = max(height - top - bottom, 100)  # the plot area's height, which stays as it was
    # the legend's place is in plot-height units: 58 px under the axis, clear of the ticks and axis title
    fig.update_layout(legend={"orientation": "h", "yanchor": "top", "y": -58 / plot, "x": 0, "xanchor": "left"},
                      height=height + extra, margin={**margin, "b": bottom + extra})
    return fig


def whole_number_ticks(fig: go.Figure, largest: float, axis: str = "x") -> go.Figure:
    """Ticks on whole numbers only (epochs): 1, 2, 3 for a short run, 5, 10, 15 for a longer one, never 1.5."""
    step = next((s for s in (1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 5000, 10000)
                 if s >= max(float(largest), 1.0) / 8), 10 ** len(str(int(largest))))
    getattr(fig, f"update_{axis}axes")(tickmode="linear", tick0=0, dtick=step, tickformat="d")
    return fig


def confusion_figure(conf: Mapping[str, Any], normalized: bool = True, clickable: bool = False) -> go.Figure:
    """Heatmap coloured by rate (or count); each cell's text shows the count too.

    clickable: a marker over every cell carries [true, predicted] as customdata, so a click on a cell is a
    point selection (plotly selects no heatmap cells); core.explain.gallery reads it."""
    labels = list(conf["labels"])
    counts = conf["matrix"]
    rates = conf["normalized"]
    z = rates if normalized else counts
    text = [
        [f"{c}<br>{r:.0%}" for c, r in zip(count_row, rate_row)]
        for count_row, rate_row in zip(counts, rates)
    ]
    fig = go.Figure(go.Heatmap(
        z=z, x=labels, y=labels, text=text, texttemplate="%{text}", colorscale="Blues",
        zmin=0, zmax=1 if normalized else None, showscale=False,
        hovertemplate="true %{y}<br>predicted %{x}<br>%{text}<extra></extra>",
    ))
    if clickable:
        cells = [(t, p, text[i][j]) for i, t in enumerate(labels) for j, p in enumerate(labels)]
        side = max(8, int(250 / max(len(labels), 1)))  # about the cell's size: a click anywhere in it lands
        fig.update_traces(hoverinfo="skip", hovertemplate=None)
        fig.add_trace(go.Scatter(
            x=[p for _, p, _ in cells], y=[t for t, _, _ in cells], mode="markers", showlegend=False,
            customdata=[[str(t), str(p)] for t, p, _ in cells], text=[c for _, _, c in cells],
            marker={"symbol": "square", "size": side, "color": "rgba(0,0,0,0.01)"},
            selected={"marker": {"color": "rgba(255,140,0,0.45)"}}, unselected={"marker": {"opacity": 1}},
            hovertemplate="true %{y}<br>predicted %{x}<br>%{text}<br>click to see these rows<extra></extra>"))
        # the markers must not widen the axes (plotly pads a range for big markers): cells stay square
        fig.update_xaxes(range=[-0.5, len(labels) - 0.5])
        fig.update_yaxes(range=[len(labels) - 0.5, -0.5])
        fig.update_layout(clickmode="event+select", dragmode=False)
    # autorange reversed puts the first class at the top, as in a printed matrix.
    fig.update_yaxes(autorange=None if clickable else "reversed", type="category")
    fig.update_xaxes(type="category")
    return _layout(fig, "Confusion matrix", "Predicted class", "True class")


def roc_figure(curves: Sequence[Mapping[str, Any]]) -> go.Figure:
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", line=_CHANCE, name="chance", hoverinfo="skip"))
    for i, c in enumerate(curves):
        fig.add_trace(go.Scatter(
            x=c["fpr"], y=c["tpr"], mode="lines", line={"color": _COLORS[i % len(_COLORS)]},
            name=f"{c['label']} (AUC {c['auc']:.3f})",
        ))
    fig.update_xaxes(range=[0, 1])
    fig.update_yaxes(range=[0, 1.02])
    _layout(fig, "ROC curve", "False positive rate", "True positive rate")
    return legend_below(fig, ["chance", *(f"{c['label']} (AUC {c['auc']:.3f})" for c in curves)])


def pr_figure(curves: Sequence[Mapping[str, Any]]) -> go.Figure:
    fig = go.Figure()
    for i, c in enumerate(curves):
        color = _COLORS[i % len(_COLORS)]
        fig.add_trace(go.Scatter(
            x=c["recall"], y=c["precision"], mode="lines", line={"color": color, "shape": "hv"},
            name=f"{c['label']} (AP {c['average_precision']:.3f})",
        ))
        if "prevalence" in c:  # random guessing reaches precision = share of positives
            fig.add_trace(go.Scatter(
                x=[0, 1], y=[c["prevalence"]] * 2, mode="lines", line={**_CHANCE, "color": color},
                showlegend=False, hoverinfo="skip",
            ))
    fig.update_xaxes(range=[0, 1])
    fig.update_yaxes(range=[0, 1.02])
    _layout(fig, "Precision-recall curve", "Recall", "Precision")
    return legend_below(fig, [f"{c['label']} (AP {c['average_precision']:.3f})" for c in curves])


def calibration_figure(cal: Mapping[str, Any]) -> go.Figure:
    top = cal.get("kind") == "top class"
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", line=_CHANCE, name="perfectly calibrated"))
    fig.add_trace(go.Scatter(
        x=cal["mean_predicted"], y=cal["fraction_positive"], mode="lines+markers",
        line={"color": _COLORS[0]}, name="model",
    ))
    fig.update_xaxes(range=[0, 1])
    fig.update_yaxes(range=[0, 1.02])
    _layout(
        fig, "Calibration",
        "Mean confidence in the top class" if top else "Mean predicted probability",
        "Share correct" if top else "Share of positives",
    )
    return legend_below(fig, ["perfectly calibrated", "model"])


def residuals_figure(res: Mapping[str, Any]) -> go.Figure:
    """With res["rows"] (core.explain.gallery.residual_points) each point carries its row number as customdata."""
    rows = res.get("rows")
    fig = go.Figure(go.Scattergl(
        x=res["pred"], y=res["residual"], mode="markers", customdata=rows,
        marker={"size": 5 if rows is None else 7, "opacity": 0.6, "color": _COLORS[0]}, name="test rows",
        hovertemplate=("predicted %{x:.4g}<br>error %{y:+.4g}" + ("<br>row %{customdata}" if rows else "")
                       + "<extra></extra>"),
    ))
    if rows is not None:
        fig.update_layout(clickmode="event+select")
    fig.add_hline(y=0, line=_CHANCE)
    return _layout(fig, "Residuals", "Predicted value", "Residual (true - predicted)", showlegend=False)


CURVE_POINTS = 600  # per line: more is invisible on a chart, and costs the browser each live refresh


def thin_curve(part: pd.DataFrame, max_points: int = CURVE_POINTS) -> pd.DataFrame:
    """At most about `max_points` rows of one epoch-sorted line, keeping its shape: the first and
    last epochs and, in each of max_points/2 equal runs of epochs, the lowest and highest value
    (spikes and the best epoch stay visible, which plain striding would drop)."""
    if len(part) <= max_points:
        return part
    buckets = np.arange(len(part)) * (max_points // 2) // len(part)
    values = pd.to_numeric(part["value"], errors="coerce").to_numpy()
    keep = np.zeros(len(part), dtype=bool)
    keep[[0, -1]] = True
    frame = pd.DataFrame({"bucket": buckets, "value": values})
    for column in (frame.groupby("bucket")["value"].idxmin(), frame.groupby("bucket")["value"].idxmax()):
        keep[column.dropna().astype(int).to_numpy()] = True
    return part[keep]


def curves_figure(
    history: pd.DataFrame, metric: str, runs: Mapping[str, str] | None = None, max_points: int = CURVE_POINTS
) -> go.Figure:
    """Learning curves of one metric: a colour per run, solid train, dashed val.

    `history` has columns run_id, epoch, split, name, value (metric rows from
    the run store). `runs` maps run_id -> legend label and fixes which runs
    are drawn and in what order; None draws every run under its id. A line
    longer than `max_points` epochs is thinned (thin_curve).
    """
    rows = history[history["name"] == metric]
    if runs is None:
        runs = {run_id: str(run_id) for run_id in dict.fromkeys(rows["run_id"])}
    fig = go.Figure()
    several = len(runs) > 1
    names: list[str] = []
    for i, (run_id, label) in enumerate(runs.items()):
        color = _COLORS[i % len(_COLORS)]
        run_rows = rows[rows["run_id"] == run_id]
        first = True
        for split, dash in _SPLIT_DASH.items():
            # Several rows for one epoch (a resumed run, step-level logging):
            # the last one written is the epoch's final value.
            part = (
                run_rows[run_rows["split"] == split]
                .sort_values("epoch", kind="stable")
                .drop_duplicates("epoch", keep="last")
            )
            if part.empty:
                continue
            part = thin_curve(part, max_points)
            # several runs: one legend entry per run (its colour; the caption says solid is train, dashed
            # val); one run: an entry per split
            shown = first or not several
            fig.add_trace(go.Scatter(
                x=part["epoch"].tolist(), y=part["value"].tolist(), mode="lines",
                line={"color": color, "dash": dash}, legendgroup=str(run_id), showlegend=shown,
                name=label if several else split, hovertemplate=f"{label} · {split}: %{{y:.4g}}<extra></extra>",
            ))
            if shown:
                names.append(label if several else split)
            first = False
    _layout(fig, metric.replace("_", " ").capitalize(), "Epoch", metric, hovermode="x unified")
    epochs = pd.to_numeric(rows["epoch"], errors="coerce")
    whole_number_ticks(fig, float(epochs.max()) if epochs.notna().any() else 1.0)
    return legend_below(fig, names)


def band_figure(bands: pd.DataFrame, metric: str, label: str = "") -> go.Figure:
    """One metric's curves over a group of seeds: the mean per epoch as a line, mean +- one standard
    deviation as a shaded band, solid train and dashed val. `bands` is core.tuning.repeats.seed_bands'
    frame (split, name, epoch, mean, std, n, low, high)."""
    rows = bands[bands["name"] == metric]
    fig = go.Figure()
    names: list[str] = []
    for i, (split, dash) in enumerate(_SPLIT_DASH.items()):
        part = rows[rows["split"] == split].sort_values("epoch")
        if part.empty:
            continue
        color = _COLORS[i % len(_COLORS)]
        epochs = part["epoch"].tolist()
        fig.add_trace(go.Scatter(  # the band: high forward, low back, filled
            x=epochs + epochs[::-1], y=part["high"].tolist() + part["low"].tolist()[::-1], fill="toself",
            fillcolor=_rgba(color, 0.18), line={"width": 0}, hoverinfo="skip", showlegend=False,
            legendgroup=split, name=f"{split} ± std",
        ))
        fig.add_trace(go.Scatter(
            x=epochs, y=part["mean"].tolist(), mode="lines", line={"color": color, "dash": dash}, legendgroup=split,
            name=f"{split} mean", customdata=np.column_stack([part["std"], part["n"]]),
            hovertemplate=f"{split}: %{{y:.4g}} ± %{{customdata[0]:.3g}} (%{{customdata[1]}} seeds)<extra></extra>",
        ))
        names.append(f"{split} mean")
    _layout(fig, label or metric.replace("_", " ").capitalize(), "Epoch", metric, hovermode="x unified")
    epochs = pd.to_numeric(rows["epoch"], errors="coerce")
    whole_number_ticks(fig, float(epochs.max()) if epochs.notna().any() else 1.0)
    return legend_below(fig, names)


def _rgba(hex_color: str, alpha: float) -> str:
    h = hex_color.lstrip("#")
    r, g, b = (int(h[i:i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r},{g},{b},{alpha})"


__all__ = [
    "band_figure",
    "confusion_figure", "roc_figure", "pr_figure", "calibration_figure", "residuals_figure", "curves_figure",
    "thin_curve", "legend_below", "whole_number_ticks",
]
