"""From a RunConfig to tensors: load, check, split, fit the preprocessor on train only."""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from core.atomic import write_atomic
from core.config import RunConfig
from core.data import (
    Catalog, DatasetRef, Preprocessor, Schema, Split, build_schema, drop_missing_target, load_dataset, run_checks,
    split_indices,
)
from core.errors import ConfigError, DataError
from core.vocab import MODEL_KINDS, check_model_kind, suggested_models

log = logging.getLogger(__name__)


@dataclass
class PreparedData:
    ref: DatasetRef
    frame: pd.DataFrame  # rows with a target, original columns
    schema: Schema
    split: Split
    preprocessor: Preprocessor
    X: dict[str, np.ndarray]  # "train" | "val" | "test" -> float32 (n, d)
    y: dict[str, np.ndarray]  # encoded targets
    warnings: list[str]


def prepare_data(config: RunConfig, catalog: Catalog, split: Split | None = None) -> PreparedData:
    """Everything a run needs before training. `split` overrides the seeded split (cross-validation)."""
    d = config.data
    ref = catalog.resolve(d.source)
    warnings: list[str] = []
    if d.content_hash and d.content_hash != ref.sha256:
        warnings.append(f"the data file has changed since this config was written (hash {ref.sha256[:12]} "
                        f"instead of {d.content_hash[:12]}): results will differ")
    frame = load_dataset(ref)
    if d.target not in frame.columns:
        shown = ", ".join(map(str, list(frame.columns)[:8]))
        raise DataError(f"target column '{d.target}' is not in {ref.name} (columns: {shown}...)")
    frame = drop_missing_target(frame, d.target).reset_index(drop=True)
    schema = build_schema(frame, d.target, task=d.task, roles=dict(d.roles) or None, image_shape=ref.image_shape)
    checks = run_checks(frame, d.target, schema.task, image_shape=ref.image_shape)
    blocking = [c for c in checks if c.level == "error"]
    if blocking:
        raise DataError(f"{blocking[0].message} {blocking[0].advice}".strip())
    check_model_fits(config.model.kind, schema)
    # what the Data page warned about goes with the run, so it is seen where the results are read;
    # a column the run leaves out (an ID, a constant) is no longer its problem
    used = {*schema.features, d.target}
    warnings += [f"data check: {c.message}" for c in checks
                 if c.level == "warning" and (c.column is None or str(c.column) in used)]
    y_raw = frame[d.target]
    split = split or split_indices(y_raw.to_numpy(), schema.task, d.val_fraction, d.test_fraction, config.train.seed)
    pre = Preprocessor(schema).fit(frame.iloc[split.train])
    X, y = {}, {}
    for part in ("train", "val", "test"):
        rows = frame.iloc[getattr(split, part)]
        X[part] = pre.transform(rows)
        y[part] = pre.encode_target(rows[d.target])
    return PreparedData(ref, frame, schema, split, pre, X, y, warnings)


def check_model_fits(kind: str, schema: Schema) -> None:
    info = MODEL_KINDS[check_model_kind(kind)]
    if schema.task not in info.tasks:
        raise ConfigError(f"{info.label} cannot do {schema.task} (target '{schema.target}'); "
                          f"use {suggested_models(schema.task)}")
    if info.needs_image and not schema.image_shape:
        raise ConfigError(f"{info.label} needs image data (such as the digits sample); use mlp for tables")


def save_split(split: Split, path: Path) -> None:
    write_atomic(path, json.dumps({k: getattr(split, k).tolist() for k in ("train", "val", "test")}))


def load_split(path: Path) -> Split:
    raw = json.loads(Path(path).read_text())
    return Split(*(np.asarray(raw[k], dtype=np.int64) for k in ("train", "val", "test")))
