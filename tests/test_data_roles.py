"""core.data.roles: the target a table starts with, and the column roles a user edits."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from core.data import profile
from core.data import roles


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    n = 120
    return pd.DataFrame({
        "row_id": np.arange(n),
        "size": rng.normal(10, 2, n),
        "colour": rng.choice(["red", "blue", "green"], n),
        "label": rng.choice(["yes", "no"], n),
    })


def test_default_target_prefers_the_samples_target(frame: pd.DataFrame) -> None:
    cols = list(frame.columns)
    assert roles.default_target(cols, "colour") == "colour"
    assert roles.default_target(cols, None) == "label" and roles.default_target(cols, "missing") == "label"


def test_roles_table_and_overrides(frame: pd.DataFrame) -> None:
    prof = profile(frame)
    table = roles.roles_table(frame, "label", {"size": "ignore"}, prof)
    by_column = dict(zip(table["column"], table["role"]))
    assert "label" not in by_column
    assert by_column["row_id"] == "ignore"  # an identifier starts ignored
    assert by_column["size"] == "ignore" and by_column["colour"] == "categorical"
    assert dict(zip(table["column"], table["holds"]))["size"] == "numeric"
    edited = table.assign(role=table["role"].where(table["column"] != "colour", "ignore"))
    assert roles.role_overrides(edited, frame, "label") == {"size": "ignore", "colour": "ignore"}
    assert roles.role_overrides(roles.roles_table(frame, "label", {}, prof), frame, "label") == {}
    odd = pd.DataFrame({"column": ["gone", "size"], "role": ["ignore", "image"]})
    assert roles.role_overrides(odd, frame, "label") == {}  # unknown columns and roles are dropped
