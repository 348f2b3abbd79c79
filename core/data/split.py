"""Seeded train/validation/test split, stratified by class when the classes allow it."""
from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from core.data.columns import as_labels
from core.errors import DataError
from core.vocab import is_classification

log = logging.getLogger(__name__)

MIN_ROWS = 10


@dataclass(frozen=True)
class Split:
    train: np.ndarray  # positional int64 row indices, sorted
    val: np.ndarray
    test: np.ndarray

    def sizes(self) -> dict[str, int]:
        return {"train": len(self.train), "val": len(self.val), "test": len(self.test)}


def split_indices(
    y: pd.Series | np.ndarray,
    task: str,
    val_fraction: float = 0.15,
    test_fraction: float = 0.15,
    seed: int = 0,
) -> Split:
    """Split rows 0..n-1. Same y, fractions and seed give the same indices on every machine."""
    n = len(y)
    if n < MIN_ROWS:
        raise DataError(f"Only {n} rows to split: at least {MIN_ROWS} are needed for training, validation and test.")
    if not (0 < val_fraction < 1 and 0 < test_fraction < 1 and val_fraction + test_fraction < 0.9):
        raise DataError("The validation and test shares must each be above 0 and leave at least 10% of rows "
                        "for training: lower them.")
    rows = np.arange(n, dtype=np.int64)
    labels = None
    if is_classification(task):
        labels = as_labels(pd.Series(np.asarray(y) if not isinstance(y, pd.Series) else y.to_numpy()))
        labels = labels.fillna("<missing>").to_numpy(dtype=str)
    elif task == "regression":
        labels = _quantile_bins(np.asarray(y, dtype=float))
    rest, test = _split(rows, labels, test_fraction, seed)
    rest_labels = None if labels is None else labels[rest]
    # The validation share is of all rows, so rescale it to the rows left after the test split.
    train, val = _split(rest, rest_labels, val_fraction / (1 - test_fraction), seed)
    split = Split(train=np.sort(train), val=np.sort(val), test=np.sort(test))
    log.info("split %d rows: %s (stratified=%s)", n, split.sizes(), labels is not None)
    return split


def _quantile_bins(values: np.ndarray, max_bins: int = 5) -> np.ndarray | None:
    """Target quantiles as strata: on small regression sets a purely random test split can land
    most of the extreme targets on one side and swing the test score by 0.3 r2 between seeds."""
    bins = min(max_bins, len(values) // 20)
    if bins < 2 or not np.isfinite(values).all():
        return None
    edges = np.unique(np.quantile(values, np.linspace(0, 1, bins + 1)[1:-1]))
    return np.searchsorted(edges, values, side="right").astype(str)


def _split(rows: np.ndarray, labels: np.ndarray | None, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    if labels is not None:
        try:
            keep, held = train_test_split(rows, test_size=fraction, random_state=seed, stratify=labels)
            return np.asarray(keep, dtype=np.int64), np.asarray(held, dtype=np.int64)
        except ValueError as exc:
            # A class with one row (or more classes than held-out rows) cannot be stratified. The
            # data checks already warn about rare classes, so this is no news for the console.
            log.info("cannot stratify (%s); splitting without stratification", exc)
    try:
        keep, held = train_test_split(rows, test_size=fraction, random_state=seed)
    except ValueError:
        keep, held = rows[:0], rows[:0]
    if len(keep) == 0 or len(held) == 0:
        raise DataError(f"{len(rows)} rows are too few for these validation and test shares: "
                        "lower the shares or add rows.")
    return np.asarray(keep, dtype=np.int64), np.asarray(held, dtype=np.int64)
