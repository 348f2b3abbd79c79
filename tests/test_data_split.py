"""split_indices: seeded, disjoint, complete, stratified when the classes allow it."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from core.data import load_dataset, resolve, split_indices
from core.errors import DataError


def parts(split) -> list[np.ndarray]:  # type: ignore[no-untyped-def]
    return [split.train, split.val, split.test]


def test_disjoint_complete_and_int64() -> None:
    y = load_dataset(resolve("iris"))["species"]
    split = split_indices(y, "multiclass")
    rows = np.concatenate(parts(split))
    assert sorted(rows.tolist()) == list(range(150))
    assert all(p.dtype == np.int64 and len(p) > 0 for p in parts(split))
    assert split.sizes() == {"train": 104, "val": 23, "test": 23}


def test_same_seed_same_indices_other_seed_differs() -> None:
    y = load_dataset(resolve("breast_cancer"))["diagnosis"]
    a, b, c = split_indices(y, "binary", seed=7), split_indices(y, "binary", seed=7), split_indices(y, "binary", seed=8)
    assert all(np.array_equal(p, q) for p, q in zip(parts(a), parts(b), strict=True))
    assert not np.array_equal(a.test, c.test)


def test_stratified_keeps_class_shares() -> None:
    y = pd.Series(["rare"] * 50 + ["common"] * 450)
    split = split_indices(y, "binary", val_fraction=0.2, test_fraction=0.2)
    for part in parts(split):
        share = (y.iloc[part] == "rare").mean()
        assert share == pytest.approx(0.1, abs=0.01)


def test_falls_back_when_a_class_is_too_rare() -> None:
    y = pd.Series(["a"] * 30 + ["b"] * 29 + ["lonely"])
    split = split_indices(y, "multiclass")
    assert sorted(np.concatenate(parts(split)).tolist()) == list(range(60))


def test_regression_and_numpy_input() -> None:
    y = np.random.default_rng(0).normal(size=40)
    split = split_indices(y, "regression", seed=3)
    assert sum(map(len, parts(split))) == 40 and all(len(p) for p in parts(split))


def test_smallest_split_has_every_part() -> None:
    split = split_indices(pd.Series([0, 1] * 5), "binary")
    assert all(len(p) > 0 for p in parts(split))


def test_too_few_rows_and_bad_fractions() -> None:
    with pytest.raises(DataError, match="Only 9 rows"):
        split_indices(pd.Series(range(9)), "regression")
    with pytest.raises(DataError, match="shares"):
        split_indices(pd.Series(range(100)), "regression", val_fraction=0.5, test_fraction=0.5)


def test_regression_split_is_stratified_by_target_quantiles() -> None:
    # each part should see the whole range of the target, not a lucky or unlucky slice
    rng = np.random.default_rng(0)
    y = np.concatenate([rng.normal(0, 1, 380), rng.normal(8, 1, 20)])  # a rare extreme tail
    split = split_indices(y, "regression", 0.15, 0.15, seed=0)
    top = set(np.flatnonzero(y > np.quantile(y, 0.8)))
    for part in (split.train, split.val, split.test):
        share = len(top & set(part.tolist())) / len(part)
        assert 0.15 <= share <= 0.25


def test_hold_out_stratifies_and_falls_back_when_a_class_has_one_row() -> None:
    from core.data.split import hold_out

    rows = np.arange(40, dtype=np.int64)
    labels = np.array(["a"] * 20 + ["b"] * 20)
    kept, held = hold_out(rows, labels, 0.25, seed=0)
    assert sorted([*kept, *held]) == list(rows) and (labels[held] == "a").sum() == 5
    lonely = labels.copy()
    lonely[0] = "c"  # one row of "c": stratifying is impossible, the rows are split plainly with the same seed
    kept, held = hold_out(rows, lonely, 0.25, seed=0)
    assert sorted([*kept, *held]) == list(rows) and len(held) == 10
    with pytest.raises(DataError, match="too few"):
        hold_out(rows[:1], None, 0.5, seed=0)


def test_split_and_folds_files_round_trip(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from core.data.split import load_folds, load_split, save_folds, save_split

    split = split_indices(np.array(["a", "b"] * 30), "binary", seed=3)
    save_split(split, tmp_path / "split.json")
    back = load_split(tmp_path / "split.json")
    assert all(np.array_equal(x, y) and y.dtype == np.int64 for x, y in zip(parts(split), parts(back)))
    save_folds([split, back], tmp_path / "folds.json")
    folds = load_folds(tmp_path / "folds.json")
    assert len(folds) == 2 and np.array_equal(folds[1].test, split.test)
