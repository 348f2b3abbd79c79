"""Explanations as plain data: numpy arrays, a table of the rows' values, and JSON-able fields.

Each result splits into (arrays, table, meta) for the cache and is rebuilt from
them, so a cached explanation needs neither the model nor the data.
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, Mapping

import numpy as np
import pandas as pd


def group_columns(values: np.ndarray, groups: Mapping[str, list[int]]) -> np.ndarray:
    """(n, d, K) per encoded input -> (n, C, K) per original column.

    A categorical column's one-hot inputs add up to one value; a scaled numeric
    column has one input, so its value passes through. Sums keep additivity.
    """
    return np.stack([values[:, idx, :].sum(axis=1) for idx in groups.values()], axis=1)


@dataclass
class ShapExplanation:
    run_id: str
    key: str
    explainer: str
    space: str  # logit | probability | value
    output_labels: list[str]  # K
    output_texts: list[str]  # K plain-words names of the outputs, as the plots state them
    columns: list[str]  # C original columns
    feature_names: list[str]  # d encoded inputs
    rows: list[int]  # n
    values: np.ndarray  # (n, C, K) by original column
    encoded: np.ndarray  # (n, d, K) by encoded input
    base: np.ndarray  # (K,)
    outputs: np.ndarray  # (n, K)
    data: pd.DataFrame  # (n, C) the rows' original values, index = row
    seconds: float
    max_additivity_error: float
    params: dict[str, Any]
    background_rows: list[int]
    references: int
    task: str
    image_shape: list[int] | None = None
    warnings: list[str] = field(default_factory=list)
    method: str = "shap"
    data_kind: str = "table"  # "image": data holds raw pixels 0-255, drawn as the picture they are

    def importances(self, output: int | None = None) -> dict[str, float]:
        """Mean |SHAP| per original column (over rows, and over outputs unless one is given), largest first."""
        vals = np.abs(self.values if output is None else self.values[:, :, output : output + 1])
        mean = vals.mean(axis=(0, 2)) if len(self.rows) else np.zeros(len(self.columns))
        order = np.argsort(-mean, kind="stable")
        return {self.columns[i]: float(mean[i]) for i in order}

    def to_parts(self) -> tuple[dict[str, np.ndarray], pd.DataFrame, dict[str, Any]]:
        arrays = {"values": self.values, "encoded": self.encoded, "base": self.base, "outputs": self.outputs}
        return arrays, self.data, _meta(self, skip=("values", "encoded", "base", "outputs", "data"))

    @classmethod
    def from_parts(cls, arrays: Mapping[str, np.ndarray], table: pd.DataFrame,
                   meta: Mapping[str, Any]) -> "ShapExplanation":
        kwargs: dict[str, Any] = {**_known(cls, meta), "data": table}
        kwargs.update({k: arrays[k] for k in ("values", "encoded", "base", "outputs")})
        return cls(**kwargs)


@dataclass
class LimeExplanation:
    run_id: str
    key: str
    explainer: str  # lime_tabular | lime_image
    space: str
    output_labels: list[str]
    output_texts: list[str]
    columns: list[str]  # C original columns (pixels for an image)
    rows: list[int]  # n
    explained_output: list[int]  # n: which output each row's explanation is for
    weights: np.ndarray  # (n, C) LIME weight per original column
    intercept: np.ndarray  # (n,)
    score: np.ndarray  # (n,) R^2 of LIME's local linear model
    prediction: np.ndarray  # (n,) the model's output being explained
    rules: list[list[str]]  # n x C: LIME's reading of each column for that row ("total_bill > 24.1")
    shap: np.ndarray  # (n, C) SHAP for the same rows and output, by original column
    agreement: list[float | None]  # n: rank correlation of the top features (SHAP vs LIME)
    shared_top: list[int]  # n: features in both top-k lists
    top_k: int
    data: pd.DataFrame
    seconds: float
    params: dict[str, Any]
    task: str
    image_shape: list[int] | None = None
    warnings: list[str] = field(default_factory=list)
    method: str = "lime"
    data_kind: str = "table"

    def to_parts(self) -> tuple[dict[str, np.ndarray], pd.DataFrame, dict[str, Any]]:
        arrays = {k: getattr(self, k) for k in ("weights", "intercept", "score", "prediction", "shap")}
        return arrays, self.data, _meta(self, skip=(*arrays, "data"))

    @classmethod
    def from_parts(cls, arrays: Mapping[str, np.ndarray], table: pd.DataFrame,
                   meta: Mapping[str, Any]) -> "LimeExplanation":
        kwargs: dict[str, Any] = {**_known(cls, meta), "data": table}
        kwargs.update({k: arrays[k] for k in ("weights", "intercept", "score", "prediction", "shap")})
        return cls(**kwargs)


@dataclass
class PartialDependence:
    run_id: str
    key: str
    column: str
    categorical: bool
    grid: list[Any]  # G values of the column
    ice: np.ndarray  # (n, G) one curve per row
    pdp: np.ndarray  # (G,) their mean
    space: str  # probability | value
    output_label: str
    output_text: str
    rows: list[int]
    current: list[Any]  # n: each row's own value of the column
    seconds: float
    params: dict[str, Any]
    method: str = "pdp"

    def to_parts(self) -> tuple[dict[str, np.ndarray], pd.DataFrame, dict[str, Any]]:
        arrays = {"ice": self.ice, "pdp": self.pdp}
        return arrays, pd.DataFrame(), _meta(self, skip=("ice", "pdp"))

    @classmethod
    def from_parts(cls, arrays: Mapping[str, np.ndarray], table: pd.DataFrame,
                   meta: Mapping[str, Any]) -> "PartialDependence":
        kwargs: dict[str, Any] = {**_known(cls, meta), "ice": arrays["ice"], "pdp": arrays["pdp"]}
        return cls(**kwargs)


def _meta(result: Any, skip: tuple[str, ...]) -> dict[str, Any]:
    out = {}
    for f in fields(result):
        if f.name not in skip:
            out[f.name] = _plain(getattr(result, f.name))
    return out


def _known(cls: type, meta: Mapping[str, Any]) -> dict[str, Any]:
    names = {f.name for f in fields(cls)}
    return {k: v for k, v in meta.items() if k in names}


def _plain(value: Any) -> Any:
    """JSON-able: numpy scalars to Python numbers, tuples to lists, NaN to None."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and value != value:
        return None
    return value


__all__ = ["group_columns", "ShapExplanation", "LimeExplanation", "PartialDependence"]
