"""The table preparer: load, check, split, fit the preprocessor on the training rows only."""
from __future__ import annotations

from pathlib import Path

from core.config import RunConfig
from core.data.ref import DatasetRef
from core.data.checks import run_checks
from core.data.loading import load_dataset
from core.data.prepared import PreparedData, check_model_fits
from core.data.preprocess import Preprocessor, drop_missing_target
from core.data.schema import build_schema
from core.data.split import Split, split_indices
from core.errors import DataError


def prepare_table(config: RunConfig, ref: DatasetRef, split: Split | None = None,
                  workspace: Path | None = None, fitted: Preprocessor | None = None) -> PreparedData:
    """A CSV/Parquet table (or a sample) as float32 rows. `split` overrides the seeded split (CV).

    `fitted`: a parent run's preprocessor (fine-tuning): its schema and encoding are kept, not refitted,
    so the new rows are encoded as the parent's weights expect; the new data needs its columns only."""
    d = config.data
    frame = load_dataset(ref)
    if d.target not in frame.columns:
        shown = ", ".join(map(str, list(frame.columns)[:8]))
        raise DataError(f"target column '{d.target}' is not in {ref.label} (columns: {shown}...)")
    frame = drop_missing_target(frame, d.target).reset_index(drop=True)
    if fitted is not None:
        return _with_fitted(config, ref, frame, split, fitted)
    schema = build_schema(frame, d.target, task=d.task, roles=dict(d.roles) or None, image_shape=ref.image_shape)
    checks = run_checks(frame, d.target, schema.task, image_shape=ref.image_shape)
    blocking = [c for c in checks if c.level == "error"]
    if blocking:
        raise DataError(f"{blocking[0].message} {blocking[0].advice}".strip())
    check_model_fits(config.model.kind, schema, "table")
    # what the Data page warned about goes with the run, so it is seen where the results are read;
    # a column the run leaves out (an ID, a constant) is no longer its problem
    used = {*schema.features, d.target}
    warnings = [f"data check: {c.message}" for c in checks
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


def _with_fitted(config: RunConfig, ref: DatasetRef, frame, split: Split | None, pre: Preprocessor) -> PreparedData:
    schema = pre.schema
    missing = [c for c in schema.features if c not in frame.columns]
    if missing:
        raise DataError(f"{ref.label} lacks the column(s) {', '.join(map(str, missing[:5]))} that the parent run "
                        "was trained on: fine-tune on data with the same columns")
    if len(frame) < 3:
        raise DataError(f"{ref.label} has {len(frame)} row(s) with a target: fine-tuning needs a few rows for "
                        "training, validation and test")
    y_raw = frame[config.data.target]
    d = config.data
    split = split or split_indices(y_raw.to_numpy(), schema.task, d.val_fraction, d.test_fraction, config.train.seed)
    X, y = {}, {}
    for part in ("train", "val", "test"):
        rows = frame.iloc[getattr(split, part)]
        X[part] = pre.transform(rows)
        y[part] = pre.encode_target(rows[d.target])  # a class the parent never saw is refused in words
    extra = [c for c in frame.columns if c not in schema.features and c != d.target]
    warnings = [f"columns the parent run did not use are left out: {', '.join(map(str, extra[:8]))}"] if extra else []
    return PreparedData(ref, frame, schema, split, pre, X, y, warnings)


__all__ = ["prepare_table"]
