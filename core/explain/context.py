"""A completed run ready to be explained: its model, its data rows, and the words for its outputs.

Rows are numbered as in predictions.parquet's `row`: positions in the dataset
after rows without a target were dropped, the numbering the run's split uses.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from core.config import DataConfig
from core.data import Catalog, DatasetRef, Split, drop_missing_target, load_dataset
from core.data.images.dataset import DecodeOptions, load_images
from core.data.images.prepare import FILE, TARGET
from core.data.split import SPLIT_FILE, load_split
from core.errors import WorkbenchError
from core.evaluation import outputs_to_proba
from core.explain.rows import completed
from core.runs.content_hash import data_changed
from core.runs.store import RunStore
from core.runs.trained import TrainedModel
from core.training.device import resolve_device

log = logging.getLogger(__name__)

SPACES = ("logit", "probability", "value")


@dataclass
class RunContext:
    run_id: str
    run_dir: Path
    trained: TrainedModel
    frame: pd.DataFrame  # every row with a target, original columns
    split: Split
    warnings: list[str] = field(default_factory=list)
    images: np.ndarray | None = None  # image runs: every image as (n, C, H, W) uint8; frame holds file + label

    @classmethod
    def load(cls, store: RunStore, catalog: Catalog, run_id: str, device: str = "auto") -> "RunContext":
        record = completed(store, run_id)
        run_dir = store.run_dir(record.run_id)
        trained = TrainedModel.load(run_dir, device=str(resolve_device(device)))
        data = trained.config.data
        ref = catalog.resolve(data.source)
        warnings = []
        if data_changed(data.content_hash, ref):
            warnings.append(f"the data file of {record.name} has changed since training: explanations use the "
                            "current file")
        images = None
        if trained.data_kind == "image":
            frame, images = _image_rows(trained, ref, catalog, data)
        else:
            frame = drop_missing_target(load_dataset(ref), data.target).reset_index(drop=True)
        split = load_split(run_dir / SPLIT_FILE)
        if len(split.train) and int(max(split.train.max(), split.test.max(), split.val.max())) >= len(frame):
            raise WorkbenchError(f"the data of {record.name} has fewer rows than when it was trained: "
                                 "train the run again on this file")
        return cls(record.run_id, run_dir, trained, frame, split, warnings, images)

    # --- the model's layout -------------------------------------------------
    @property
    def task(self) -> str:
        return self.trained.task

    @property
    def columns(self) -> list[str]:
        """The user's feature columns, in the order the model saw them."""
        return list(self.trained.preprocessor.feature_groups)

    @property
    def feature_names(self) -> list[str]:
        return self.trained.preprocessor.feature_names

    @property
    def groups(self) -> dict[str, list[int]]:
        return self.trained.preprocessor.feature_groups

    @property
    def image_shape(self) -> tuple[int, ...] | None:
        return self.trained.schema.image_shape

    @property
    def data_kind(self) -> str:
        return self.trained.data_kind

    @property
    def model_kind(self) -> str:
        return str(self.trained.meta["kind"])

    @property
    def device(self) -> torch.device:
        return self.trained.device

    @property
    def classes(self) -> list[str]:
        return [str(c) for c in self.trained.schema.classes or []]

    def output_labels(self, space: str) -> list[str]:
        """One label per explained output: the class it scores, or the target."""
        if self.task == "regression":
            return [self.trained.schema.target]
        if self.task == "binary" and space == "logit":
            return [self.classes[1]]  # the one logit scores the second class
        return self.classes

    def default_space(self) -> str:
        return "value" if self.task == "regression" else "logit"

    # --- data ----------------------------------------------------------------
    def encode(self, rows: np.ndarray | list[int]) -> np.ndarray:
        """The model's inputs for rows, flat (n, d): encoded columns, or an image's raw pixel values."""
        idx = np.asarray(rows, dtype=np.int64)
        if self.images is not None:
            return self.images[idx].reshape(len(idx), -1).astype(np.float32)
        return self.trained.preprocessor.transform(self.frame.iloc[idx])

    def features(self, rows: np.ndarray | list[int]) -> pd.DataFrame:
        """The rows' original feature values (an image's pixels, 0-255), indexed by row number."""
        if self.images is not None:
            return pd.DataFrame(self.encode(rows).astype(np.float64), columns=self.columns,
                                index=np.asarray(rows, dtype=np.int64))
        part = self.frame.iloc[np.asarray(rows, dtype=np.int64)][self.columns]
        return part.set_axis(np.asarray(rows, dtype=np.int64), axis=0)

    def background_rows(self, size: int, seed: int) -> np.ndarray:
        """A seeded sample of training rows: the reference the explanation compares against."""
        train = np.sort(self.split.train)
        if len(train) <= size:
            return train
        return np.sort(np.random.default_rng(seed).choice(train, size=size, replace=False))

    def check_rows(self, rows: list[int]) -> list[int]:
        bad = [r for r in rows if r < 0 or r >= len(self.frame)]
        if bad:
            raise WorkbenchError(f"row {bad[0]} is not in the data (rows 0 to {len(self.frame) - 1})")
        if not rows:
            raise WorkbenchError("no rows to explain: pick at least one row")
        return [int(r) for r in rows]

    # --- the predict functions every explainer shares -----------------------------
    def raw(self, X: np.ndarray) -> np.ndarray:
        """Raw outputs for encoded rows: logits, or the standardised value (n, K)."""
        return self.trained.outputs(X).astype(np.float64)

    def in_space(self, X: np.ndarray, space: str) -> np.ndarray:
        """Outputs for encoded rows in an output space: logit, probability, or value in the target's units."""
        out = self.raw(X)
        if space == "value":
            mean, std = self.trained.preprocessor.target_scale
            return out * std + mean
        if space == "probability":
            return outputs_to_proba(self.task, out)
        return out

    def predict_frame(self, frame: pd.DataFrame, space: str) -> np.ndarray:
        """The same function on rows with the user's columns (LIME and PDP feed it)."""
        if self.images is not None:  # an image's columns are its raw pixels: the model's own input
            return self.in_space(frame[self.columns].to_numpy(dtype=np.float32), space)
        return self.in_space(self.trained.preprocessor.transform(frame), space)

    def value_scale(self, space: str) -> tuple[float, float]:
        """(offset, factor) from a raw output to `space`, for spaces linear in the raw output."""
        if space == "value":
            mean, std = self.trained.preprocessor.target_scale
            return mean, std
        return 0.0, 1.0


def _image_rows(trained: TrainedModel, ref: DatasetRef, catalog: Catalog,
                data: DataConfig) -> tuple[pd.DataFrame, np.ndarray]:
    """An image run's examples, decoded as for training (the workspace's cache makes this one np.load)."""
    ds = load_images(ref.path, ref.sha256, DecodeOptions(data.image_size, data.image_color), catalog.workspace,
                     ref.name)
    if tuple(ds.shape) != tuple(trained.schema.image_shape or ()):
        raise WorkbenchError(f"the images of {ref.label} now decode to {list(ds.shape)}, not the "
                             f"{list(trained.schema.image_shape or ())} the model was trained on: train it again")
    return pd.DataFrame({FILE: ds.names, TARGET: ds.labels}), ds.X


def space_text(space: str, label: str, task: str) -> str:
    """Plain words for an output, as every plot states it."""
    if space == "value":
        return f"predicted {label} (in its own units)"
    if space == "probability":
        return f"probability of class '{label}'"
    if task == "binary":
        return f"log-odds (logit) of class '{label}'"
    return f"logit of class '{label}' (before softmax)"


__all__ = ["RunContext", "SPACES", "space_text"]
