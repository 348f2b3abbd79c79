"""A per-column summary of a table: type, missing values, distinct values, spread, top values."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from core.data.columns import column_kind, numeric_values
from core.data.counts import DISCRETE_MAX, TOP_N, ColumnCounts, column_counts

__all__ = ["ColumnProfile", "DataProfile", "profile", "DISCRETE_MAX", "TOP_N"]


@dataclass
class ColumnProfile:
    name: str
    dtype: str
    kind: str  # numeric | categorical | boolean | datetime | text
    missing: int
    missing_frac: float
    unique: int
    mean: float | None = None
    std: float | None = None
    min: float | None = None
    max: float | None = None
    top: list[tuple[str, int]] = field(default_factory=list)  # most frequent values, with counts


@dataclass
class DataProfile:
    n_rows: int
    n_cols: int
    memory_bytes: int
    columns: list[ColumnProfile]

    def column(self, name: str) -> ColumnProfile:
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(name)

    def to_frame(self) -> pd.DataFrame:
        """One row per column, ready for a table widget."""
        rows = [{
            "column": c.name, "kind": c.kind, "dtype": c.dtype, "missing": c.missing,
            "missing %": round(100 * c.missing_frac, 1), "unique": c.unique,
            "mean": c.mean, "std": c.std, "min": c.min, "max": c.max,
            "top values": ", ".join(f"{value} ({count})" for value, count in c.top),
        } for c in self.columns]
        return pd.DataFrame(rows, columns=[
            "column", "kind", "dtype", "missing", "missing %", "unique",
            "mean", "std", "min", "max", "top values",
        ])


def profile(df: pd.DataFrame) -> DataProfile:
    """Summarise every column. Numbers skip NaN and +/-inf, so one bad cell cannot hide the rest."""
    n_rows = len(df)
    counts = column_counts(df)
    dtypes = list(df.dtypes)
    columns = [_numeric_column(str(name), dtypes[i], n_rows, counts[i]) if counts[i].numeric
               else _profile_column(df.iloc[:, i], n_rows, counts[i]) for i, name in enumerate(df.columns)]
    memory = int(df.memory_usage(deep=True, index=False).sum())
    return DataProfile(n_rows=n_rows, n_cols=df.shape[1], memory_bytes=memory, columns=columns)


def _numeric_column(name: str, dtype: object, n_rows: int, counts: ColumnCounts) -> ColumnProfile:
    # Built from the counts alone: fetching 10,000 columns one by one through pandas costs seconds.
    return ColumnProfile(
        name=name, dtype=str(dtype), kind="numeric", missing=counts.missing,
        missing_frac=counts.missing / n_rows if n_rows else 0.0, unique=counts.unique,
        top=list(counts.top or ()),  # a continuous column's "top values" are noise: not counted
        mean=counts.mean, std=counts.std, min=counts.min, max=counts.max,
    )


def _profile_column(s: pd.Series, n_rows: int, counts: ColumnCounts) -> ColumnProfile:
    kind = column_kind(s, counts.unique)
    prof = ColumnProfile(
        name=str(s.name), dtype=str(s.dtype), kind=kind, missing=counts.missing,
        missing_frac=counts.missing / n_rows if n_rows else 0.0, unique=counts.unique,
        top=list(counts.top or ()),
    )
    if kind == "boolean":
        values = numeric_values(s)
        values = values[~np.isnan(values)]
        if values.size:
            prof.mean = float(values.mean())
    return prof
