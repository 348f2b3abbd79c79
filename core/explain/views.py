"""From cached explanations to the figures and captions the page shows: the glue, kept out of the UI.

Each function returns (figure, caption) so no view is drawn without its sentence.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from core.explain import plots
from core.explain.results import LimeExplanation, PartialDependence, ShapExplanation

View = tuple[go.Figure, str]


def output_text(exp: ShapExplanation | LimeExplanation, output: int | None) -> str:
    if output is None:
        if len(exp.output_labels) == 1:
            return exp.output_texts[0]
        return f"{exp.space} (averaged over the {len(exp.output_labels)} classes)"
    return exp.output_texts[output]


def colour_matrix(data: pd.DataFrame, columns: list[str]) -> np.ndarray:
    """Each numeric column's values as ranks in [0, 1] among the rows (robust to outliers); NaN for categories."""
    out = np.full((len(data), len(columns)), np.nan)
    for j, col in enumerate(columns):
        series = data[col]
        if pd.api.types.is_numeric_dtype(series.dtype) and not pd.api.types.is_bool_dtype(series.dtype):
            ranks = series.rank(pct=True, method="average").to_numpy(dtype=float)
            known = ranks[~np.isnan(ranks)]
            if known.size:
                lo, hi = known.min(), known.max()
                out[:, j] = (ranks - lo) / (hi - lo) if hi > lo else np.where(np.isnan(ranks), np.nan, 0.5)
    return out


def _value_text(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def hover_matrix(data: pd.DataFrame, columns: list[str]) -> list[list[str]]:
    return [[_value_text(v) for v in row] for row in data[columns].itertuples(index=False, name=None)]


def importance_view(exp: ShapExplanation, output: int | None = None) -> View:
    space = output_text(exp, output)
    imp = exp.importances(output)
    return plots.importance_bar(list(imp), list(imp.values()), space), plots.caption("importance", space)


def beeswarm_view(exp: ShapExplanation, output: int) -> View:
    space = output_text(exp, output)
    fig = plots.beeswarm(exp.columns, exp.values[:, :, output], colour_matrix(exp.data, exp.columns),
                         hover_matrix(exp.data, exp.columns), space)
    return fig, plots.caption("beeswarm", space)


def dependence_view(exp: ShapExplanation, column: str, output: int, colour_by: str | None = None) -> View:
    space = output_text(exp, output)
    j = exp.columns.index(column)
    colour = None
    if colour_by and colour_by != column and colour_by in exp.columns:
        colour = colour_matrix(exp.data, exp.columns)[:, exp.columns.index(colour_by)]
        if np.isnan(colour).all():
            colour = None
    fig = plots.dependence(exp.data[column].tolist(), exp.values[:, j, output], column, space,
                           colour=None if colour is None else colour.tolist(),
                           colour_name=(colour_by or "") if colour is not None else "")
    return fig, plots.caption("dependence", space, column)


def waterfall_view(exp: ShapExplanation, position: int, output: int, top: int = 10) -> View:
    space = output_text(exp, output)
    row = exp.data.iloc[position]
    labels = [f"{col} = {_value_text(row[col])}" for col in exp.columns]
    fig = plots.waterfall(float(exp.base[output]), exp.values[position, :, output], labels, space, top)
    return fig, plots.caption("waterfall", space)


def lime_view(exp: LimeExplanation, position: int) -> View:
    k = exp.explained_output[position]
    space = exp.output_texts[k]
    fig = plots.lime_vs_shap(exp.columns, exp.shap[position], exp.weights[position], space,
                             exp.agreement[position], exp.shared_top[position], exp.top_k, exp.rules[position])
    return fig, plots.caption("lime", space)


def pdp_view(result: PartialDependence) -> View:
    fig = plots.pdp_ice(result.grid, result.ice, result.pdp, result.column, result.output_text, result.categorical)
    return fig, plots.caption("pdp", result.output_text, result.column)


def image_view(exp: ShapExplanation, position: int, output: int, lime: LimeExplanation | None = None) -> View | None:
    """Image data: the row's pixels beside its SHAP map (and LIME's, when LIME explained this row and output)."""
    if not exp.image_shape:
        return None
    shape = exp.image_shape[-2:]
    channels = int(np.prod(exp.image_shape[:-2])) if len(exp.image_shape) > 2 else 1
    pixels = exp.data.iloc[position][exp.columns].to_numpy(dtype=float).reshape(channels, *shape)
    maps = {"SHAP": exp.values[position, :, output].reshape(channels, *shape).sum(axis=0)}
    if lime is not None:
        row = exp.rows[position]
        if row in lime.rows:
            i = lime.rows.index(row)
            if lime.explained_output[i] == output:
                maps["LIME"] = lime.weights[i].reshape(channels, *shape).mean(axis=0)
    space = output_text(exp, output)
    if exp.data_kind == "image":  # the user's own picture, in its colours, at the model's size
        picture = np.clip(pixels, 0, 255).astype(np.uint8)
        picture = np.repeat(picture, 3, axis=0) if channels == 1 else picture[:3]
        return plots.image_maps(picture.transpose(1, 2, 0), maps, space, photo=True), plots.caption("image", space)
    return plots.image_maps(pixels.mean(axis=0), maps, space), plots.caption("image", space)


__all__ = ["View", "output_text", "colour_matrix", "hover_matrix", "importance_view", "beeswarm_view",
           "dependence_view", "waterfall_view", "lime_view", "pdp_view", "image_view"]
