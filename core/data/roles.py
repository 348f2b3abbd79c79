"""Choosing what to predict and how each column is read, as the Data page lets a user edit it.

The inferred roles come from core.data.schema.infer_roles; DataConfig.roles carries only the
columns a user set otherwise.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd

from core.data.profile import DataProfile
from core.data.schema import infer_roles
from core.vocab import ROLES


def default_target(columns: Sequence[str], suggested: str | None) -> str:
    """The sample's target if it has one, else the last column (where most tables keep it)."""
    if suggested and suggested in columns:
        return suggested
    return columns[-1]


def roles_table(df: pd.DataFrame, target: str, overrides: Mapping[str, str], profile: DataProfile) -> pd.DataFrame:
    """One row per feature column: name, what it holds, its role (the user's override, else the inferred one)."""
    inferred = infer_roles(df, target)
    kinds = {c.name: c.kind for c in profile.columns}
    return pd.DataFrame([{"column": col, "holds": kinds.get(col, ""), "role": overrides.get(col, role)}
                         for col, role in inferred.items()], columns=["column", "holds", "role"])


def role_overrides(edited: pd.DataFrame, df: pd.DataFrame, target: str) -> dict[str, str]:
    """Only the roles of an edited roles_table that differ from the inferred ones: what DataConfig.roles
    should carry. Unknown columns and roles are dropped."""
    inferred = infer_roles(df, target)
    out: dict[str, str] = {}
    for col, role in zip(edited["column"], edited["role"]):
        if col in inferred and role in ROLES and role != inferred[col]:
            out[str(col)] = str(role)
    return out


__all__ = ["default_target", "roles_table", "role_overrides"]
