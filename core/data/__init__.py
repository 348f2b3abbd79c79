"""The data layer: find a dataset, load it, profile and check it, describe it, split it, encode it.

    DatasetRef --load--> DataFrame --profile/check--> Schema --split--> Preprocessor.fit(train)
"""
from __future__ import annotations

from core.data.catalog import SAMPLE_DIR, Catalog, DatasetRef, file_sha256, list_samples, resolve
from core.data.checks import Check, run_checks
from core.data.loading import SUPPORTED_SUFFIXES, load_dataset, load_table
from core.data.preprocess import Preprocessor, drop_missing_target
from core.data.profile import ColumnProfile, DataProfile, profile
from core.data.schema import Schema, build_schema, infer_roles, infer_task
from core.data.split import Split, split_indices

__all__ = [
    "SAMPLE_DIR", "SUPPORTED_SUFFIXES", "Catalog", "DatasetRef", "file_sha256", "list_samples", "resolve",
    "load_table", "load_dataset", "ColumnProfile", "DataProfile", "profile", "Check", "run_checks",
    "Schema", "build_schema", "infer_roles", "infer_task", "Split", "split_indices",
    "Preprocessor", "drop_missing_target",
]
