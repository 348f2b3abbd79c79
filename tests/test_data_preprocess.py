"""Preprocessor: fit on train only, unseen levels, JSON round trip, groups, targets, images."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core.data import Preprocessor, build_schema, drop_missing_target, load_dataset, resolve, split_indices
from core.errors import DataError


def train_test() -> tuple[pd.DataFrame, pd.DataFrame]:
    train = pd.DataFrame({
        "age": [10.0, 20.0, 30.0, np.nan, 40.0, 50.0],
        "city": ["Oslo", "Rome", "Oslo", "Oslo", None, "Rome"],
        "y": ["a", "b", "a", "b", "a", "b"],
    })
    test = pd.DataFrame({
        "age": [np.nan, 100.0, np.inf],
        "city": ["Paris", None, "Rome"],  # Paris never appears in train
        "y": ["a", "b", "a"],
    })
    return train, test


def fitted() -> tuple[Preprocessor, pd.DataFrame, pd.DataFrame]:
    train, test = train_test()
    schema = build_schema(train, "y", roles={"age": "numeric", "city": "categorical"})
    return Preprocessor(schema).fit(train), train, test


def test_statistics_come_from_train_only() -> None:
    pre, train, test = fitted()
    assert pre.feature_names == ["age", "city=Oslo", "city=Rome", "city=(other)"]
    x = pre.transform(test)
    assert x.dtype == np.float32 and x.shape == (3, 4)
    ages = np.array([10, 20, 30, 30, 40, 50.0])  # the NaN filled with the train median (30)
    mean, std = ages.mean(), ages.std()
    np.testing.assert_allclose(x[:, 0], (np.array([30, 100, 30.0]) - mean) / std, rtol=1e-6)  # inf -> median
    np.testing.assert_array_equal(x[:, 1:], [[0, 0, 1], [1, 0, 0], [0, 1, 0]])  # Paris -> other, gap -> Oslo
    assert np.isfinite(pre.transform(train)).all()


def test_feature_groups_cover_each_index_once() -> None:
    pre = Preprocessor(build_schema(load_dataset(resolve("tips")), "tip")).fit(load_dataset(resolve("tips")))
    groups = pre.feature_groups
    assert list(groups) == ["total_bill", "sex", "smoker", "day", "time", "size"]
    flat = sorted(i for idx in groups.values() for i in idx)
    assert flat == list(range(len(pre.feature_names)))
    assert [pre.feature_names[i] for i in groups["time"]] == ["time=Dinner", "time=Lunch", "time=(other)"]


def test_max_onehot_sends_rare_levels_to_other() -> None:
    df = pd.DataFrame({"c": [f"l{i % 10}" for i in range(100)] + ["l0"] * 5, "y": [0.5 * i for i in range(105)]})
    pre = Preprocessor(build_schema(df, "y", roles={"c": "categorical"}), max_onehot=3).fit(df)
    assert pre.feature_names == ["c=l0", "c=l1", "c=l2", "c=(other)"]
    assert pre.transform(df)[:, 3].sum() == 70


def test_json_round_trip_gives_identical_transform(tmp_path: Path) -> None:
    pre, train, test = fitted()
    path = pre.save(tmp_path / "pre" / "preprocessor.json")
    assert [p.name for p in path.parent.iterdir()] == ["preprocessor.json"]  # no temp file left
    again = Preprocessor.load(path)
    np.testing.assert_array_equal(again.transform(test), pre.transform(test))
    assert again.feature_names == pre.feature_names and again.feature_groups == pre.feature_groups
    assert again.to_dict() == json.loads(path.read_text())


def test_regression_target_round_trip() -> None:
    df = load_dataset(resolve("diabetes"))
    schema = build_schema(df, "progression")
    split = split_indices(df["progression"], schema.task)
    train = df.iloc[split.train]
    pre = Preprocessor(schema).fit(train)
    mean, std = pre.target_scale
    assert mean == pytest.approx(train["progression"].mean()) and std == pytest.approx(train["progression"].std(ddof=0))
    encoded = pre.encode_target(df["progression"])
    assert encoded.dtype == np.float32
    np.testing.assert_allclose(pre.decode_target(encoded), df["progression"], rtol=1e-5)
    x = pre.transform(df.iloc[split.test])
    assert x.shape == (len(split.test), 10)


def test_classification_target_encoding() -> None:
    pre, train, _ = fitted()
    assert pre.target_scale == (0.0, 1.0)
    codes = pre.encode_target(train["y"])
    assert codes.dtype == np.int64 and codes.tolist() == [0, 1, 0, 1, 0, 1]
    assert pre.decode_target(codes).tolist() == train["y"].tolist()
    assert pre.decode_target(np.array([[0.1, 0.9], [0.8, 0.2]])).tolist() == ["b", "a"]
    with pytest.raises(DataError, match="classes the model does not know \\('c'\\)"):
        pre.encode_target(pd.Series(["a", "c"]))


def test_labels_compare_as_strings() -> None:
    df = pd.DataFrame({"x": np.arange(40) % 5, "y": [0, 1] * 20})
    pre = Preprocessor(build_schema(df, "y")).fit(df)
    assert pre.schema.classes == ("0", "1")
    assert pre.encode_target(pd.Series([1.0, 0.0])).tolist() == [1, 0]  # floats from a gappy column
    assert pre.encode_target(pd.Series(["1", "0"])).tolist() == [1, 0]


def test_missing_feature_column_is_named() -> None:
    pre, _, test = fitted()
    with pytest.raises(DataError, match="lacks the column 'city'"):
        pre.transform(test.drop(columns="city"))


def test_image_pixels_scale_by_train_max() -> None:
    ref = resolve("digits")
    df = load_dataset(ref)
    schema = build_schema(df, "label", image_shape=ref.image_shape)
    pre = Preprocessor(schema).fit(df.iloc[:1000])
    x = pre.transform(df.iloc[1000:])
    assert pre.feature_names == [c for c in df.columns if c != "label"]
    assert x.shape == (797, 64) and x.min() == 0.0 and x.max() == 1.0
    np.testing.assert_allclose(x, df.iloc[1000:, :64].to_numpy() / 16.0, rtol=1e-6)


def test_unfitted_and_damaged() -> None:
    train, _ = train_test()
    with pytest.raises(RuntimeError):
        Preprocessor(build_schema(train, "y")).transform(train)
    with pytest.raises(DataError, match="not a preprocessor"):
        Preprocessor.from_dict({"format": "something else"})


def test_drop_missing_target() -> None:
    df = pd.DataFrame({"x": range(5), "y": [1.0, np.nan, 3.0, np.inf, 5.0]})
    kept = drop_missing_target(df, "y")
    assert kept["x"].tolist() == [0, 2, 4] and kept.index.tolist() == [0, 1, 2]
    with pytest.raises(DataError):
        drop_missing_target(df, "z")
