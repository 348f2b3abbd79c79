"""The Runs page's comparison figures, drawn from what core.runs.compare computes.

No Streamlit here; pages/runs.py puts them on the page.
"""
from __future__ import annotations

from typing import Any, Sequence

import pandas as pd
import plotly.graph_objects as go
from plotly.colors import qualitative

from core.runs.compare import metrics_long, run_labels, score_metrics
from core.runs.store import RunRecord
from core.evaluation.plots import legend_below
from core.vocab import METRIC_DIRECTION, UNIT_INTERVAL_METRICS, metric_label

COLORS = qualitative.Plotly  # the same run order gives the same colour as curves_figure
BEST_IS_BLUE = [[0.0, "#ef553b"], [0.5, "#ab63fa"], [1.0, "#1f3fbf"]]  # both ends readable on white
# core.runs.compare.numeric_hyperparams' keys -> axis label. Its learning rate is log10.
HYPERPARAM_LABELS = {
    "lr": "learning rate (log scale)", "weight_decay": "weight decay", "l1": "L1", "momentum": "momentum",
    "batch_size": "batch size", "epochs": "epochs", "patience": "patience", "seed": "seed",
    "dropout": "dropout", "hidden_units": "hidden units", "depth": "hidden layers",
    "val_fraction": "val fraction", "test_fraction": "test fraction", "grad_clip": "grad clip",
    "channels": "conv filters", "conv_layers": "conv layers", "hidden": "dense size",
}


def metrics_bar_figure(runs: Sequence[RunRecord], split: str = "test") -> go.Figure:
    """Grouped bars: one group per score metric (higher is better), one bar per run."""
    long = metrics_long(runs, split)
    fig = go.Figure()
    for i, (run_id, label) in enumerate(run_labels(runs).items()):
        part = long[long["run_id"] == run_id].set_index("metric")
        part = part.reindex(score_metrics(part.index))
        fig.add_trace(go.Bar(
            x=[metric_label(m) for m in part.index], y=part["value"].tolist(), name=label,
            marker_color=COLORS[i % len(COLORS)],
            hovertemplate=f"{label}<br>%{{x}}: %{{y:.4f}}<extra></extra>",
        ))
    fig.update_layout(
        barmode="group", title={"text": f"{split.capitalize()} scores (higher is better)"},
        xaxis_title="Metric", yaxis_title="Score", template="plotly_white", height=380,
        margin={"l": 60, "r": 20, "t": 50, "b": 50},
    )
    return legend_below(fig, list(run_labels(runs).values()), width=1100)  # full page width


def parcoords_figure(frame: pd.DataFrame, metric: str) -> go.Figure:
    """One line per row of core.runs.compare.parcoords_frame through its settings, ending at `metric`."""
    dims = []
    for column in frame.columns:
        values = frame[column].astype(float)
        label = metric_label(column) if column == metric else HYPERPARAM_LABELS.get(column, column.replace("_", " "))
        dim: dict[str, Any] = {"label": label, "values": values.tolist()}
        if column == "lr":  # show the real learning rates on the log axis
            ticks = sorted(set(values.round(6)))
            dim["tickvals"], dim["ticktext"] = ticks, [f"{10 ** t:.2g}" for t in ticks]
        if column == metric and metric in UNIT_INTERVAL_METRICS:  # an accuracy axis stays within [0, 1]
            lo, hi = float(values.min()), float(values.max())
            pad = 0.1 * (hi - lo) or 0.01
            dim["range"] = [max(0.0, lo - pad), min(1.0, hi + pad)]
            dim["tickformat"] = ".3f"
        dims.append(dim)
    direction = METRIC_DIRECTION.get(metric, "max")
    scores = frame[metric].astype(float).tolist() if metric in frame else []
    # the last axis already reads the metric: the line colour repeats it without a colour bar
    fig = go.Figure(go.Parcoords(
        line={"color": scores, "colorscale": BEST_IS_BLUE, "reversescale": direction == "min", "showscale": False},
        dimensions=dims, labelangle=0, labelside="top",
    ))
    fig.update_layout(template="plotly_white", height=420, margin={"l": 80, "r": 80, "t": 110, "b": 30},
                      title={"text": f"Settings against test {metric}", "y": 0.97})
    return fig


__all__ = ["COLORS", "HYPERPARAM_LABELS", "metrics_bar_figure", "parcoords_figure"]
