"""What to predict and from what: the target, the task, and a role for every other column."""
from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd
from pandas.api import types as ptypes

from core.data.columns import as_labels, column_kind, is_integral, looks_like_id, numeric_like, shown, sort_labels
from core.data.counts import column_counts
from core.data.text_checks import looks_like_dates
from core.errors import DataError
from core.vocab import ROLES, TASKS

log = logging.getLogger(__name__)

MAX_CLASSIFICATION_LEVELS = 20  # more distinct integers than this reads as a quantity
MAX_CLASSES = 200  # beyond this a "class" column is almost surely continuous or an ID


@dataclass(frozen=True)
class Schema:
    target: str
    task: str  # binary | multiclass | regression
    roles: dict[str, str]  # every non-target column -> numeric | categorical | ignore
    classes: tuple[str, ...] | None  # sorted class labels as strings; None for regression
    image_shape: tuple[int, ...] | None = None

    @property
    def features(self) -> list[str]:
        """Columns the model sees, in frame order."""
        return [col for col, role in self.roles.items() if role != "ignore"]

    @property
    def n_classes(self) -> int:
        """Number of classes; 0 for regression."""
        return len(self.classes) if self.classes else 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.target, "task": self.task, "roles": dict(self.roles),
            "classes": list(self.classes) if self.classes is not None else None,
            "image_shape": list(self.image_shape) if self.image_shape else None,
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Schema:
        try:
            classes, shape = raw.get("classes"), raw.get("image_shape")
            schema = cls(
                target=str(raw["target"]), task=str(raw["task"]),
                roles={str(k): str(v) for k, v in dict(raw["roles"]).items()},
                classes=tuple(str(c) for c in classes) if classes is not None else None,
                image_shape=tuple(int(v) for v in shape) if shape else None,
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise DataError(f"The saved schema is incomplete or damaged ({exc}): train the model again.") from None
        if schema.task not in TASKS or any(r not in ROLES for r in schema.roles.values()):
            raise DataError("The saved schema has an unknown task or column role: train the model again.")
        return schema


def infer_task(y: pd.Series) -> str:
    """Text, booleans and small sets of whole numbers are classes; other numbers are regression."""
    present = y.dropna()
    unique = int(present.nunique())
    if ptypes.is_bool_dtype(present.dtype) or not ptypes.is_numeric_dtype(present.dtype):
        return "binary" if unique <= 2 else "multiclass"
    if unique <= 2:
        return "binary"  # 0/1, 1/2, -1/1: two values are two classes whatever the row count
    few = unique <= MAX_CLASSIFICATION_LEVELS and unique <= max(5, 0.05 * len(present))
    return "multiclass" if few and is_integral(present) else "regression"


def infer_roles(df: pd.DataFrame, target: str) -> dict[str, str]:
    """A default role per non-target column; ignore what cannot help (IDs, constants, dates, free text)."""
    roles: dict[str, str] = {}
    for col, counts in zip(df.columns, column_counts(df, top=False), strict=True):
        if col == target:
            continue
        roles[col] = _default_role(df[col], counts.unique, counts.counter)
    return roles


def _default_role(s: pd.Series, unique: int, counter: bool = False) -> str:
    if unique <= 1 or counter or looks_like_id(s, unique):
        return "ignore"  # all missing, constant, a key or a running number: nothing to learn from
    kind = column_kind(s, unique)
    if kind == "numeric":
        return "numeric"
    if kind == "boolean":
        return "categorical"
    if kind in ("categorical", "text"):
        if numeric_like(s):
            return "numeric"  # numbers stored as text, e.g. a few "?" among them
        if looks_like_dates(s):
            return "ignore"  # dates as text: as for a datetime column, each date would be its own category
        return "categorical" if kind == "categorical" else "ignore"  # free text: too many levels
    return "ignore"  # datetime: the models take no dates; a user can derive features from them


def build_schema(
    df: pd.DataFrame,
    target: str,
    task: str | None = None,
    roles: Mapping[str, str] | None = None,
    image_shape: tuple[int, ...] | None = None,
) -> Schema:
    """Inferred task and roles with the user's choices on top; DataError when training cannot work."""
    if target not in df.columns:
        names = ", ".join(f"'{c}'" for c in list(df.columns)[:8])
        more = f" (and {df.shape[1] - 8} more)" if df.shape[1] > 8 else ""
        raise DataError(f"No column named '{shown(target)}' to predict. The columns are {names}{more}.")
    y = df[target]
    present = y.dropna()
    if present.empty:
        raise DataError(f"The target '{target}' is empty in every row: choose another target column.")
    task = task or infer_task(y)
    if task not in TASKS:
        raise DataError(f"Unknown task '{shown(task)}': choose binary, multiclass or regression.")
    classes = _classes(y, target, task)
    chosen = _roles(df, target, roles or {}, image_shape)
    if not any(role != "ignore" for role in chosen.values()):
        raise DataError("No column is left to learn from: every column other than the target is ignored. "
                        "Set at least one column's role to numeric or categorical.")
    shape = tuple(int(v) for v in image_shape) if image_shape else None
    schema = Schema(target=target, task=task, roles=chosen, classes=classes, image_shape=shape)
    log.info("schema: target=%s task=%s features=%d", target, task, len(schema.features))
    return schema


def _classes(y: pd.Series, target: str, task: str) -> tuple[str, ...] | None:
    present = y.dropna()
    if task == "regression":
        if ptypes.is_bool_dtype(present.dtype) or not ptypes.is_numeric_dtype(present.dtype):
            example = present.astype(str).iloc[0]
            raise DataError(f"Regression needs a numeric target, but '{target}' holds text such as "
                            f"'{shown(example)}': choose binary or multiclass, or another target.")
        if present.nunique() < 2:
            raise DataError(f"The target '{target}' has the same value in every row: there is nothing to predict.")
        return None
    labels = set(as_labels(present))
    if len(labels) < 2:
        raise DataError(f"The target '{target}' has only one class ('{shown(next(iter(labels)))}'): "
                        "a classifier needs at least two. Choose another target or add rows of other classes.")
    if task == "binary" and len(labels) > 2:
        raise DataError(f"Binary classification needs two classes, but '{target}' has {len(labels)}: "
                        "choose multiclass.")
    if len(labels) > MAX_CLASSES:
        raise DataError(f"'{target}' has {len(labels)} different values, too many to be classes: "
                        "choose regression, or another target.")
    numeric = ptypes.is_numeric_dtype(present.dtype) and not ptypes.is_bool_dtype(present.dtype)
    return tuple(sort_labels(labels, numeric))


def _roles(df: pd.DataFrame, target: str, overrides: Mapping[str, str],
           image_shape: tuple[int, ...] | None) -> dict[str, str]:
    if image_shape:
        # Every pixel is a feature, even the ones that are blank in all images (digits' corners):
        # dropping them would break the image's shape.
        chosen = {col: "numeric" for col in df.columns if col != target}
    else:
        chosen = infer_roles(df, target)
    for col, role in overrides.items():
        if col == target:
            continue  # a role for the target is meaningless; UIs may send one anyway
        if col not in chosen:
            raise DataError(f"A role was given for '{shown(col)}', but the data has no such column: "
                            "check the column name.")
        if role not in ROLES:
            raise DataError(f"Unknown role '{shown(role)}' for '{col}': use numeric, categorical or ignore.")
        if role == "numeric" and not _can_be_numeric(df[col]):
            example = df[col].dropna().astype(str).iloc[0]
            raise DataError(f"Column '{col}' holds text such as '{shown(example)}', so it cannot be numeric: "
                            "make it categorical or ignore it.")
        chosen[col] = role
    if image_shape:
        _check_image(df, chosen, image_shape)
    return chosen


def _can_be_numeric(s: pd.Series) -> bool:
    if ptypes.is_numeric_dtype(s.dtype) or ptypes.is_bool_dtype(s.dtype) or s.dropna().empty:
        return True
    return numeric_like(s, share=0.95)


def _check_image(df: pd.DataFrame, roles: dict[str, str], image_shape: tuple[int, ...]) -> None:
    pixels = [c for c, r in roles.items() if r != "ignore"]
    need = math.prod(int(v) for v in image_shape)
    if len(pixels) != need or any(r != "numeric" for r in roles.values() if r != "ignore"):
        raise DataError(f"An image of shape {list(image_shape)} needs {need} numeric pixel columns, "
                        f"but {len(pixels)} columns are features: keep every pixel column numeric.")
    text = [c for c in pixels if not ptypes.is_numeric_dtype(df[c].dtype)]
    if text:
        raise DataError(f"Pixel column '{text[0]}' holds text: image pixels must be numbers.")
