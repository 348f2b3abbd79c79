"""Turn a DataFrame into the float32 matrix a model eats, with statistics learned on train rows only.

The fitted state is plain numbers and strings, saved as JSON (never pickle), so it can travel
with an exported model and be read back safely anywhere.
"""
from __future__ import annotations

import json
import logging
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from core.data.columns import as_labels, numeric_values, shown
from core.data.counts import BLOCK_VALUES, is_number_dtype
from core.atomic import write_atomic
from core.data.schema import Schema
from core.errors import DataError

log = logging.getLogger(__name__)

FORMAT = "workbench.preprocessor"
VERSION = 1
OTHER = "(other)"  # the one-hot slot for rare and unseen levels; parentheses so no real level clashes
CLIP = 1e6  # standardised inputs beyond this many standard deviations are clipped (never inf)


@dataclass
class NumericStats:
    median: float  # fills gaps (and +/-inf)
    mean: float  # subtracted, then divided by std; for images mean 0 and std = train max
    std: float


@dataclass
class CategoricalStats:
    fill: str  # most frequent train level, fills gaps
    levels: list[str]  # levels with their own one-hot slot, most frequent first; the rest -> OTHER


class Preprocessor:
    def __init__(self, schema: Schema, max_onehot: int = 30) -> None:
        self.schema = schema
        self.max_onehot = max_onehot
        self.numeric_: dict[str, NumericStats] | None = None
        self.categorical_: dict[str, CategoricalStats] = {}
        self.target_mean_ = 0.0
        self.target_std_ = 1.0

    # --- fit / transform ---------------------------------------------------------
    def fit(self, df_train: pd.DataFrame) -> Preprocessor:
        """Learn fill values, scales and levels from the training rows only."""
        _require_columns(df_train, self.schema.features)
        numeric: dict[str, NumericStats] = {}
        categorical: dict[str, CategoricalStats] = {}
        peak = 0.0
        for names, block in _numeric_blocks(df_train, self._numeric_columns()):
            with warnings.catch_warnings(), np.errstate(over="ignore"):
                warnings.simplefilter("ignore", RuntimeWarning)  # an all-missing column: its median is 0
                medians = np.where(np.isfinite(block).any(axis=0), np.nanmedian(block, axis=0), 0.0)
                # The median of two middle values near 1e308 overflows; halve them first there.
                for j in np.flatnonzero(~np.isfinite(medians)):
                    medians[j] = float(np.nanmedian(block[:, j] / 2)) * 2
                peak = max(peak, float(np.nanmax(block, initial=0.0)))
            for j, col in enumerate(names):
                filled = np.where(np.isnan(block[:, j]), medians[j], block[:, j])
                numeric[col] = NumericStats(float(medians[j]), *_mean_std(filled))
        for col in self.schema.features:
            if self.schema.roles[col] != "numeric":
                counts = as_labels(df_train[col]).value_counts()
                ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))  # ties: alphabetical, stable
                levels = [str(level) for level, _ in ranked[: self.max_onehot]]
                categorical[col] = CategoricalStats(fill=levels[0] if levels else OTHER, levels=levels)
        if self.schema.image_shape:
            # One scale for the whole image, so the model sees pixels in [0, 1] as an image,
            # not 64 separately standardised columns.
            peak = peak if peak > 0 else 1.0
            numeric = {c: NumericStats(s.median, 0.0, peak) for c, s in numeric.items()}
        self.numeric_, self.categorical_ = numeric, categorical
        if self.schema.task == "regression":
            if self.schema.target not in df_train.columns:
                raise DataError(f"The training data has no target column '{self.schema.target}'.")
            y = numeric_values(df_train[self.schema.target])
            y = y[np.isfinite(y)]
            if y.size:
                self.target_mean_, self.target_std_ = _mean_std(y)
        log.info("preprocessor fitted: %d columns -> %d inputs", len(self.schema.features), len(self.feature_names))
        return self

    def transform(self, df: pd.DataFrame) -> np.ndarray:
        """(rows, len(feature_names)) float32; unseen levels go to the column's OTHER slot."""
        numeric = self._fitted()
        _require_columns(df, self.schema.features)
        out = np.zeros((len(df), len(self.feature_names)), dtype=np.float32)
        rows = np.arange(len(df))
        groups = self.feature_groups
        for names, block in _numeric_blocks(df, self._numeric_columns()):
            stats = [numeric[col] for col in names]
            filled = np.where(np.isnan(block), np.array([s.median for s in stats]), block)
            out[:, [groups[col][0] for col in names]] = _standardise(
                filled, np.array([s.mean for s in stats]), np.array([s.std for s in stats]))
        for col, idx in groups.items():
            if col not in numeric:
                cat = self.categorical_[col]
                labels = as_labels(df[col]).fillna(cat.fill)
                codes = pd.Index(cat.levels, dtype=object).get_indexer(labels.to_numpy()).astype(np.int64)
                codes[codes < 0] = len(cat.levels)  # unseen or rare -> OTHER
                out[rows, np.asarray(idx)[codes]] = 1.0
        return out

    def _numeric_columns(self) -> list[str]:
        return [col for col in self.schema.features if self.schema.roles[col] == "numeric"]

    def fit_transform(self, df_train: pd.DataFrame) -> np.ndarray:
        return self.fit(df_train).transform(df_train)

    # --- target ------------------------------------------------------------------
    def encode_target(self, y: pd.Series | np.ndarray) -> np.ndarray:
        """Class index (int64) into schema.classes, or the standardised value (float32)."""
        y = y if isinstance(y, pd.Series) else pd.Series(np.asarray(y))
        if self.schema.classes is None:
            values = numeric_values(y)
            if np.isnan(values).any():
                raise DataError(f"The target has {int(np.isnan(values).sum())} missing or non-numeric values: "
                                "drop those rows first.")
            return _standardise(values, self.target_mean_, self.target_std_)
        labels = as_labels(y)
        if labels.isna().any():
            raise DataError(f"The target has {int(labels.isna().sum())} missing values: drop those rows first.")
        index = {label: i for i, label in enumerate(self.schema.classes)}
        codes = labels.map(index)
        if codes.isna().any():
            unseen = ", ".join(f"'{shown(v)}'" for v in labels[codes.isna()].unique()[:3])
            known = ", ".join(f"'{shown(c)}'" for c in self.schema.classes[:10])
            raise DataError(f"The target has classes the model does not know ({unseen}); it knows {known}.")
        return np.asarray(codes.to_numpy(dtype=np.int64))

    def decode_target(self, arr: np.ndarray) -> np.ndarray:
        """Class labels from indices (or from 2-D scores, by argmax), or values in the target's units."""
        a = np.asarray(arr)
        if self.schema.classes is None:
            return a.astype(np.float64) * self.target_std_ + self.target_mean_
        if a.ndim == 2:
            a = a.argmax(axis=1)
        return np.asarray(self.schema.classes, dtype=object)[a.astype(np.int64)]

    @property
    def target_scale(self) -> tuple[float, float]:
        """(mean, std) that encode_target used; (0, 1) for classification."""
        return (self.target_mean_, self.target_std_)

    # --- encoded layout ----------------------------------------------------------
    @property
    def feature_names(self) -> list[str]:
        """Encoded input names: a numeric column keeps its name; a categorical one gives 'col=level'."""
        numeric = self._fitted()
        names: list[str] = []
        for col in self.schema.features:
            if col in numeric:
                names.append(col)
            else:
                names.extend(f"{col}={level}" for level in [*self.categorical_[col].levels, OTHER])
        return names

    @property
    def feature_groups(self) -> dict[str, list[int]]:
        """Original column -> its encoded input indices, so explanations can sum one-hot parts back."""
        numeric = self._fitted()
        groups: dict[str, list[int]] = {}
        start = 0
        for col in self.schema.features:
            width = 1 if col in numeric else len(self.categorical_[col].levels) + 1
            groups[col] = list(range(start, start + width))
            start += width
        return groups

    # --- persistence (JSON, never pickle) ------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        numeric = self._fitted()
        return {
            "format": FORMAT, "version": VERSION, "schema": self.schema.to_dict(), "max_onehot": self.max_onehot,
            "numeric": {c: asdict(s) for c, s in numeric.items()},
            "categorical": {c: asdict(s) for c, s in self.categorical_.items()},
            "target": {"mean": self.target_mean_, "std": self.target_std_},
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Preprocessor:
        if not isinstance(raw, Mapping) or raw.get("format") != FORMAT or raw.get("version") != VERSION:
            raise DataError("This is not a preprocessor saved by this version of Workbench: export the model again.")
        try:
            pre = cls(Schema.from_dict(raw["schema"]), max_onehot=int(raw["max_onehot"]))
            pre.numeric_ = {str(c): NumericStats(**s) for c, s in raw["numeric"].items()}
            pre.categorical_ = {str(c): CategoricalStats(str(s["fill"]), [str(v) for v in s["levels"]])
                                for c, s in raw["categorical"].items()}
            pre.target_mean_, pre.target_std_ = float(raw["target"]["mean"]), float(raw["target"]["std"])
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise DataError(f"The saved preprocessor is damaged ({exc}): export the model again.") from None
        if set(pre.numeric_) | set(pre.categorical_) != set(pre.schema.features):
            raise DataError("The saved preprocessor does not match its schema: export the model again.")
        return pre

    def save(self, path: str | Path) -> Path:
        text = json.dumps(self.to_dict(), indent=2, allow_nan=False)
        return write_atomic(path, text.encode("utf-8"))

    @classmethod
    def load(cls, path: str | Path) -> Preprocessor:
        try:
            raw = json.loads(Path(path).read_text(encoding="utf-8"))
        except OSError as exc:
            raise DataError(f"Cannot read the preprocessor file '{Path(path).name}': {exc.strerror}.") from None
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise DataError(f"'{Path(path).name}' is not a valid preprocessor file: export the model again.") from None
        return cls.from_dict(raw)

    def _fitted(self) -> dict[str, NumericStats]:
        if self.numeric_ is None:
            raise RuntimeError("Preprocessor.fit() must run before transform or the encoded layout")
        return self.numeric_


def drop_missing_target(df: pd.DataFrame, target: str) -> pd.DataFrame:
    """Rows whose target is present (and finite, for numbers), renumbered 0..n-1 for positional splits."""
    if target not in df.columns:
        raise DataError(f"No column named '{shown(target)}' to predict: choose the target among the data's columns.")
    y = df[target]
    keep = y.notna().to_numpy()
    if pd.api.types.is_numeric_dtype(y.dtype) and not pd.api.types.is_bool_dtype(y.dtype):
        keep = keep & np.isfinite(numeric_values(y))
    dropped = int((~keep).sum())
    if dropped:
        log.info("dropped %d rows with a missing target '%s'", dropped, target)
    return df.loc[keep].reset_index(drop=True)


def _require_columns(df: pd.DataFrame, columns: list[str]) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        names = ", ".join(f"'{c}'" for c in missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        raise DataError(f"The data lacks the column {names} that the model was trained with: add it back "
                        "(empty values are fine).")


def _numeric_blocks(df: pd.DataFrame, columns: list[str]) -> Iterator[tuple[list[str], np.ndarray]]:
    """(names, float64 values with NaN for missing and +/-inf, one contiguous column each) for
    blocks of columns: a column-by-column loop through pandas takes seconds on 10,000 columns."""
    dtypes = dict(zip(df.columns, df.dtypes))
    step = max(1, BLOCK_VALUES // max(len(df), 1))
    for start in range(0, len(columns), step):
        names = columns[start:start + step]
        block = np.empty((len(df), len(names)), dtype=np.float64, order="F")
        direct = [j for j, col in enumerate(names) if is_number_dtype(dtypes[col])]
        if direct:
            block[:, direct] = df[[names[j] for j in direct]].to_numpy(dtype="float64", na_value=np.nan)
        for j in sorted(set(range(len(names))) - set(direct)):
            block[:, j] = numeric_values(df[names[j]])  # numbers stored as text, booleans
        block[~np.isfinite(block)] = np.nan
        yield names, block


def _mean_std(values: np.ndarray) -> tuple[float, float]:
    """Mean and std that stay finite for values near the float64 limit (1e308: their sum overflows);
    only then are they computed on values scaled by the largest magnitude."""
    if not values.size:
        return 0.0, 1.0
    with np.errstate(over="ignore", invalid="ignore"):
        mean, std = float(values.mean()), float(values.std())
        if not (np.isfinite(mean) and np.isfinite(std)):
            scale = float(np.abs(values).max())
            scaled = values / scale
            mean, std = float(scaled.mean()) * scale, float(scaled.std()) * scale
    return mean, (std if np.isfinite(std) and std > 1e-12 else 1.0)  # constant: avoid dividing by 0


def _standardise(values: np.ndarray, mean: float, std: float) -> np.ndarray:
    """(values - mean) / std as float32, without overflow: a value far outside the training range
    (an unseen 1e308) is clipped to +/-CLIP standard deviations instead of becoming inf."""
    with np.errstate(over="ignore", invalid="ignore"):
        z = (values - mean) / std
    return np.clip(np.nan_to_num(z, nan=0.0, posinf=CLIP, neginf=-CLIP), -CLIP, CLIP).astype(np.float32)
