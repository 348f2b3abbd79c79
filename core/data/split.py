"""Seeded train/validation/test split, stratified by class when the classes allow it, and split files.

A run's split is saved next to it (`split.json`: the row numbers of train, val and test), so
explanations and exports read the very rows it trained and was tested on; cross-validation
keeps all its folds in one file (`folds.json`) in the parent run's folder.
"""
from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from core.atomic import write_atomic
from core.data.columns import as_labels
from core.errors import DataError
from core.vocab import is_classification

log = logging.getLogger(__name__)

MIN_ROWS = 10
SPLIT_FILE = "split.json"  # in a run's folder
FOLDS_FILE = "folds.json"  # in a cross-validation parent's folder
_PARTS = ("train", "val", "test")


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
    rest, test = hold_out(rows, labels, test_fraction, seed)
    rest_labels = None if labels is None else labels[rest]
    # The validation share is of all rows, so rescale it to the rows left after the test split.
    train, val = hold_out(rest, rest_labels, val_fraction / (1 - test_fraction), seed)
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


def hold_out(rows: np.ndarray, labels: np.ndarray | None, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(kept, held out) of `rows`, `fraction` of them held out, stratified by `labels` where they allow it.

    The one rule for every split here: the test and validation shares of a run, and the
    validation share inside each cross-validation fold."""
    # imported here: sklearn.model_selection costs a second of start-up (scipy.stats with it), which a
    # run that is handed its split (a fold) or only reads a split file never needs
    from sklearn.model_selection import train_test_split

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


# --- split files -------------------------------------------------------------------------------
def save_split(split: Split, path: str | os.PathLike[str]) -> None:
    write_atomic(path, json.dumps({k: getattr(split, k).tolist() for k in _PARTS}))


def load_split(path: str | os.PathLike[str]) -> Split:
    raw = json.loads(Path(path).read_text(encoding="utf-8"))
    return Split(*(np.asarray(raw[k], dtype=np.int64) for k in _PARTS))


def save_folds(folds: Sequence[Split], path: str | os.PathLike[str]) -> None:
    raw = {"k": len(folds), "folds": [{k: getattr(f, k).tolist() for k in _PARTS} for f in folds]}
    write_atomic(path, json.dumps(raw))


def load_folds(path: str | os.PathLike[str]) -> list[Split]:
    raw = json.loads(Path(path).read_text(encoding="utf-8"))
    return [Split(*(np.asarray(f[k], dtype=np.int64) for k in _PARTS)) for f in raw["folds"]]
