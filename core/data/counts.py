"""Per-column counts (missing, distinct, infinite, spread, top values), a block of columns at a time.

Profiles, checks and role inference all need them. Asked column by column through pandas they
cost about a millisecond each, so a 10,000-column file took minutes; a float64 block of
numeric columns answers for hundreds of them in a few numpy calls.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from pandas.api import types as ptypes

from core.data.columns import COUNTER_STEP_SHARE, looks_like_counter

BLOCK_VALUES = 4_000_000  # values per numeric block: 32 MB of float64 at a time
TOP_N = 5
DISCRETE_MAX = 20  # numeric columns with at most this many values get a top list


@dataclass(frozen=True)
class ColumnCounts:
    missing: int
    unique: int  # distinct present values (inf counts as a value, as in pandas)
    numeric: bool  # a number dtype (not bool): the fields below are filled
    infinite: int = 0
    mean: float | None = None  # over finite values
    std: float | None = None
    min: float | None = None
    max: float | None = None
    top: tuple[tuple[str, int], ...] | None = None  # most frequent values; None when not counted
    counter: bool = False  # a running number, 1, 2, 3, ... (core.data.columns.looks_like_counter)


def is_number_dtype(dtype: object) -> bool:
    """Numbers a float64 block can hold: not bool, not complex."""
    return (ptypes.is_numeric_dtype(dtype) and not ptypes.is_bool_dtype(dtype)
            and not ptypes.is_complex_dtype(dtype))


def column_counts(df: pd.DataFrame, *, top: bool = True) -> list[ColumnCounts]:
    """One ColumnCounts per column, in order (positional, so duplicate names are no problem).
    `top=False` skips the top values of numeric columns (checks and roles do not need them)."""
    out: list[ColumnCounts | None] = [None] * df.shape[1]
    dtypes = list(df.dtypes)
    numeric = [i for i, dtype in enumerate(dtypes) if is_number_dtype(dtype)]
    step = max(1, BLOCK_VALUES // max(len(df), 1))
    for start in range(0, len(numeric), step):
        block = numeric[start:start + step]
        integer = [ptypes.is_integer_dtype(dtypes[i]) for i in block]
        for i, counts in zip(block, _numeric_block(df, block, integer, top), strict=True):
            out[i] = counts
    for i in range(df.shape[1]):
        if out[i] is None:
            out[i] = _other_column(df.iloc[:, i])
    return [c for c in out if c is not None]


def _numeric_block(df: pd.DataFrame, columns: list[int], integer: list[bool], top: bool) -> list[ColumnCounts]:
    raw = df.iloc[:, columns].to_numpy(dtype="float64", na_value=np.nan)
    n = raw.shape[0]
    missing = np.isnan(raw).sum(axis=0)
    infinite = np.isinf(raw).sum(axis=0)
    ordered = np.sort(raw, axis=0)  # NaN sorts last
    present = ~np.isnan(ordered)
    if n:
        unique = present[0].astype(np.int64) + ((ordered[1:] != ordered[:-1]) & present[1:]).sum(axis=0)
    else:
        unique = np.zeros(raw.shape[1], dtype=np.int64)
    finite = np.where(np.isfinite(raw), raw, np.nan)
    count = np.isfinite(raw).sum(axis=0)
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns: their stats stay None
        # Scale by the largest magnitude first, so 1e308-sized values do not overflow the sums.
        scale = np.nanmax(np.abs(finite), axis=0)
        scale = np.where(np.isfinite(scale) & (scale > 0), scale, 1.0)
        scaled = finite / scale
        mean = np.nanmean(scaled, axis=0) * scale
        std = np.where(count > 1, np.nanstd(scaled, axis=0, ddof=1) * scale, 0.0)
        low, high = np.nanmin(finite, axis=0), np.nanmax(finite, axis=0)
        # the cheap half of looks_like_counter for the whole block; the few columns that pass get the rest
        steps = np.diff(raw, axis=0)
        counting = (steps == 1).sum(axis=0) >= COUNTER_STEP_SHARE * np.maximum(count - 1, 1)
    names = df.columns[columns]
    out = []
    for j in range(len(columns)):
        has = bool(count[j])
        values = None
        if top and unique[j] <= DISCRETE_MAX:
            values = _sorted_top(ordered[: n - int(missing[j]), j], integer[j])
        out.append(ColumnCounts(
            missing=int(missing[j]), unique=int(unique[j]), numeric=True, infinite=int(infinite[j]),
            mean=float(mean[j]) if has else None, std=float(std[j]) if has else None,
            min=float(low[j]) if has else None, max=float(high[j]) if has else None, top=values,
            counter=bool(counting[j]) and looks_like_counter(raw[:, j], names[j]),
        ))
    return out


def _sorted_top(values: np.ndarray, integer: bool) -> tuple[tuple[str, int], ...]:
    """Top values of an already sorted column without NaN; ties in ascending value order."""
    if not values.size:
        return ()
    starts = np.flatnonzero(np.concatenate(([True], values[1:] != values[:-1])))
    counts = np.diff(np.append(starts, values.size))
    order = np.argsort(-counts, kind="stable")[:TOP_N]
    labels = [str(int(v)) if integer and np.isfinite(v) else str(v) for v in values[starts[order]]]
    return tuple(zip(labels, (int(c) for c in counts[order]), strict=True))


def _other_column(s: pd.Series) -> ColumnCounts:
    try:
        counts = s.value_counts(dropna=True, sort=True)
    except TypeError:  # unhashable cells (lists from a nested column): count their text
        counts = s.dropna().astype(str).value_counts(sort=True)
    top = tuple((str(value), int(count)) for value, count in counts.head(TOP_N).items())
    return ColumnCounts(missing=int(s.isna().sum()), unique=len(counts), numeric=False, top=top)
