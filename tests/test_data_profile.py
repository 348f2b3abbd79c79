"""profile: per-column numbers on a small frame, and speed on a wide one."""
from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest

from core.data import profile


def small() -> pd.DataFrame:
    return pd.DataFrame({
        "age": [20.0, 30.0, np.nan, 50.0, np.inf],
        "city": ["Oslo", "Rome", "Oslo", None, "Oslo"],
        "ok": [True, False, True, True, False],
        "when": pd.to_datetime(["2024-01-01"] * 5),
        "n": [1, 2, 3, 4, 5],
    })


def test_profile_numbers() -> None:
    prof = profile(small())
    assert (prof.n_rows, prof.n_cols) == (5, 5) and prof.memory_bytes > 0
    age = prof.column("age")
    assert age.kind == "numeric" and age.missing == 1 and age.missing_frac == pytest.approx(0.2)
    assert age.mean == pytest.approx(100 / 3)  # inf is left out of the numbers
    assert age.std == pytest.approx(np.std([20, 30, 50], ddof=1))
    assert (age.min, age.max) == (20.0, 50.0)
    city = prof.column("city")
    assert city.kind == "categorical" and city.missing == 1 and city.unique == 2
    assert city.top == [("Oslo", 3), ("Rome", 1)] and city.mean is None
    ok = prof.column("ok")
    assert ok.kind == "boolean" and ok.mean == pytest.approx(0.6) and ok.top[0] == ("True", 3)
    assert prof.column("when").kind == "datetime"
    assert prof.column("n").top[0][1] == 1 and prof.column("n").unique == 5


def test_to_frame_has_one_row_per_column() -> None:
    frame = profile(small()).to_frame()
    assert frame["column"].tolist() == ["age", "city", "ok", "when", "n"]
    assert frame.loc[1, "top values"] == "Oslo (3), Rome (1)"
    assert frame.loc[0, "missing %"] == 20.0


def test_text_kind_and_continuous_top_is_empty() -> None:
    df = pd.DataFrame({"note": [f"comment number {i}" for i in range(200)],
                       "x": np.random.default_rng(0).normal(size=200)})
    prof = profile(df)
    assert prof.column("note").kind == "text"
    assert prof.column("x").top == []


def test_profile_is_fast_on_100k_by_100() -> None:
    rng = np.random.default_rng(0)
    n = 100_000
    cols: dict[str, object] = {f"f{i}": rng.normal(size=n) for i in range(90)}
    cols.update({f"c{i}": rng.choice(np.array(["a", "b", "c", "d"]), n) for i in range(10)})
    df = pd.DataFrame(cols)
    start = time.perf_counter()
    prof = profile(df)
    assert time.perf_counter() - start < 5.0  # about 0.4 s on 2 cores; generous for slow CI
    assert prof.n_cols == 100
