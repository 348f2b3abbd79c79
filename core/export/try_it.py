"""Try a trained model on one row typed in, or one picture dropped in: the form's fields and the answer.

The fields come from the run's schema and fitted preprocessor (never from the data file, which may be
gone): a number starts at its training median, with the training spread as a hint; a category offers
the levels the model knows, starting at the most frequent one. The answer is the prediction with every
class's probability, most likely first, as the prediction server gives it.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from core.data.preprocess import Preprocessor
from core.errors import DataError, WorkbenchError
from core.runs.trained import TrainedModel

@dataclass(frozen=True)
class Field:
    name: str  # the column, as in the user's data
    kind: str  # "number" | "choice"
    default: Any  # the training median, or the most frequent level
    choices: tuple[str, ...] = ()  # a category's known levels, most frequent first
    hint: str = ""  # in words: the training spread, or how many levels

    def value_of(self, value: Any) -> Any:
        """A typed value as the model reads it; a number that is not one raises DataError."""
        if self.kind == "choice":
            return str(value)
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise DataError(f"'{self.name}' needs a number, not '{value}'") from None
        if not np.isfinite(number):
            raise DataError(f"'{self.name}' needs a finite number")
        return number


@dataclass(frozen=True)
class Answer:
    prediction: Any  # a class label or a value in the target's units
    probabilities: dict[str, float] = field(default_factory=dict)  # class -> probability, most likely first

    @property
    def confidence(self) -> float | None:
        return next(iter(self.probabilities.values()), None)


def can_try(trained: TrainedModel) -> str | None:
    """Why this model cannot be tried here (None: it can): a sequence model reads a window of rows."""
    if trained.data_kind == "sequence":
        return ("A sequence model predicts from a window of rows, not one row: send it a window through the "
                "prediction server (the request above shows one).")
    return None


def input_fields(trained: TrainedModel) -> list[Field]:
    """One field per column the model reads, in the schema's order (empty for an image model)."""
    pre = trained.preprocessor
    if trained.data_kind != "table" or not isinstance(pre, Preprocessor):
        return []
    numeric = pre.numeric_ or {}
    fields = []
    for col in pre.schema.features:
        if col in numeric:
            stats = numeric[col]
            low, high = stats.mean - 2 * stats.std, stats.mean + 2 * stats.std
            hint = "" if trained.schema.image_shape else f"most training rows lie between {low:.4g} and {high:.4g}"
            fields.append(Field(col, "number", _round(stats.median), hint=hint))
        else:
            cat = pre.categorical_[col]
            fields.append(Field(col, "choice", cat.fill, tuple(cat.levels),
                                hint=f"{len(cat.levels)} level(s) seen in training; others count as 'other'"))
    return fields


def predict_row(trained: TrainedModel, values: Mapping[str, Any]) -> Answer:
    """The model's answer for one row of `values` (column -> value); columns left out take their default."""
    fields = input_fields(trained)
    if not fields:
        raise WorkbenchError("this model does not take a typed row: give it a picture")
    row = {f.name: f.value_of(values.get(f.name, f.default)) for f in fields}
    frame = pd.DataFrame([row], columns=[f.name for f in fields])
    for f in fields:  # a category's column must hold text, as the training data's did
        if f.kind == "choice":
            frame[f.name] = frame[f.name].astype(object)
    return _answer(trained, trained.predict_frame(frame))


def predict_picture(trained: TrainedModel, data: bytes) -> Answer:
    """The model's answer for one image file (bytes), decoded as the training images were."""
    return _answer(trained, trained.predict_images([data]))


def _answer(trained: TrainedModel, table: pd.DataFrame) -> Answer:
    first = table.iloc[0]
    if trained.task == "regression":
        return Answer(float(first["prediction"]))
    proba = {c[len("proba_"):]: float(first[c]) for c in table.columns if c.startswith("proba_")}
    return Answer(str(first["prediction"]), dict(sorted(proba.items(), key=lambda kv: -kv[1])))


def _round(x: float) -> float:
    """A starting value a person would type: four significant digits."""
    return float(f"{x:.4g}")


__all__ = ["Field", "Answer", "can_try", "input_fields", "predict_row", "predict_picture"]
