"""From a RunConfig to arrays: one preparer per data kind, chosen from the dataset's kind.

    table     core.data.prepare_table   rows of columns (CSV, Parquet, the samples)
    image     core.data.images.prepare  a zip or folder of class folders, decoded once and cached in
                                        the workspace (hence the preparer's `workspace` argument)
    sequence  core.data.prepare_sequence  a table read as windows or sequences (RunConfig.sequence)

Each returns the same PreparedData (core.data.prepared), so training, evaluation and export never
ask which kind of data they were given.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Callable

from core.config import RunConfig
from core.data import Catalog, DatasetRef, Split
from core.data.images.prepare import prepare_images
from core.data.prepare_sequence import prepare_sequences
from core.data.prepare_table import prepare_table
from core.data.prepared import FittedPreprocessor, PreparedData, check_model_fits
from core.data.preprocess import Preprocessor
from core.errors import DataError

log = logging.getLogger(__name__)

# preparer(config, ref, split or None, workspace) -> PreparedData
Preparer = Callable[[RunConfig, DatasetRef, "Split | None", Path], PreparedData]
PREPARERS: dict[str, Preparer] = {"table": prepare_table, "image": prepare_images,
                                 "sequence": prepare_sequences}


def prepare_data(config: RunConfig, catalog: Catalog, split: Split | None = None,
                 fitted: FittedPreprocessor | None = None) -> PreparedData:
    """Everything a run needs before training. `split` overrides the seeded split (cross-validation).

    `fitted`: a parent run's preprocessor, kept instead of fitting a new one (fine-tuning a table; other
    kinds of data fit their own, and core.runs.warm_start checks that the shapes agree)."""
    ref = catalog.resolve(config.data.source)
    # any table becomes sequences when the config says how (its time column, series id, window)
    data_kind = "sequence" if config.sequence is not None else ref.data_kind
    preparer = PREPARERS.get(data_kind)
    if preparer is None:
        raise DataError(f"{ref.label} holds {data_kind} data, which this version cannot train on yet")
    if fitted is not None and data_kind == "table" and isinstance(fitted, Preprocessor):
        prepared = prepare_table(config, ref, split, catalog.workspace, fitted=fitted)
    else:
        prepared = preparer(config, ref, split, catalog.workspace)
    # whether the file is still the one the config names is the caller's to tell (core.runs.content_hash)
    return prepared


__all__ = ["PREPARERS", "PreparedData", "check_model_fits", "prepare_data"]
