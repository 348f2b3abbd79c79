"""What a column holds: its kind, whether it looks like an identifier, labels as strings.

Profiling, checks and role inference share these rules so the profile, the warnings
and the default roles never disagree about a column.
"""
from __future__ import annotations

import re

import numpy as np
import pandas as pd
from pandas.api import types as ptypes

KINDS = ("numeric", "categorical", "boolean", "datetime", "text")
ID_MIN_ROWS = 20  # below this, "every value differs" happens by chance
TEXT_MIN_UNIQUE = 50  # fewer distinct strings than this is a category, however many rows
ID_NAME = re.compile(r"(^|[_\s.-])(id|uuid|guid)$|^(id|uuid|guid|index|row|row_?num(ber)?)([_\s.-]|$)", re.I)
# Words that name a running number ("Sample Number", "obs_no", "RowIdx"); with counting values, an ID
COUNTER_WORDS = frozenset({"id", "no", "nr", "num", "number", "index", "idx", "seq", "sequence", "row", "record",
                           "sample", "obs", "observation", "serial"})
COUNTER_STEP_SHARE = 0.9  # of consecutive rows, this share going up by exactly one: a running number


def column_kind(s: pd.Series, nunique: int | None = None) -> str:
    """One of KINDS. Strings with more distinct values than half the rows count as text."""
    dtype = s.dtype
    if ptypes.is_bool_dtype(dtype):
        return "boolean"
    if ptypes.is_datetime64_any_dtype(dtype) or ptypes.is_timedelta64_dtype(dtype):
        return "datetime"
    if ptypes.is_numeric_dtype(dtype):
        return "numeric"
    unique = s.nunique() if nunique is None else nunique
    if unique > max(TEXT_MIN_UNIQUE, 0.5 * s.count()):
        return "text"
    return "categorical"


def numeric_values(s: pd.Series) -> np.ndarray:
    """float64 values with text that is not a number, and +/-inf, as NaN."""
    if ptypes.is_bool_dtype(s.dtype):
        values = s.astype("float64").to_numpy(dtype="float64", na_value=np.nan)
    elif ptypes.is_numeric_dtype(s.dtype):
        values = s.to_numpy(dtype="float64", na_value=np.nan)
    else:
        values = pd.to_numeric(s, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    return np.where(np.isfinite(values), values, np.nan)


def is_integral(s: pd.Series) -> bool:
    """Integer dtype, or floats that are all whole numbers (ints read with a gap become float)."""
    if ptypes.is_bool_dtype(s.dtype) or not ptypes.is_numeric_dtype(s.dtype):
        return False
    if ptypes.is_integer_dtype(s.dtype):
        return True
    values = s.to_numpy(dtype="float64", na_value=np.nan)
    values = values[~np.isnan(values)]
    return bool(values.size) and bool(np.all(np.isfinite(values)) and np.all(values == np.round(values)))


def numeric_like(s: pd.Series, share: float = 0.95) -> bool:
    """Text whose values are nearly all numbers ("3.2", "?" now and then): better read as numeric."""
    if ptypes.is_numeric_dtype(s.dtype) or ptypes.is_bool_dtype(s.dtype) or column_kind(s) == "datetime":
        return False
    present = s.dropna()
    if present.empty:
        return False
    parsed = pd.to_numeric(present, errors="coerce")
    return bool(parsed.notna().mean() >= share)


def looks_like_id(s: pd.Series, nunique: int | None = None) -> bool:
    """A different value in every row: row numbers, codes, keys. Continuous measurements are not IDs."""
    present = int(s.count())
    unique = s.nunique() if nunique is None else nunique
    if present < ID_MIN_ROWS or unique != present:
        return False
    kind = column_kind(s, unique)
    if kind in ("boolean", "datetime"):
        return False
    if kind == "numeric":
        if not is_integral(s):
            return False  # unique floats are normal for measurements
        if ID_NAME.search(str(s.name)):
            return True
        values = s.dropna()
        return bool(values.max() - values.min() + 1 == present)  # consecutive: a row counter
    # Distinct strings are keys unless they read like sentences (free text is its own case).
    sample = s.dropna().astype(str).head(1000)
    return bool(sample.str.contains(r"\s", regex=True).mean() < 0.5)


def looks_like_counter(values: np.ndarray, name: object) -> bool:
    """Whole numbers that go up by one from row to row (1, 2, 3, ...), restarting now and then: a sample
    or row number (penguins' 'Sample Number' restarts in each study), not a measurement.

    A clock-like cycle that climbs to the same top every time (hour 0-23, month 1-12, the same years
    for each country) is a measurement, unless the column's name says it is a number ('Sample No')."""
    v = np.asarray(values, dtype="float64")
    v = v[np.isfinite(v)]
    if v.size < ID_MIN_ROWS or not np.all(v == np.round(v)):
        return False
    steps = np.diff(v)
    if float(np.mean(steps == 1)) < COUNTER_STEP_SHARE:
        return False
    if _name_words(name) & COUNTER_WORDS:
        return True
    tops = v[np.append(np.flatnonzero(steps != 1), v.size - 1)]  # the last value before each restart
    return len(np.unique(tops)) > 1


def _name_words(name: object) -> set[str]:
    """'Sample Number' -> {sample, number}; 'rowIdx' -> {row, idx}."""
    text = re.sub(r"([a-z])([A-Z])", r"\1 \2", str(name))
    return {w.lower() for w in re.split(r"[^0-9A-Za-z]+", text) if w}


def as_labels(s: pd.Series) -> pd.Series:
    """Values as label strings, missing kept as NaN. 1.0 and 1 both become "1" so a target read
    as float (because of a gap) matches the same labels read as int."""
    out = pd.Series(np.nan, index=s.index, dtype=object)
    present = s.notna().to_numpy()
    values = s[present]
    if ptypes.is_float_dtype(values.dtype):
        f = values.to_numpy(dtype="float64")
        whole = np.isfinite(f) & (f == np.round(f)) & (np.abs(f) < 2.0**53)
        text = np.where(whole, np.where(whole, f, 0).astype(np.int64).astype(str), f.astype(str))
    else:
        text = values.astype(str).to_numpy(dtype=object)
    out[present] = text
    return out


def shown(value: object, limit: int = 40) -> str:
    """A data value fit for a one-line message: no line breaks, cut to `limit` characters."""
    text = " ".join(str(value).split()) if any(ch in str(value) for ch in "\r\n\t\v\f") else str(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def sort_labels(labels: list[str] | set[str], numeric: bool) -> list[str]:
    """Numeric labels in numeric order ("2" before "10"); text labels alphabetically."""
    if numeric:
        try:
            return sorted(labels, key=lambda v: (float(v), v))
        except ValueError:
            pass
    return sorted(labels)
