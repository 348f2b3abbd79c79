"""The error gallery: the test rows behind one confusion-matrix cell or a few residual points.

A click on the Runs page's confusion matrix names a cell (true class, predicted class); a click or a
box on its residual plot names rows. These functions turn a click into row numbers (those of
predictions.parquet's `row`, the run's split) and choose which output to explain for each row: the
class it was predicted as, so the explanation says why the model went where it went.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from core.data.images.profile import as_picture
from core.evaluation.curves import MAX_SCATTER_POINTS
from core.explain.context import RunContext
from core.explain.results import ShapExplanation
from core.explain.rows import wrongness

SHOWN = 8  # rows explained and drawn at once: each gets a figure of its own


@dataclass(frozen=True)
class Pick:
    """What a click chose: a confusion cell or residual points, and the test rows behind it."""

    rows: list[int]  # most wrong first
    true: str | None = None  # a cell: its true and predicted class
    predicted: str | None = None

    @property
    def is_cell(self) -> bool:
        return self.true is not None

    def title(self, total: int | None = None) -> str:
        n = len(self.rows)
        what = "test row" if n == 1 else "test rows"
        if not self.is_cell:
            return f"{n} {what} picked on the residual plot"
        verdict = "right" if self.true == self.predicted else "wrong"
        return f"True {self.true}, predicted {self.predicted}: {n} {what} ({verdict})"


def cell_rows(pred: pd.DataFrame, true: str, predicted: str, split: str = "test") -> list[int]:
    """Rows of `split` whose true class is `true` and predicted class `predicted`, most wrong first."""
    part = pred[pred["split"] == split] if split else pred
    hit = part[(part["y_true"].astype(str) == str(true)) & (part["y_pred"].astype(str) == str(predicted))]
    order = wrongness(hit).sort_values(ascending=False, kind="stable").index if len(hit) else hit.index
    return [int(r) for r in hit.loc[order, "row"]]


def residual_points(pred: pd.DataFrame, split: str = "test", max_points: int = MAX_SCATTER_POINTS) -> dict[str, list]:
    """core.evaluation.curves.residuals' data with each point's row number (`rows`), so a click names rows."""
    part = pred[pred["split"] == split] if split else pred
    if len(part) > max_points:  # evenly thinned, as the evaluation's own residual plot is
        part = part.iloc[np.linspace(0, len(part) - 1, max_points).round().astype(int)]
    y_true = part["y_true"].to_numpy(dtype=np.float64)
    y_pred = part["y_pred"].to_numpy(dtype=np.float64)
    return {"pred": y_pred.tolist(), "residual": (y_true - y_pred).tolist(), "rows": part["row"].astype(int).tolist()}


def pick_from_selection(selection: Mapping[str, Any] | None, pred: pd.DataFrame) -> Pick | None:
    """The Pick a plotly selection (st.plotly_chart's on_select state) names, or None for no selection.

    Confusion cells carry customdata [true, predicted]; residual points carry their row number."""
    points = list(((selection or {}).get("selection") or {}).get("points") or [])
    data = [p.get("customdata") for p in points if p.get("customdata") is not None]
    if not data:
        return None
    first = data[0]
    if isinstance(first, (list, tuple)) and len(first) == 2 and all(isinstance(v, str) for v in first):
        true, predicted = first
        return Pick(cell_rows(pred, true, predicted), true=true, predicted=predicted)
    rows: list[int] = []
    for value in data:
        value = value[0] if isinstance(value, (list, tuple)) else value
        try:
            rows.append(int(value))
        except (TypeError, ValueError):
            continue
    known = pred.set_index("row")
    rows = [r for r in dict.fromkeys(rows) if r in known.index]
    errors = (known.loc[rows, "y_true"].astype(float) - known.loc[rows, "y_pred"].astype(float)).abs()
    return Pick([int(r) for r in errors.sort_values(ascending=False, kind="stable").index])


def explained_output(exp: ShapExplanation, position: int) -> int:
    """The output to explain for one row: the class it was predicted as (a binary logit has one output)."""
    if len(exp.output_labels) <= 1:
        return 0
    return int(np.argmax(exp.outputs[position]))


def shown_rows(pick: Pick, limit: int = SHOWN) -> list[int]:
    return pick.rows[:limit]


def row_facts(pred: pd.DataFrame, rows: Sequence[int]) -> pd.DataFrame:
    """Per row: true value, prediction, and the probability given to each (classification) or the error."""
    part = pred.set_index("row").loc[list(rows)]
    proba = [c for c in part.columns if c.startswith("proba_")]
    out = pd.DataFrame({"true": part["y_true"], "predicted": part["y_pred"]}, index=part.index)
    if proba:
        labels = [c[len("proba_"):] for c in proba]
        values = part[proba].to_numpy(dtype=np.float64)
        out["p(predicted)"] = [values[i, labels.index(str(p))] if str(p) in labels else np.nan
                               for i, p in enumerate(part["y_pred"])]
        out["p(true)"] = [values[i, labels.index(str(t))] if str(t) in labels else np.nan
                          for i, t in enumerate(part["y_true"])]
    else:
        out["error"] = part["y_true"].astype(float) - part["y_pred"].astype(float)
    out.index.name = "row"
    return out


def thumbnail(ctx: RunContext, row: int) -> np.ndarray | None:
    """The row as a picture, (H, W) grey or (H, W, 3) uint8: an image run's image, or a pixel table's pixels
    (digits) as dark ink on white; None for other data."""
    if ctx.images is not None:
        return as_picture(ctx.images[int(row)])
    if not ctx.image_shape:
        return None
    shape = tuple(int(v) for v in ctx.image_shape)
    pixels = ctx.features([int(row)]).to_numpy(dtype=np.float64).reshape(-1, *shape[-2:]).mean(axis=0)
    top = float(np.nanmax(pixels)) or 1.0
    return (255 - np.clip(pixels / top, 0, 1) * 255).astype(np.uint8)  # ink dark, as on paper


__all__ = ["thumbnail", "Pick", "SHOWN", "cell_rows", "residual_points", "pick_from_selection", "explained_output",
           "shown_rows", "row_facts"]
