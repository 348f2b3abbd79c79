"""Partial dependence (PDP) and individual conditional expectation (ICE) for one original column.

Each row is copied once per grid value with the column set to that value, all
copies go through the run's preprocessor and model in one batch, and a row's
outputs across the grid are its ICE curve; their mean is the PDP. For a
classifier the curves show a class's probability, for a regressor the
predicted value in the target's units.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from core.data.columns import numeric_values
from core.errors import WorkbenchError
from core.explain.context import RunContext

GRID_POINTS = 20


def grid_for(ctx: RunContext, column: str, points: int = GRID_POINTS) -> tuple[list[object], bool]:
    """Values to sweep: training quantiles of a numeric column, or a categorical column's levels."""
    if column not in ctx.columns:
        raise WorkbenchError(f"'{column}' is not one of the model's columns ({', '.join(ctx.columns[:6])}...)")
    pre = ctx.trained.preprocessor
    if column in pre.categorical_:
        return list(pre.categorical_[column].levels), True
    values = numeric_values(ctx.frame.iloc[ctx.split.train][column])
    values = values[np.isfinite(values)]
    if values.size == 0:
        return [(pre.numeric_ or {})[column].median], False
    grid = np.unique(np.quantile(values, np.linspace(0.0, 1.0, points)))
    return [float(v) for v in grid], False


def ice_curves(ctx: RunContext, column: str, rows: list[int], output: int, space: str,
               points: int = GRID_POINTS) -> tuple[list[object], bool, np.ndarray]:
    """(grid, categorical, ice (n, G)) for one output in `space` (probability or value)."""
    grid, categorical = grid_for(ctx, column, points)
    base = ctx.frame.iloc[rows][ctx.columns].reset_index(drop=True)
    copies = pd.concat([base] * len(grid), ignore_index=True)
    swept = np.repeat(np.asarray(grid, dtype=object), len(base))
    copies[column] = swept if categorical else swept.astype(np.float64)
    out = ctx.predict_frame(copies, space)[:, output]
    return grid, categorical, out.reshape(len(grid), len(base)).T


__all__ = ["GRID_POINTS", "grid_for", "ice_curves"]
