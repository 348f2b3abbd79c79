"""Data checks in plain words: what looks wrong, and what to do about it.

An "error" means training cannot proceed; a "warning" is likely to hurt the model; "info"
is worth knowing. Messages are written for someone who is not a data scientist.
"""
from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Callable

import numpy as np
import pandas as pd
from pandas.api import types as ptypes

from core.data.columns import as_labels, column_kind, looks_like_id, shown
from core.data.counts import ColumnCounts, column_counts, is_number_dtype
from core.data.schema import infer_task
from core.data.text_checks import text_column_checks

LEVELS = ("error", "warning", "info")
MIN_ROWS = 10  # below this the split cannot give train, validation and test rows
FEW_ROWS = 50
MOSTLY_MISSING = 0.5
HIGH_CARDINALITY = 50
RARE_CLASS = 5
LEAK_CORRELATION = 0.99
LEAK_PURITY = 0.99  # share of rows whose class a feature's value gives away
LEAK_MIN_PER_CLASS = 10  # smaller classes separate by chance, so no leak verdicts on them
RARE_LISTED = 3  # more rare classes than this are reported in one line
UNIQUE_TARGET_MIN = 20  # from this many rows, a class per row means there is nothing to learn


@dataclass(frozen=True)
class Check:
    level: str  # error | warning | info
    code: str
    column: str | None
    message: str
    advice: str


LEFT_OUT = "It is left out of training (its role is ignore), so it cannot mislead the model."


def run_checks(df: pd.DataFrame, target: str | None = None, task: str | None = None, *,
               image_shape: tuple[int, ...] | None = None, roles: Mapping[str, str] | None = None) -> list[Check]:
    """Every check that fires, errors first. For images (image_shape set) pixels that are blank
    in every image are expected, so they raise no 'constant' warning.

    `roles` (each column's role as the run will use it): a column already ignored gets no advice to
    ignore it; its findings become info saying it is left out (left_out tells them apart)."""
    found = _all_checks(df, target, task, image_shape)
    if roles:
        found = [replace(c, level="info", advice=LEFT_OUT) if c.level != "error" and c.column is not None
                 and c.column != target and roles.get(str(c.column)) == "ignore" else c for c in found]
    return sorted(found, key=lambda c: LEVELS.index(c.level))


def left_out(check: Check) -> bool:
    """A finding about a column the run leaves out (run_checks with roles)."""
    return check.advice == LEFT_OUT


def _all_checks(df: pd.DataFrame, target: str | None, task: str | None,
                image_shape: tuple[int, ...] | None) -> list[Check]:
    found: list[Check] = []
    n = len(df)
    if n < MIN_ROWS:
        found.append(Check("error", "too_few_rows", None,
                           f"The data has only {n} rows; at least {MIN_ROWS} are needed to train, validate and test.",
                           "Add more rows: a few dozen per class (or per feature) is a sensible minimum."))
    elif n < FEW_ROWS:
        found.append(Check("warning", "too_few_rows", None,
                           f"The data has only {n} rows, so results will vary a lot from run to run.",
                           "Treat the scores as rough; more rows give more reliable models."))
    if target is not None and target not in df.columns:
        names = ", ".join(f"'{shown(c)}'" for c in list(df.columns)[:8])
        found.append(Check("error", "unknown_target", target, f"There is no column named '{shown(target)}' to predict.",
                           f"Choose the target among the columns: {names}."))
        target = None
    usable: list[str] = []  # features worth testing for leaks: not constant, not IDs
    unique: dict[str, int] = {}
    for i, counts in enumerate(column_counts(df, top=False)):
        col = df.columns[i]
        unique[col] = counts.unique
        checks = _column_checks(lambda i=i: df.iloc[:, i], col, n, counts, is_target=col == target)
        if image_shape and col != target:
            checks = [c for c in checks if c.code != "constant"]
        found.extend(checks)
        if col != target and counts.unique > 1 and not any(c.code in ("id_like", "constant", "counter")
                                                           for c in checks):
            usable.append(col)
    if target is not None:
        found.extend(_target_checks(df, target, task, usable, unique))
    try:
        duplicates = int(df.duplicated().sum()) if n else 0
    except TypeError:  # unhashable cells (nested Parquet columns): skip this informational check
        duplicates = 0
    if duplicates:
        found.append(Check("info", "duplicate_rows", None,
                           (f"{duplicates} rows are exact copies of other rows." if duplicates > 1 else "1 row is an exact copy of another row."),
                           "Copies can land in both the training and the test data and make scores look "
                           "better than they are. Remove them unless they are genuine repeats."))
    return found


def _column_checks(series: Callable[[], pd.Series], col: str, n: int, counts: ColumnCounts,
                   is_target: bool) -> list[Check]:
    """Checks on one column. `series()` fetches it: the counts settle most numeric columns, and
    fetching 10,000 columns one by one through pandas costs seconds."""
    name = shown(col)
    out: list[Check] = []
    unique = counts.unique
    if counts.counter and not is_target and unique != n - counts.missing:  # all different: an ID, below
        return out + [Check("warning", "counter", col,
                            f"Column '{name}' counts up 1, 2, 3, ... from row to row, so it looks like a sample "
                            "or row number rather than a measurement.",
                            "Set its role to ignore: it says where a row sits in the file, and a file sorted by "
                            "class would let the model learn the row order instead of the data.")]
    if counts.numeric and unique not in (1, n - counts.missing):
        s = None  # neither constant nor a candidate identifier: nothing below needs the values
    else:
        s = series()
    kind = "numeric" if counts.numeric else column_kind(s, unique) if n else "numeric"
    if counts.infinite:
        out.append(Check("warning", "inf_values", col, f"Column '{name}' contains {counts.infinite} infinite values.",
                         "Those rows will be dropped." if is_target else
                         "They are treated as missing and filled in. Check how the column was made "
                         "(a division by zero?)."))
    if is_target or n == 0:
        return out
    missing = counts.missing
    if missing == n:
        return out + [Check("warning", "all_missing", col, f"Column '{name}' is empty in every row.",
                            "It will be ignored; remove it, or fill it in at the source.")]
    if missing / n > MOSTLY_MISSING:
        out.append(Check("warning", "mostly_missing", col, f"Column '{name}' is missing in {missing / n:.0%} of rows.",
                         "Gaps are filled with the column's typical value, which blurs its signal. "
                         "Consider ignoring it, or fill it in at the source."))
    if s is None:
        return out
    if unique == 1:
        value = str(s.dropna().iloc[0])
        return out + [Check("warning", "constant", col,
                            f"Column '{name}' has the same value ('{shown(value)}') in every row.",
                            "Set its role to ignore: a column that never changes cannot help predictions.")]
    if kind == "datetime":
        return out + [Check("info", "dates", col, f"Column '{name}' holds dates and times.",
                            "The models cannot read dates, so it is ignored. To use it, derive numbers from it "
                            "at the source (month, weekday, days since a start).")]
    text = [Check(level, code, col, message, advice) for level, code, message, advice
            in (text_column_checks(s, name) if kind in ("categorical", "text") else [])]
    out.extend(text)
    if any(c.code in ("dates", "units", "mixed_types") for c in text):
        return out  # a date or a number with units is no identifier and no free-text category
    if looks_like_id(s, unique):
        return out + [Check("warning", "id_like", col,
                            f"Column '{name}' has a different value in every row, so it looks like an identifier.",
                            "Set its role to ignore: it cannot help predictions and invites overfitting.")]
    if kind in ("categorical", "text") and unique > HIGH_CARDINALITY:
        out.append(Check("warning", "high_cardinality", col, f"Column '{name}' has {unique} different values.",
                         "Only its most common values get their own input; the rest share one 'other' input. "
                         "If it is free text or a code, consider ignoring it."))
    return out


def _target_checks(df: pd.DataFrame, target: str, task: str | None, usable: list[str],
                   unique: dict[str, int]) -> list[Check]:
    y = df[target]
    name = shown(target)
    out: list[Check] = []
    present_mask = y.notna().to_numpy()
    missing = int((~present_mask).sum())
    if missing == len(y):
        return [Check("error", "missing_target", target, f"The target '{name}' is empty in every row.",
                      "Choose another target column.")]
    if missing:
        out.append(Check("warning", "missing_target", target, f"The target '{name}' is missing in {missing} rows.",
                         "Those rows will be dropped before training."))
    task = task or infer_task(y)
    if task == "regression":
        if ptypes.is_bool_dtype(y.dtype) or not ptypes.is_numeric_dtype(y.dtype):
            return out + [Check("error", "target_not_numeric", target,
                                f"The target '{name}' holds text, but regression predicts numbers.",
                                "Choose binary or multiclass classification, or a numeric target.")]
        if unique[target] < 2:
            return out + [Check("error", "single_class", target,
                                f"The target '{name}' has the same value in every row.",
                                "There is nothing to predict: choose another target.")]
        return out + _leaks(df.loc[present_mask], target, None, usable, unique)
    labels = as_labels(y[present_mask])
    counts = labels.value_counts()
    if len(counts) < 2:
        return out + [Check("error", "single_class", target,
                            f"The target '{name}' has only one class ('{shown(counts.index[0])}').",
                            "A classifier needs at least two: choose another target, or add rows of other classes.")]
    if len(counts) == len(labels) >= UNIQUE_TARGET_MIN:
        return out + [Check("error", "target_all_unique", target,
                            f"Every row has its own value of '{name}', so there are no classes to learn.",
                            "Choose another target; if its values are amounts to predict, choose regression.")]
    rare = counts[counts < RARE_CLASS]
    if len(rare) > RARE_LISTED:
        listed = ", ".join(f"'{shown(label, 20)}' ({count})" for label, count in rare.head(RARE_LISTED).items())
        out.append(Check("warning", "rare_class", target,
                         f"{len(rare)} classes of '{name}' have fewer than {RARE_CLASS} rows each, such as {listed}.",
                         "They may be missing from the validation or test data, and the model sees too few "
                         "examples of them. Collect more rows, or merge rare classes into broader ones."))
    else:
        for label, count in rare.items():
            out.append(Check("warning", "rare_class", target,
                             f"Class '{shown(label)}' of '{name}' has only {count} rows.",
                             "It may be missing from the validation or test data, and the split cannot keep the "
                             "class proportions. Collect more rows of it, or merge it with a similar class."))
    return out + _leaks(df.loc[present_mask], target, labels, usable, unique)


def _leaks(df: pd.DataFrame, target: str, labels: pd.Series | None, usable: list[str],
           unique: dict[str, int]) -> list[Check]:
    """Features that give the target away: a near copy, a 1:1 relabelling, or a perfect threshold.

    `unique` counts distinct values over all rows; only the cheap pre-filter relies on it.
    Everything is computed on a whole block of columns at once: a per-column loop through
    pandas costs seconds on a file with thousands of columns."""
    reasons: dict[str, str] = {}
    y = df[target]
    numeric = [c for c in usable if is_number_dtype(df[c].dtype)]
    x = _finite_block(df, numeric)
    if numeric and is_number_dtype(y.dtype):
        for col, r in zip(numeric, _correlations(x, _finite_block(df, [target])[:, 0]), strict=True):
            if np.isfinite(r) and abs(r) > LEAK_CORRELATION:
                reasons[col] = f"its correlation with the target is {r:.3f}"
    if labels is not None:
        codes, classes = pd.factorize(labels, sort=True)
        n_classes = len(classes)
        for col in usable:
            if col in reasons or not 2 <= unique[col] <= n_classes:
                continue
            if _purity(as_labels(df[col]), codes, n_classes) >= LEAK_PURITY:
                reasons[col] = "each of its values goes with a single class"
        if n_classes == 2 and numeric and np.bincount(codes, minlength=2).min() >= LEAK_MIN_PER_CLASS:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # a column empty in one class: no verdict
                a, b = x[codes == 0], x[codes == 1]
                apart = (np.nanmax(a, axis=0) < np.nanmin(b, axis=0)) | (np.nanmax(b, axis=0) < np.nanmin(a, axis=0))
            for col, split in zip(numeric, apart, strict=True):
                if split and col not in reasons:
                    reasons[col] = "one threshold on it separates the two classes perfectly"
    return [Check("warning", "target_leak", col,
                  f"Column '{shown(col)}' predicts the target almost perfectly: {why}.",
                  "It is probably a copy of the target or recorded after the outcome. Set its role to ignore "
                  "unless its value will truly be known when you make predictions.")
            for col, why in reasons.items()]


def _finite_block(df: pd.DataFrame, columns: list[str]) -> np.ndarray:
    """float64 (rows, columns) with NaN for missing and +/-inf."""
    if not columns:
        return np.empty((len(df), 0))
    values = df[columns].to_numpy(dtype="float64", na_value=np.nan)
    return np.where(np.isfinite(values), values, np.nan)


def _correlations(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Pearson r of each column with y over the rows where both are present (as pandas corrwith)."""
    both = ~np.isnan(x) & ~np.isnan(y)[:, None]
    count = both.sum(axis=0)
    with np.errstate(all="ignore"):
        xs = np.where(both, x, 0.0)
        ys = np.where(both, y[:, None], 0.0)
        mx, my = xs.sum(axis=0) / count, ys.sum(axis=0) / count
        dx, dy = np.where(both, x - mx, 0.0), np.where(both, y[:, None] - my, 0.0)
        r = (dx * dy).sum(axis=0) / np.sqrt((dx * dx).sum(axis=0) * (dy * dy).sum(axis=0))
    return np.where(count > 1, r, np.nan)


def _purity(values: pd.Series, classes: np.ndarray, n_classes: int) -> float:
    """Share of rows whose class is the most common one for their value (rows with a value)."""
    codes, levels = pd.factorize(values)
    present = codes >= 0
    if not present.any():
        return 0.0
    table = np.bincount(codes[present] * n_classes + classes[present], minlength=len(levels) * n_classes)
    return float(table.reshape(len(levels), n_classes).max(axis=1).sum() / present.sum())
