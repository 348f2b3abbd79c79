"""Plotly figures of explanations, drawn from plain numbers and names.

Every figure names its output space (logit, probability, value) in an axis
title, and CAPTIONS holds the one plain sentence the page prints under it.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

HEIGHT = 420
TEMPLATE = "plotly_white"
POSITIVE, NEGATIVE, NEUTRAL = "#d62728", "#1f77b4", "#9e9e9e"
Numbers = Sequence[float] | np.ndarray  # a list or an array of numbers
_LOW_HIGH = [[0.0, "#1f77b4"], [0.5, "#b39ddb"], [1.0, "#d62728"]]  # blue = low feature value, red = high

CAPTIONS = {
    "importance": "Longer bars are columns that move the {space} more on average, whichever way; "
                  "this is the mean size of each column's SHAP value over the explained rows.",
    "beeswarm": "Each dot is one row: right of zero the column pushed the {space} up, left pushed it down; "
                "red dots are rows with a high value in that column, blue a low one, grey a category.",
    "dependence": "How much {column} adds to the {space} (up) or takes away (down) at each of its values; "
                  "spread at one value comes from the other columns.",
    "waterfall": "Start at the average {space} over the reference rows (bottom); each bar is what one column "
                 "of this row adds or takes away, ending at this row's output (top).",
    "lime": "The same row explained twice: SHAP on the left, LIME's local straight-line fit on the right, "
            "both in {space}; bars that agree in size and direction make the explanation more trustworthy.",
    "pdp": "The thick line is the average {space} as {column} sweeps its range with everything else kept; "
           "thin lines are single rows (ICE), and lines that cross mean {column} acts differently per row.",
    "image": "Red pixels pushed the {space} up, blue pixels pushed it down; white did little.",
}


def caption(view: str, space: str, column: str = "") -> str:
    return CAPTIONS[view].format(space=space, column=column or "the column")


def _layout(fig: go.Figure, title: str, x: str, y: str = "", height: int = HEIGHT, **extra: Any) -> go.Figure:
    fig.update_layout(title={"text": title}, xaxis_title=x, yaxis_title=y, template=TEMPLATE, height=height,
                      margin={"l": 20, "r": 20, "t": 60, "b": 50}, **extra)
    return fig


def _rows_height(n: int) -> int:
    return int(min(900, max(300, 110 + 26 * n)))


def importance_bar(columns: Sequence[str], importance: Numbers, space: str, top: int = 20) -> go.Figure:
    """Mean |SHAP| per column, largest at the top."""
    order = np.argsort(-np.asarray(importance, dtype=float), kind="stable")[:top][::-1]
    names = [str(columns[i]) for i in order]
    vals = [float(importance[i]) for i in order]
    fig = go.Figure(go.Bar(x=vals, y=names, orientation="h", marker_color=NEGATIVE,
                           hovertemplate="%{y}: %{x:.4g}<extra></extra>"))
    return _layout(fig, "Global importance (mean |SHAP|)", f"mean |SHAP value| ({space})",
                   height=_rows_height(len(names)))


def beeswarm(columns: Sequence[str], values: np.ndarray, colour: np.ndarray, hover: Sequence[Sequence[str]],
             space: str, top: int = 15, seed: int = 0) -> go.Figure:
    """values (n, C) SHAP; colour (n, C) the feature value scaled to [0, 1], NaN for categories."""
    values = np.asarray(values, dtype=float)
    order: list[int] = (np.argsort(-np.abs(values).mean(axis=0), kind="stable")[:top][::-1].tolist()
                        if values.size else [])
    jitter = np.random.default_rng(seed)
    xs: list[np.ndarray] = []
    ys: list[np.ndarray] = []
    cs: list[np.ndarray] = []
    texts: list[str] = []
    for pos, j in enumerate(order):
        col = values[:, j]
        # spread dots vertically where they crowd, like a beeswarm: by rank within the column
        spread = (np.argsort(np.argsort(col)) % 7 - 3) / 10 if len(col) else col
        xs.append(col)
        ys.append(pos + spread + jitter.uniform(-0.04, 0.04, len(col)))
        cs.append(np.asarray(colour, dtype=float)[:, j])
        texts.extend(f"{columns[j]} = {hover[i][j]}<br>SHAP {col[i]:+.4g}" for i in range(len(col)))
    x, y, c = (np.concatenate(a) if a else np.zeros(0) for a in (xs, ys, cs))
    known = ~np.isnan(c)
    text = np.array(texts, dtype=object)
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=x[~known], y=y[~known], mode="markers", name="category", text=text[~known],
                             marker={"color": NEUTRAL, "size": 6, "opacity": 0.7},
                             hovertemplate="%{text}<extra></extra>", showlegend=False))
    fig.add_trace(go.Scatter(
        x=x[known], y=y[known], mode="markers", text=text[known], showlegend=False,
        marker={"color": c[known], "colorscale": _LOW_HIGH, "cmin": 0, "cmax": 1, "size": 6, "opacity": 0.8,
                "colorbar": {"title": {"text": "feature value"}, "tickvals": [0, 1], "ticktext": ["low", "high"],
                             "len": 0.6}},
        hovertemplate="%{text}<extra></extra>"))
    fig.add_vline(x=0, line={"color": "#777777", "width": 1})
    fig.update_yaxes(tickvals=list(range(len(order))), ticktext=[str(columns[j]) for j in order],
                     range=[-0.7, max(len(order) - 0.3, 0.7)])
    return _layout(fig, "SHAP values of every explained row", f"SHAP value ({space})",
                   height=_rows_height(len(order)))


def dependence(x: Sequence[Any], shap: Numbers, column: str, space: str,
               colour: Numbers | None = None, colour_name: str = "") -> go.Figure:
    xs = list(x)
    categorical = any(isinstance(v, str) for v in xs)
    marker: dict[str, Any] = {"size": 7, "opacity": 0.8, "color": NEGATIVE}
    if colour is not None and colour_name:
        marker.update(color=list(colour), colorscale=_LOW_HIGH, colorbar={"title": {"text": colour_name}})
    fig = go.Figure(go.Scatter(x=[str(v) for v in xs] if categorical else xs, y=list(shap), mode="markers",
                               marker=marker, hovertemplate=f"{column} = %{{x}}<br>SHAP %{{y:+.4g}}<extra></extra>"))
    fig.add_hline(y=0, line={"color": "#777777", "width": 1})
    if categorical:
        fig.update_xaxes(type="category")
    return _layout(fig, f"Dependence on {column}", column, f"SHAP value of {column} ({space})")


def waterfall(base: float, contributions: Numbers, labels: Sequence[str], space: str,
              top: int = 10) -> go.Figure:
    """One row: from the base value through each column's contribution to the row's output."""
    contrib = np.asarray(contributions, dtype=float)
    order = np.argsort(-np.abs(contrib), kind="stable")
    shown, rest = order[:top], order[top:]
    steps = [(str(labels[i]), float(contrib[i])) for i in shown][::-1]  # largest nearest the output (top)
    if len(rest):
        steps.insert(0, (f"{len(rest)} other columns", float(contrib[rest].sum())))
    output = float(base + contrib.sum())
    # Floating bars, each starting where the previous one ended (a waterfall drawn by hand: plotly's
    # own draws its total from zero, which squashes rows whose output is far from zero).
    deltas = np.array([s[1] for s in steps])
    starts = float(base) + np.concatenate([[0.0], np.cumsum(deltas)[:-1]])
    ends = starts + deltas
    fig = go.Figure(go.Bar(
        orientation="h", y=[s[0] for s in steps], x=deltas, base=starts,
        marker_color=[POSITIVE if d > 0 else NEGATIVE for d in deltas],
        text=[f"{d:+.3g}" for d in deltas], textposition="outside", cliponaxis=False,
        customdata=np.column_stack([starts, ends]) if len(steps) else None,
        hovertemplate="%{y}: %{x:+.4g}<br>%{customdata[0]:.4g} → %{customdata[1]:.4g}<extra></extra>"))
    lo, hi = min(float(base), output, *ends), max(float(base), output, *ends)
    pad = 0.25 * (hi - lo or abs(hi) or 1.0)
    fig.update_xaxes(range=[lo - pad, hi + pad])
    # one label above the bars, one below: they never collide, however close the two lines are
    fig.add_vline(x=float(base), line={"color": "#777777", "dash": "dot", "width": 1},
                  annotation_text=f"average {base:.4g}", annotation_position="bottom")
    fig.add_vline(x=output, line={"color": "#222222", "width": 1.5}, annotation_text=f"this row {output:.4g}",
                  annotation_position="top")
    return _layout(fig, "Why this row got its output (SHAP waterfall)", space, height=_rows_height(len(steps) + 1))


def lime_vs_shap(columns: Sequence[str], shap: Numbers, lime: Numbers, space: str,
                 agreement: float | None, shared: int, top_k: int, rules: Sequence[str] | None = None,
                 top: int = 10) -> go.Figure:
    s, l_ = np.asarray(shap, dtype=float), np.asarray(lime, dtype=float)
    strength = np.abs(s) / (np.abs(s).max() or 1) + np.abs(l_) / (np.abs(l_).max() or 1)
    order = np.argsort(-strength, kind="stable")[:top][::-1]
    names = [str(columns[i]) for i in order]
    fig = make_subplots(rows=1, cols=2, shared_yaxes=True, horizontal_spacing=0.04,
                        subplot_titles=("SHAP", "LIME"))
    for col, vals, hover in ((1, s, None), (2, l_, rules)):
        picked = [float(vals[i]) for i in order]
        fig.add_trace(go.Bar(
            x=picked, y=names, orientation="h", showlegend=False,
            marker_color=[POSITIVE if v > 0 else NEGATIVE for v in picked],
            text=[str(hover[i]) for i in order] if hover is not None else None, textposition="none",
            hovertemplate="%{y}: %{x:+.4g}" + ("<br>%{text}" if hover is not None else "") + "<extra></extra>"),
            row=1, col=col)
        fig.add_vline(x=0, line={"color": "#777777", "width": 1}, row=1, col=col)
    agree = "n/a" if agreement is None else f"{agreement:+.2f}"
    _layout(fig, f"SHAP beside LIME: rank agreement {agree}, {shared} of the top {top_k} shared", "",
            height=_rows_height(len(names)) + 20)
    # the output space is said once, under the title: two long axis titles side by side ran into each other
    fig.update_layout(title={"subtitle": {"text": f"Both in {space}"}}, margin={"t": 80})
    fig.update_xaxes(title_text="SHAP value", row=1, col=1)
    fig.update_xaxes(title_text="LIME weight", row=1, col=2)
    return fig


def pdp_ice(grid: Sequence[Any], ice: np.ndarray, pdp: Numbers, column: str, space: str,
            categorical: bool, max_lines: int = 50) -> go.Figure:
    xs = [str(g) for g in grid] if categorical else [float(g) for g in grid]
    mode = "lines+markers" if categorical else "lines"
    fig = go.Figure()
    for i, curve in enumerate(np.asarray(ice, dtype=float)[:max_lines]):
        fig.add_trace(go.Scatter(x=xs, y=curve, mode=mode, line={"color": "rgba(31,119,180,0.18)", "width": 1},
                                 marker={"size": 3}, showlegend=i == 0, name="one row (ICE)", hoverinfo="skip"))
    fig.add_trace(go.Scatter(x=xs, y=list(pdp), mode="lines+markers", name="average (PDP)",
                             line={"color": POSITIVE, "width": 3},
                             hovertemplate=f"{column} = %{{x}}<br>average %{{y:.4g}}<extra></extra>"))
    if categorical:
        fig.update_xaxes(type="category")
    return _layout(fig, f"Partial dependence on {column}", column, space,
                   legend={"orientation": "h", "y": -0.2})


def image_maps(image: np.ndarray, maps: dict[str, np.ndarray], space: str, photo: bool = False) -> go.Figure:
    """The image beside attribution maps of the same shape (H, W), each on a symmetric red-blue scale.

    photo: `image` is an (H, W, 3) uint8 picture, drawn as it looks; otherwise (H, W) ink values.
    Every panel keeps the image's aspect (one pixel is square in each), so the maps line up with it."""
    titles = ["image", *maps]
    fig = make_subplots(rows=1, cols=len(titles), subplot_titles=titles, horizontal_spacing=0.03)
    if photo:
        fig.add_trace(go.Image(z=np.asarray(image, dtype=np.uint8), hovertemplate="row %{y}, col %{x}<extra></extra>"),
                      row=1, col=1)
    else:
        fig.add_trace(go.Heatmap(z=np.asarray(image, dtype=float), colorscale="Greys", showscale=False,
                                 hovertemplate="row %{y}, col %{x}: %{z}<extra></extra>"), row=1, col=1)
    for i, values in enumerate(maps.values(), start=2):
        z = np.asarray(values, dtype=float)
        bound = float(np.abs(z).max()) or 1.0
        fig.add_trace(go.Heatmap(z=z, colorscale="RdBu", reversescale=True, zmin=-bound, zmax=bound,
                                 showscale=i == len(titles),
                                 hovertemplate="row %{y}, col %{x}: %{z:+.3g}<extra></extra>"), row=1, col=i)
    fig.update_xaxes(showticklabels=False, showgrid=False, zeroline=False, constrain="domain")
    for col in range(1, len(titles) + 1):  # each panel square-pixelled on its own axes, so all line up
        fig.update_yaxes(autorange="reversed", showticklabels=False, showgrid=False, zeroline=False,
                         scaleanchor="x" if col == 1 else f"x{col}", scaleratio=1, constrain="domain", row=1, col=col)
    return _layout(fig, f"Pixel attributions ({space})", "", height=340)


__all__ = ["CAPTIONS", "caption", "importance_bar", "beeswarm", "dependence", "waterfall", "lime_vs_shap",
           "pdp_ice", "image_maps"]
