"""Schema: task and role inference on the samples, user overrides, and clear refusals."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from core.data import Schema, build_schema, infer_roles, infer_task, load_dataset, resolve, run_checks
from core.errors import DataError


def sample(name: str) -> pd.DataFrame:
    return load_dataset(resolve(name))


def test_iris() -> None:
    schema = build_schema(sample("iris"), "species")
    assert schema.task == "multiclass" and schema.n_classes == 3
    assert schema.classes == ("setosa", "versicolor", "virginica")
    assert schema.features == ["sepal_length", "sepal_width", "petal_length", "petal_width"]
    assert set(schema.roles.values()) == {"numeric"} and "species" not in schema.roles


def test_diabetes() -> None:
    schema = build_schema(sample("diabetes"), "progression")
    assert schema.task == "regression" and schema.classes is None and schema.n_classes == 0
    assert schema.features == ["age", "sex", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6"]


def test_breast_cancer() -> None:
    schema = build_schema(sample("breast_cancer"), "diagnosis")
    assert schema.task == "binary" and schema.classes == ("benign", "malignant")
    assert len(schema.features) == 30


def test_tips_has_categorical_roles() -> None:
    schema = build_schema(sample("tips"), "tip")
    assert schema.roles == {"total_bill": "numeric", "sex": "categorical", "smoker": "categorical",
                            "day": "categorical", "time": "categorical", "size": "numeric"}


def test_digits_as_image_keeps_every_pixel() -> None:
    ref = resolve("digits")
    df = load_dataset(ref)
    assert infer_roles(df, "label")["px_0_0"] == "ignore"  # blank in every image
    schema = build_schema(df, "label", image_shape=ref.image_shape)
    assert len(schema.features) == 64 and schema.image_shape == (1, 8, 8)
    assert schema.classes == tuple(str(d) for d in range(10))


@pytest.mark.parametrize("values, task", [
    (["a", "b"] * 50, "binary"),
    (["a", "b", "c"] * 50, "multiclass"),
    ([0, 1] * 10, "binary"),
    ([True, False] * 10, "binary"),
    (list(range(10)) * 100, "multiclass"),
    ([1.0, 2.0, 3.0, np.nan] * 50, "multiclass"),  # whole numbers read as float because of a gap
    (list(np.linspace(0, 1, 300)), "regression"),
    (list(range(100)) * 3, "regression"),
    (list(range(10)) * 3, "regression"),  # 10 values in 30 rows: a quantity, not classes
])
def test_infer_task(values: list[object], task: str) -> None:
    assert infer_task(pd.Series(values)) == task


def test_infer_roles_ignores_what_cannot_help() -> None:
    n = 100
    rng = np.random.default_rng(0)
    df = pd.DataFrame({
        "id": np.arange(n), "empty": np.nan, "same": "x", "when": pd.date_range("2024-01-01", periods=n),
        "note": [f"free comment {i}" for i in range(n)], "flag": rng.random(n) > 0.5,
        "level": rng.choice(np.array(["lo", "hi"]), n), "amount": rng.normal(size=n),
        "price_text": [str(v) for v in rng.integers(1, 50, n)[:-1]] + ["?"], "y": rng.integers(0, 2, n),
    })
    assert infer_roles(df, "y") == {
        "id": "ignore", "empty": "ignore", "same": "ignore", "when": "ignore", "note": "ignore",
        "flag": "categorical", "level": "categorical", "amount": "numeric", "price_text": "numeric",
    }


def test_user_overrides_win() -> None:
    df = sample("tips")
    schema = build_schema(df, "time", roles={"size": "categorical", "day": "ignore", "time": "numeric"})
    assert schema.task == "binary" and schema.classes == ("Dinner", "Lunch")
    assert schema.roles["size"] == "categorical" and "day" not in schema.features
    regression = build_schema(sample("iris").assign(k=lambda d: (d.index % 4)), "k", task="regression")
    assert regression.task == "regression"


def test_numeric_class_labels_sort_numerically() -> None:
    df = pd.DataFrame({"x": [i % 7 for i in range(120)], "y": [2, 10, 1] * 40})
    assert build_schema(df, "y", task="multiclass").classes == ("1", "2", "10")


@pytest.mark.parametrize("kwargs, message", [
    ({"target": "specis"}, "No column named 'specis' to predict. The columns are 'sepal_length'"),
    ({"target": "species", "task": "regression"}, "Regression needs a numeric target, but 'species' holds text"),
    ({"target": "species", "task": "binary"}, "needs two classes"),
    ({"target": "species", "task": "ordinal"}, "Unknown task"),
    ({"target": "species", "roles": dict.fromkeys(
        ["sepal_length", "sepal_width", "petal_length", "petal_width"], "ignore")}, "No column is left"),
    ({"target": "species", "roles": {"petal": "numeric"}}, "no such column"),
    ({"target": "species", "roles": {"petal_width": "number"}}, "Unknown role 'number'"),
])
def test_refusals_on_iris(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(DataError, match=message):
        build_schema(sample("iris"), **kwargs)  # type: ignore[arg-type]


def test_single_class_and_text_as_numeric_are_refused() -> None:
    df = pd.DataFrame({"x": range(20), "name": ["ann", "bob"] * 10, "y": ["a"] * 20})
    with pytest.raises(DataError, match="only one class"):
        build_schema(df, "y")
    with pytest.raises(DataError, match="Column 'name' holds text such as 'ann', so it cannot be numeric"):
        build_schema(df.assign(y=[0, 1] * 10), "y", roles={"name": "numeric"})


def test_image_shape_must_match_pixel_count() -> None:
    df = load_dataset(resolve("digits"))
    with pytest.raises(DataError, match="needs 16 numeric pixel columns"):
        build_schema(df, "label", image_shape=(1, 4, 4))


def test_round_trip_through_json() -> None:
    ref = resolve("digits")
    schema = build_schema(load_dataset(ref), "label", image_shape=ref.image_shape)
    again = Schema.from_dict(json.loads(json.dumps(schema.to_dict())))
    assert again == schema and again.features == schema.features
    with pytest.raises(DataError):
        Schema.from_dict({"target": "y"})
    with pytest.raises(AttributeError):
        schema.task = "binary"  # type: ignore[misc]


def test_running_numbers_are_ignored_but_clock_cycles_are_not() -> None:
    n = 240
    groups = np.concatenate([np.arange(1, 101), np.arange(1, 61), np.arange(1, 81)])  # restarts, tops differ
    frame = pd.DataFrame({
        "specimen": groups,  # counts up with varying tops: a sample number, whatever its name
        "obs_no": np.tile(np.arange(1, 61), 4),  # equal groups, but the name says it is a number
        "hour": np.tile(np.arange(24), n // 24),  # a clock: climbs to 23 every time
        "year": np.tile(np.arange(1990, 2050), 4),  # a panel of the same years per country
        "y": np.tile([0, 1], n // 2),
    })
    roles = infer_roles(frame, "y")
    assert roles == {"specimen": "ignore", "obs_no": "ignore", "hour": "numeric", "year": "numeric"}
    codes = {c.column: c.code for c in run_checks(frame, "y")}
    assert codes.get("specimen") == "counter" and codes.get("obs_no") == "counter"
    assert "hour" not in codes and "year" not in codes
