"""run_checks: each code fires on a frame built for it, and none fires on a clean sample."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from core.data import load_dataset, resolve, run_checks
from core.data.checks import Check

N = 200


def base() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame({
        "x": rng.normal(size=N),
        "colour": rng.choice(np.array(["red", "green", "blue"]), N),
        "y": rng.choice(np.array(["yes", "no"]), N),
    })


def codes(checks: list[Check]) -> dict[str, Check]:
    """The first check of each code."""
    first: dict[str, Check] = {}
    for check in checks:
        first.setdefault(check.code, check)
    return first


def test_clean_frame_has_no_findings() -> None:
    assert run_checks(base(), "y") == []


@pytest.mark.parametrize("name", ["iris", "wine", "breast_cancer", "diabetes", "tips"])
def test_samples_raise_no_errors_or_warnings(name: str) -> None:
    ref = resolve(name)
    found = run_checks(load_dataset(ref), ref.target, ref.task)
    assert [c.code for c in found if c.level != "info"] == []
    assert {c.code for c in found} <= {"duplicate_rows"}  # iris really has one repeated flower


def test_digits_blank_pixels_are_expected() -> None:
    ref = resolve("digits")
    df = load_dataset(ref)
    assert "constant" in codes(run_checks(df, "label"))
    assert run_checks(df, "label", image_shape=ref.image_shape) == []


def fire(df: pd.DataFrame, code: str, target: str | None = "y", task: str | None = None) -> Check:
    found = codes(run_checks(df, target, task))
    assert code in found, f"{code} did not fire: {sorted(found)}"
    check = found[code]
    assert check.message and check.advice and "\n" not in check.message
    return check


def test_too_few_rows() -> None:
    assert fire(base().head(5), "too_few_rows").level == "error"
    assert fire(base().head(30), "too_few_rows").level == "warning"


def test_missing_values() -> None:
    df = base()
    df["empty"] = np.nan
    df["gappy"] = np.where(np.arange(N) % 10 < 7, np.nan, 1.0 * np.arange(N))
    assert fire(df, "all_missing").column == "empty"
    assert fire(df, "mostly_missing").column == "gappy"
    assert "70%" in fire(df, "mostly_missing").message


def test_constant_and_id_like() -> None:
    df = base()
    df["source"] = "web"
    df["row_id"] = np.arange(N) + 1000
    df["code"] = [f"A{i:05d}" for i in range(N)]
    assert fire(df, "constant").column == "source"
    ids = [c.column for c in run_checks(df, "y") if c.code == "id_like"]
    assert ids == ["row_id", "code"]
    assert fire(df, "id_like").message == ("Column 'row_id' has a different value in every row, "
                                           "so it looks like an identifier.")


def test_high_cardinality_and_inf() -> None:
    df = base()
    df["city"] = [f"city{i % 70}" for i in range(N)]
    df["ratio"] = np.where(np.arange(N) == 3, np.inf, 1.0 + np.arange(N))
    assert fire(df, "high_cardinality").column == "city"
    assert "1 infinite" in fire(df, "inf_values").message


def test_target_problems() -> None:
    df = base()
    df.loc[:4, "y"] = np.nan
    assert fire(df, "missing_target").level == "warning"
    single = base().assign(y="yes")
    assert fire(single, "single_class").level == "error"
    rare = base()
    rare.loc[:2, "y"] = "maybe"
    check = fire(rare, "rare_class")
    assert check.level == "warning" and "'maybe'" in check.message
    assert fire(base(), "unknown_target", target="label").level == "error"
    assert fire(base(), "target_not_numeric", task="regression").level == "error"


def test_target_leak_copy_relabel_and_threshold() -> None:
    rng = np.random.default_rng(1)
    reg = pd.DataFrame({"x": rng.normal(size=N), "y": rng.normal(size=N)})
    reg["y_times_2"] = reg["y"] * 2 + rng.normal(scale=1e-3, size=N)
    assert fire(reg, "target_leak").column == "y_times_2"
    cls = base()
    cls["answer"] = cls["y"].map({"yes": "Y", "no": "N"})
    assert fire(cls, "target_leak").column == "answer"
    threshold = base()
    threshold["score"] = np.where(threshold["y"] == "yes", 1.0, -1.0) * rng.uniform(1, 2, N)
    assert fire(threshold, "target_leak").column == "score"


def test_duplicate_rows_is_info() -> None:
    df = pd.concat([base(), base().head(3)], ignore_index=True)
    check = fire(df, "duplicate_rows")
    assert check.level == "info" and check.message.startswith("3 rows")


def test_errors_come_first() -> None:
    df = base().head(5).assign(source="web")
    levels = [c.level for c in run_checks(df, "nope")]
    assert levels == sorted(levels, key=["error", "warning", "info"].index) and levels[0] == "error"
