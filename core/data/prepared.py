"""What every data kind's preparer hands a run: arrays per split, the schema, the split, a fitted
preprocessor that saves itself as JSON, and the warnings to show beside the results.

One preparer per data kind (core.vocab.DATA_KINDS) returns this same shape; core.runs.prepare picks
the preparer from the dataset's kind. X may be of any dtype and shape: float32 (n, d) for a table,
uint8 (n, channels, height, width) for images, which stay uint8 until the model's first layer.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd

from core.data.ref import DatasetRef
from core.data.images.preprocess import ImagePreprocessor, is_image_preprocessor
from core.data.preprocess import Preprocessor
from core.data.sequence_encoder import FORMAT as SEQUENCE_FORMAT
from core.data.sequence_encoder import SequencePreprocessor
from core.data.schema import Schema
from core.data.split import Split
from core.errors import ConfigError, DataError
from core.vocab import MODEL_KINDS, check_model_kind, model_takes, suggested_models


class FittedPreprocessor(Protocol):
    """What a run keeps of its data preparation: encodes targets both ways and saves itself as JSON."""

    feature_names: list[str]

    def encode_target(self, y: Any) -> np.ndarray: ...

    def decode_target(self, codes: np.ndarray) -> np.ndarray: ...

    def save(self, path: Path) -> Path: ...


@dataclass
class PreparedData:
    ref: DatasetRef
    frame: pd.DataFrame  # one row per example, with the target column: a table's rows, an image's file
    schema: Schema
    split: Split
    preprocessor: FittedPreprocessor
    X: dict[str, np.ndarray]  # "train" | "val" | "test" -> the model's input, any dtype and shape
    y: dict[str, np.ndarray]  # encoded targets
    warnings: list[str]
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (file, why) left out of image data

    @property
    def data_kind(self) -> str:
        return self.ref.data_kind


def check_model_fits(kind: str, schema: Schema, data_kind: str = "table") -> None:
    """A ConfigError in words when model `kind` cannot learn this task from this kind of data."""
    info = MODEL_KINDS[check_model_kind(kind)]
    if schema.task not in info.tasks:
        raise ConfigError(f"{info.label} cannot do {schema.task} (target '{schema.target}'); "
                          f"use {suggested_models(schema.task)}")
    if not model_takes(kind, data_kind, bool(schema.image_shape)):
        fitting = [MODEL_KINDS[k].kind for k in MODEL_KINDS if model_takes(k, data_kind, bool(schema.image_shape))
                   and schema.task in MODEL_KINDS[k].tasks]
        needs = " or ".join(info.data_kinds)
        raise ConfigError(f"{info.label} needs {needs} data (such as the digits sample for images), and this is "
                          f"{data_kind} data; use {' or '.join(fitting) or 'another model'}")


def load_preprocessor(path: str | Path) -> FittedPreprocessor:
    """A saved preprocessor of any data kind, told apart by the format its JSON names."""
    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise DataError(f"Cannot read the preprocessor file '{Path(path).name}': {exc.strerror}.") from None
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise DataError(f"'{Path(path).name}' is not a valid preprocessor file: export the model again.") from None
    if is_image_preprocessor(raw):
        return ImagePreprocessor.from_dict(raw)
    if isinstance(raw, dict) and raw.get("format") == SEQUENCE_FORMAT:
        return SequencePreprocessor.from_dict(raw)
    return Preprocessor.from_dict(raw)


__all__ = ["FittedPreprocessor", "PreparedData", "check_model_fits", "load_preprocessor"]
