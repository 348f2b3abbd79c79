"""Data checks in plain words: what looks wrong, and what to do about it.

An "error" means training cannot proceed; a "warning" is likely to hurt the model; "info"
is worth knowing. Messages are written for someone who is not a data scientist.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from pandas.api import types as ptypes

from core.data.columns import as_labels, column_kind, looks_like_id, numeric_values, shown
from core.data.schema import infer_task

LEVELS = ("error", "warning", "info")
MIN_ROWS = 10  # below this the split cannot give train, validation and test rows
FEW_ROWS = 50
MOSTLY_MISSING = 0.5
HIGH_CARDINALITY = 50
RARE_CLASS = 5
LEAK_CORRELATION = 0.99
LEAK_PURITY = 0.99  # share of rows whose class a feature's value gives away
LEAK_MIN_PER_CLASS = 10  # smaller classes separate by chance, so no leak verdicts on them


@dataclass(frozen=True)
class Check:
    level: str  # error | warning | info
    code: str
    column: str | None
    message: str
    advice: str


def run_checks(df: pd.DataFrame, target: str | None = None, task: str | None = None, *,
               image_shape: tuple[int, ...] | None = None) -> list[Check]:
    """Every check that fires, errors first. For images (image_shape set) pixels that are blank
    in every image are expected, so they raise no 'constant' warning."""
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
        names = ", ".join(f"'{c}'" for c in list(df.columns)[:8])
        found.append(Check("error", "unknown_target", target, f"There is no column named '{shown(target)}' to predict.",
                           f"Choose the target among the columns: {names}."))
        target = None
    usable: list[str] = []  # features worth testing for leaks: not constant, not IDs
    unique: dict[str, int] = {}
    for col in df.columns:
        unique[col] = _nunique(df[col])
        checks = _column_checks(df[col], n, unique[col], is_target=col == target)
        if image_shape and col != target:
            checks = [c for c in checks if c.code != "constant"]
        found.extend(checks)
        if col != target and unique[col] > 1 and not any(c.code in ("id_like", "constant") for c in checks):
            usable.append(col)
    if target is not None:
        found.extend(_target_checks(df, target, task, usable, unique))
    try:
        duplicates = int(df.duplicated().sum()) if n else 0
    except TypeError:  # unhashable cells (nested Parquet columns): skip this informational check
        duplicates = 0
    if duplicates:
        found.append(Check("info", "duplicate_rows", None,
                           f"{duplicates} rows are exact copies of other rows.",
                           "Copies can land in both the training and the test data and make scores look "
                           "better than they are. Remove them unless they are genuine repeats."))
    return sorted(found, key=lambda c: LEVELS.index(c.level))


def _nunique(s: pd.Series) -> int:
    try:
        return int(s.nunique())
    except TypeError:  # unhashable cells from nested Parquet columns
        return int(s.dropna().astype(str).nunique())


def _column_checks(s: pd.Series, n: int, unique: int, is_target: bool) -> list[Check]:
    col = str(s.name)
    out: list[Check] = []
    kind = column_kind(s, unique) if n else "numeric"
    if kind == "numeric":
        raw = s.to_numpy(dtype="float64", na_value=np.nan)
        infinite = int(np.isinf(raw).sum())
        if infinite:
            out.append(Check("warning", "inf_values", col, f"Column '{col}' contains {infinite} infinite values.",
                             "Those rows will be dropped." if is_target else
                             "They are treated as missing and filled in. Check how the column was made "
                             "(a division by zero?)."))
    if is_target or n == 0:
        return out
    missing = int(s.isna().sum())
    if missing == n:
        return out + [Check("warning", "all_missing", col, f"Column '{col}' is empty in every row.",
                            "It will be ignored; remove it, or fill it in at the source.")]
    if missing / n > MOSTLY_MISSING:
        out.append(Check("warning", "mostly_missing", col, f"Column '{col}' is missing in {missing / n:.0%} of rows.",
                         "Gaps are filled with the column's typical value, which blurs its signal. "
                         "Consider ignoring it, or fill it in at the source."))
    if unique == 1:
        value = str(s.dropna().iloc[0])
        return out + [Check("warning", "constant", col,
                            f"Column '{col}' has the same value ('{shown(value)}') in every row.",
                            "Set its role to ignore: a column that never changes cannot help predictions.")]
    if looks_like_id(s, unique):
        return out + [Check("warning", "id_like", col,
                            f"Column '{col}' has a different value in every row, so it looks like an identifier.",
                            "Set its role to ignore: it cannot help predictions and invites overfitting.")]
    if kind in ("categorical", "text") and unique > HIGH_CARDINALITY:
        out.append(Check("warning", "high_cardinality", col, f"Column '{col}' has {unique} different values.",
                         "Only its most common values get their own input; the rest share one 'other' input. "
                         "If it is free text or a code, consider ignoring it."))
    return out


def _target_checks(df: pd.DataFrame, target: str, task: str | None, usable: list[str],
                   unique: dict[str, int]) -> list[Check]:
    y = df[target]
    out: list[Check] = []
    present_mask = y.notna().to_numpy()
    missing = int((~present_mask).sum())
    if missing == len(y):
        return [Check("error", "missing_target", target, f"The target '{target}' is empty in every row.",
                      "Choose another target column.")]
    if missing:
        out.append(Check("warning", "missing_target", target, f"The target '{target}' is missing in {missing} rows.",
                         "Those rows will be dropped before training."))
    task = task or infer_task(y)
    if task == "regression":
        if ptypes.is_bool_dtype(y.dtype) or not ptypes.is_numeric_dtype(y.dtype):
            return out + [Check("error", "target_not_numeric", target,
                                f"The target '{target}' holds text, but regression predicts numbers.",
                                "Choose binary or multiclass classification, or a numeric target.")]
        if unique[target] < 2:
            return out + [Check("error", "single_class", target,
                                f"The target '{target}' has the same value in every row.",
                                "There is nothing to predict: choose another target.")]
        return out + _leaks(df.loc[present_mask], target, None, usable, unique)
    labels = as_labels(y[present_mask])
    counts = labels.value_counts()
    if len(counts) < 2:
        return out + [Check("error", "single_class", target,
                            f"The target '{target}' has only one class ('{shown(counts.index[0])}').",
                            "A classifier needs at least two: choose another target, or add rows of other classes.")]
    for label, count in counts[counts < RARE_CLASS].items():
        out.append(Check("warning", "rare_class", target,
                         f"Class '{shown(label)}' of '{target}' has only {count} rows.",
                         "It may be missing from the validation or test data, and the split cannot keep the class "
                         "proportions. Collect more rows of it, or merge it with a similar class."))
    return out + _leaks(df.loc[present_mask], target, labels, usable, unique)


def _leaks(df: pd.DataFrame, target: str, labels: pd.Series | None, usable: list[str],
           unique: dict[str, int]) -> list[Check]:
    """Features that give the target away: a near copy, a 1:1 relabelling, or a perfect threshold.

    `unique` counts distinct values over all rows; only the cheap pre-filter relies on it."""
    reasons: dict[str, str] = {}
    y = df[target]
    numeric = [c for c in usable if ptypes.is_numeric_dtype(df[c].dtype) and not ptypes.is_bool_dtype(df[c].dtype)]
    x = pd.DataFrame(np.column_stack([numeric_values(df[c]) for c in numeric]), columns=numeric,
                     index=df.index) if numeric else pd.DataFrame(index=df.index)
    if numeric and ptypes.is_numeric_dtype(y.dtype) and not ptypes.is_bool_dtype(y.dtype):
        with np.errstate(all="ignore"):
            corr = x.corrwith(pd.Series(numeric_values(y), index=df.index))
        for col, r in corr.items():
            if np.isfinite(r) and abs(r) > LEAK_CORRELATION:
                reasons[str(col)] = f"its correlation with the target is {r:.3f}"
    if labels is not None:
        n_classes = labels.nunique()
        for col in usable:
            if col in reasons or not 2 <= unique[col] <= n_classes:
                continue
            table = pd.crosstab(as_labels(df[col]), labels)
            if table.to_numpy().sum() and table.max(axis=1).sum() / table.to_numpy().sum() >= LEAK_PURITY:
                reasons[col] = "each of its values goes with a single class"
        counts = labels.value_counts()
        if n_classes == 2 and numeric and counts.min() >= LEAK_MIN_PER_CLASS:
            spans = x.groupby(labels).agg(["min", "max"])
            (lo_a, lo_b) = spans.xs("min", axis=1, level=1).to_numpy()
            (hi_a, hi_b) = spans.xs("max", axis=1, level=1).to_numpy()
            for col, split in zip(numeric, (hi_a < lo_b) | (hi_b < lo_a), strict=True):
                if split and col not in reasons:
                    reasons[col] = "one threshold on it separates the two classes perfectly"
    return [Check("warning", "target_leak", col,
                  f"Column '{col}' predicts the target almost perfectly: {why}.",
                  "It is probably a copy of the target or recorded after the outcome. Set its role to ignore "
                  "unless its value will truly be known when you make predictions.")
            for col, why in reasons.items()]
