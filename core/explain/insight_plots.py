"""Figures of importance over time and of two runs' importances side by side (plotly, plain numbers in)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from core.explain.boundary import Boundary
from core.explain.compare import RankComparison
from core.explain.plots import NEGATIVE, NEUTRAL, POSITIVE, TEMPLATE

PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf",
           "#bcbd22", "#7f7f7f"]

CAPTIONS = {
    "over_time": "Each line is one column's global importance (mean |SHAP| over the same validation rows) "
                 "at the epochs the run took a snapshot; the last point is the final model. Lines that "
                 "cross are columns trading places as the model learns.",
    "slope": "Each line joins a column's rank in the first run (left) to its rank in the second (right), "
             "1 at the top: red lines rose, blue lines fell, grey kept their place.",
}


def importance_over_time(frame: pd.DataFrame, top: int = 8) -> go.Figure:
    """frame: epoch, column, importance (ImportanceHistory.frame()); the `top` columns of the last snapshot."""
    last = frame[frame.epoch == frame.epoch.max()].sort_values("importance", ascending=False)
    shown = last.column.tolist()[:top]
    fig = go.Figure()
    for i, column in enumerate(shown):
        part = frame[frame.column == column].sort_values("epoch")
        fig.add_trace(go.Scatter(x=part.epoch.tolist(), y=part.importance.tolist(), mode="lines+markers",
                                 name=str(column), line={"color": PALETTE[i % len(PALETTE)], "width": 2},
                                 hovertemplate=f"{column}<br>epoch %{{x}}: %{{y:.4g}}<extra></extra>"))
    hidden = frame.column.nunique() - len(shown)
    title = "Importance over training" + (f" (top {len(shown)}; {hidden} more columns not drawn)" if hidden > 0 else "")
    fig.update_layout(title={"text": title}, template=TEMPLATE, height=420, xaxis_title="epoch",
                      yaxis_title="mean |SHAP value| (raw output)", margin={"l": 20, "r": 20, "t": 60, "b": 50},
                      legend={"orientation": "h", "y": -0.2})
    fig.update_xaxes(tickformat="d", dtick=max(1, int(frame.epoch.max() // 10) or 1))
    return fig


def rank_slope(comparison: RankComparison, name_a: str, name_b: str, top: int = 15) -> go.Figure:
    """A slope chart: rank in A on the left, rank in B on the right; colour says rose, fell or kept."""
    table = comparison.table
    shown = table[(table.rank_a <= top) | (table.rank_b <= top)]
    fig = go.Figure()
    for row in shown.itertuples(index=False):
        colour = POSITIVE if row.change > 0 else NEGATIVE if row.change < 0 else NEUTRAL
        arrow = "▲" if row.change > 0 else "▼" if row.change < 0 else "="
        fig.add_trace(go.Scatter(
            x=[0, 1], y=[row.rank_a, row.rank_b], mode="lines+markers+text", showlegend=False,
            line={"color": colour, "width": 3 if row.change else 1.5}, marker={"size": 9, "color": colour},
            text=[f"{row.column} ", f" {arrow} {row.column}"], textposition=["middle left", "middle right"],
            hovertemplate=(f"{row.column}<br>{name_a}: rank {row.rank_a} ({row.share_a:.0%} of importance)"
                           f"<br>{name_b}: rank {row.rank_b} ({row.share_b:.0%})<extra></extra>")))
    n = int(max(shown.rank_a.max(), shown.rank_b.max())) if len(shown) else 1
    fig.update_layout(title={"text": "Rank of each column's importance"}, template=TEMPLATE,
                      height=int(min(900, max(320, 90 + 34 * n))), margin={"l": 20, "r": 20, "t": 60, "b": 40})
    fig.update_xaxes(range=[-0.9, 1.9], tickvals=[0, 1], ticktext=[name_a, name_b], showgrid=False, zeroline=False)
    fig.update_yaxes(autorange="reversed", title="rank (1 = most important)", dtick=1, zeroline=False)
    return fig


def side_by_side(comparison: RankComparison, name_a: str, name_b: str, top: int = 15) -> go.Figure:
    """Both runs' shares of importance as paired bars, in the second run's order."""
    table = comparison.table.head(top).iloc[::-1]
    fig = go.Figure([
        go.Bar(y=table.column.tolist(), x=table.share_a.tolist(), orientation="h", name=name_a,
               marker_color="#9ecae1", hovertemplate="%{y}: %{x:.1%}<extra>" + name_a + "</extra>"),
        go.Bar(y=table.column.tolist(), x=table.share_b.tolist(), orientation="h", name=name_b,
               marker_color=NEGATIVE, hovertemplate="%{y}: %{x:.1%}<extra>" + name_b + "</extra>"),
    ])
    fig.update_layout(barmode="group", title={"text": "Share of each run's importance", "y": 0.98}, template=TEMPLATE,
                      height=int(min(900, max(320, 100 + 40 * len(table)))), xaxis_tickformat=".0%",
                      xaxis_title="share of the run's total mean |SHAP|", margin={"l": 20, "r": 20, "t": 60, "b": 50},
                      legend={"orientation": "h", "x": 0, "y": 1.0, "yanchor": "bottom"})
    return fig




def boundary_figure(boundary: Boundary, height: int = 480) -> go.Figure:
    """The predicted class (or value) over the grid, paler where the model is less sure, the points on top."""
    b = boundary
    fig = go.Figure()
    if b.task == "regression":
        fig.add_trace(go.Heatmap(x=b.xs, y=b.ys, z=b.predicted, colorscale="Viridis", opacity=0.75,
                                 colorbar={"title": "predicted", "len": 0.8},
                                 hovertemplate="%{x:.3g}, %{y:.3g}: predicted %{z:.4g}<extra></extra>"))
        fig.add_trace(go.Scatter(x=b.points.x, y=b.points.y, mode="markers", name="training rows",
                                 marker={"color": b.points.label, "colorscale": "Viridis", "size": 7,
                                         "line": {"color": "white", "width": 0.8}, "showscale": False},
                                 hovertemplate="row %{customdata}: %{marker.color:.4g}<extra></extra>",
                                 customdata=b.points.row))
    else:
        k = max(len(b.classes), 1)
        colours = [PALETTE[i % len(PALETTE)] for i in range(k)]
        # one colour band per class index, so the grid's colour is the class the model predicts there
        scale = []
        for i, colour in enumerate(colours):
            scale += [[i / k, colour], [(i + 1) / k, colour]]
        names = np.asarray(b.classes, dtype=object)[b.predicted.astype(int)] if b.classes else b.predicted
        fig.add_trace(go.Heatmap(x=b.xs, y=b.ys, z=b.predicted, zmin=-0.5, zmax=k - 0.5, colorscale=scale,
                                 opacity=0.35, showscale=False, customdata=np.dstack([names, b.confidence]),
                                 hovertemplate="%{x:.3g}, %{y:.3g}: predicts %{customdata[0]} "
                                               "(%{customdata[1]:.0%})<extra></extra>"))
        # paler where the model is less sure: a white veil, thickest at the lowest possible confidence (1/K)
        fig.add_trace(go.Heatmap(x=b.xs, y=b.ys, z=b.confidence, zmin=1.0 / k, zmax=1.0, showscale=False,
                                 hoverinfo="skip", colorscale=[[0.0, "rgba(255,255,255,0.75)"],
                                                               [1.0, "rgba(255,255,255,0)"]]))
        fig.add_trace(go.Contour(x=b.xs, y=b.ys, z=b.confidence, showscale=False, hoverinfo="skip", showlegend=False,
                                 contours={"coloring": "none", "start": 0.5, "end": 0.9, "size": 0.2},
                                 line={"color": "rgba(60,60,60,0.35)", "width": 1}))
        for i, label in enumerate(b.classes):
            part = b.points[b.points.label == label]
            fig.add_trace(go.Scatter(x=part.x, y=part.y, mode="markers", name=str(label),
                                     marker={"color": colours[i], "size": 7, "line": {"color": "white", "width": 0.8}},
                                     customdata=part.row, hovertemplate=f"row %{{customdata}}: {label}<extra></extra>"))
    fig.update_layout(title={"text": "Decision boundary" if b.task != "regression" else "Predicted value"},
                      template=TEMPLATE, height=height, xaxis_title=b.x_name, yaxis_title=b.y_name,
                      margin={"l": 20, "r": 20, "t": 60, "b": 50}, legend={"orientation": "h", "y": -0.18})
    fig.update_xaxes(range=[float(b.xs[0]), float(b.xs[-1])], showgrid=False)
    fig.update_yaxes(range=[float(b.ys[0]), float(b.ys[-1])], showgrid=False)
    return fig


BOUNDARY_CAPTION = ("The background's colour is the class the model predicts at each point, paler where it is "
                    "less sure (thin lines: 50%, 70% and 90% sure); dots are training rows in "
                    "their true class, so dots on a background of another colour are rows the model gets wrong.")


__all__ = ["CAPTIONS", "BOUNDARY_CAPTION", "importance_over_time", "rank_slope", "side_by_side", "boundary_figure"]
