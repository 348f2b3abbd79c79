"""A per-column summary of a table: type, missing values, distinct values, spread, top values."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from core.data.columns import column_kind, numeric_values

TOP_N = 5
DISCRETE_MAX = 20  # numeric columns with at most this many values get a top list


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
    columns = [_profile_column(df.iloc[:, i], n_rows) for i in range(df.shape[1])]
    memory = int(df.memory_usage(deep=True, index=False).sum())
    return DataProfile(n_rows=n_rows, n_cols=df.shape[1], memory_bytes=memory, columns=columns)


def _profile_column(s: pd.Series, n_rows: int) -> ColumnProfile:
    missing = int(s.isna().sum())
    numeric = column_kind(s, 0) == "numeric"
    # Counting (and sorting) every value of a continuous column is the slow part of a profile,
    # and its "top values" are noise anyway: count them only when they are few.
    unique = int(s.nunique()) if numeric else -1
    counts = _value_counts(s) if not numeric or unique <= DISCRETE_MAX else None
    unique = len(counts) if counts is not None else unique
    kind = column_kind(s, unique)
    prof = ColumnProfile(
        name=str(s.name), dtype=str(s.dtype), kind=kind, missing=missing,
        missing_frac=missing / n_rows if n_rows else 0.0, unique=unique,
    )
    if counts is not None:
        prof.top = [(str(value), int(count)) for value, count in counts.head(TOP_N).items()]
    if kind in ("numeric", "boolean"):
        values = numeric_values(s)
        values = values[~np.isnan(values)]
        if values.size:
            prof.mean = float(values.mean())
            if kind == "numeric":
                prof.std = float(values.std(ddof=1)) if values.size > 1 else 0.0
                prof.min, prof.max = float(values.min()), float(values.max())
    return prof


def _value_counts(s: pd.Series) -> pd.Series:
    try:
        return s.value_counts(dropna=True, sort=True)
    except TypeError:  # unhashable cells (lists from a nested Parquet column): count their text
        return s.dropna().astype(str).value_counts(sort=True)
