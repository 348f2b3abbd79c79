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


def test_default_target_with_the_data_skips_what_cannot_be_a_target() -> None:
    n = 60
    rng = np.random.default_rng(1)
    frame = pd.DataFrame({"size": rng.normal(size=n), "Outcome": rng.choice(["a", "b"], n),
                          "when": pd.date_range("2024-01-01", periods=n).astype(str),
                          "notes": [f"free text number {i} here" for i in range(n)]})
    assert roles.default_target(list(frame.columns), None, frame) == "Outcome"  # named like a target
    unnamed = frame.rename(columns={"Outcome": "group"})
    assert roles.default_target(list(unnamed.columns), None, unnamed) == "group"  # last fit: not text or dates
    assert roles.default_target(list(frame.columns), "size", frame) == "size"  # a sample's own target first


def test_choices_are_remembered_per_dataset(tmp_path) -> None:
    from core.data import remembered

    assert remembered.recall(tmp_path, "iris") is None
    choice = remembered.DataChoices("petal_width", "regression", {"sepal_length": "ignore"})
    assert remembered.remember(tmp_path, "iris", choice) and not remembered.remember(tmp_path, "iris", choice)
    assert remembered.recall(tmp_path, "iris") == choice and remembered.recall(tmp_path, "wine") is None
    (tmp_path / remembered.FILE).write_text("{not json")
    assert remembered.recall(tmp_path, "iris") is None  # a damaged file is forgotten, never an error
    assert remembered.remember(tmp_path, "iris", choice) and remembered.recall(tmp_path, "iris") == choice


def test_uploads_show_their_own_names() -> None:
    from core.data.ref import plain_name

    assert plain_name("6fd642b3a421_big.csv") == "big.csv"
    assert plain_name("big.csv") == "big.csv" and plain_name("6fd642b3a421_") == "6fd642b3a421_"
