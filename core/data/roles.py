"""Choosing what to predict and how each column is read, as the Data page lets a user edit it.

The inferred roles come from core.data.schema.infer_roles; DataConfig.roles carries only the
columns a user set otherwise.
"""
from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

import pandas as pd

from core.data.columns import column_kind, looks_like_counter, looks_like_id
from core.data.counts import is_number_dtype
from core.data.profile import DataProfile
from core.data.schema import infer_roles
from core.data.text_checks import looks_like_dates
from core.vocab import ROLES


# A column named like this is what people predict ("Species", "class_label", "Outcome")
TARGET_WORDS = ("target", "label", "class", "outcome", "y", "species", "diagnosis", "category", "churn",
                "survived", "response", "result", "grade", "quality", "type")
TARGET_MAX_MISSING = 0.1  # a column missing in more rows than this makes a poor first target
TARGET_MAX_LEVELS = 50
TARGET_SCAN = 50  # columns looked at from the end when no name says which one is the target


def default_target(columns: Sequence[str], suggested: str | None, df: pd.DataFrame | None = None) -> str:
    """The sample's target if it has one; else, with the data at hand, a column fit to predict: one named
    like a target (TARGET_WORDS, in that order), else the last fitting column (most tables keep the
    target last); else the last column. Fitting: mostly present, neither an ID, a running number, a
    constant, dates nor free text (penguins-raw.csv ends with free-text Comments; Species is its target)."""
    if suggested and suggested in columns:
        return suggested
    if df is None or not len(columns):
        return columns[-1]
    named = {word: [c for c in columns if word in _words(c)] for word in TARGET_WORDS}
    for word in TARGET_WORDS:
        for column in named[word]:
            if _fits_target(df[column]):
                return column
    for column in list(columns)[::-1][:TARGET_SCAN]:
        if _fits_target(df[column]):
            return column
    return columns[-1]


def _words(name: object) -> list[str]:
    return re.findall(r"[a-z0-9]+", re.sub(r"([a-z])([A-Z])", r"\1 \2", str(name)).lower())


def _fits_target(s: pd.Series) -> bool:
    present = s.dropna()
    if len(present) < 2 or s.isna().mean() > TARGET_MAX_MISSING:
        return False
    unique = int(present.nunique())
    if unique < 2 or looks_like_id(present, unique):
        return False
    if is_number_dtype(s.dtype):
        return not looks_like_counter(present.to_numpy(dtype="float64"), s.name)
    kind = column_kind(present, unique)
    return kind in ("categorical", "boolean") and unique <= TARGET_MAX_LEVELS and not looks_like_dates(present)


def roles_table(df: pd.DataFrame, target: str, overrides: Mapping[str, str], profile: DataProfile,
                inferred: Mapping[str, str] | None = None) -> pd.DataFrame:
    """One row per feature column: name, what it holds, its role (the user's override, else the inferred one).

    `inferred`: infer_roles(df, target) where the caller has it already (seconds on a large table)."""
    inferred = infer_roles(df, target) if inferred is None else inferred
    kinds = {c.name: c.kind for c in profile.columns}
    return pd.DataFrame([{"column": col, "holds": kinds.get(col, ""), "role": overrides.get(col, role)}
                         for col, role in inferred.items()], columns=["column", "holds", "role"])


def role_overrides(edited: pd.DataFrame, df: pd.DataFrame, target: str,
                   inferred: Mapping[str, str] | None = None) -> dict[str, str]:
    """Only the roles of an edited roles_table that differ from the inferred ones: what DataConfig.roles
    should carry. Unknown columns and roles are dropped."""
    inferred = infer_roles(df, target) if inferred is None else inferred
    out: dict[str, str] = {}
    for col, role in zip(edited["column"], edited["role"]):
        if col in inferred and role in ROLES and role != inferred[col]:
            out[str(col)] = str(role)
    return out


__all__ = ["default_target", "roles_table", "role_overrides"]
