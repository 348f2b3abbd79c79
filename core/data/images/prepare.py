"""The image preparer: a zip or folder of class folders to uint8 arrays per split."""
from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np
import pandas as pd

from core.config import RunConfig
from core.data.ref import DatasetRef
from core.data.columns import shown, sort_labels
from core.data.images.dataset import DecodeOptions, ImageDataset, load_images
from core.data.images.preprocess import ImagePreprocessor
from core.data.prepared import PreparedData, check_model_fits
from core.data.schema import Schema
from core.data.split import Split, split_indices
from core.errors import ConfigError

TARGET = "label"  # an image's class: its folder's name (or the CSV's label column)
FILE = "file"


def prepare_images(config: RunConfig, ref: DatasetRef, split: Split | None = None,
                   workspace: Path | None = None) -> PreparedData:
    d = config.data
    if d.target != TARGET:
        raise ConfigError(f"an image's class is its folder's name, so the target of {shown(ref.label, 60)} is "
                          f"'{TARGET}', not '{shown(d.target, 40)}': leave --target out or give --target {TARGET}")
    if d.task == "regression":
        raise ConfigError("images are classified by their folder: choose binary or multiclass, not regression")
    ds = load_images(ref.path, ref.sha256, DecodeOptions(d.image_size, d.image_color), workspace, ref.name)
    classes = tuple(sort_labels(set(ds.labels), numeric=True))  # "2" before "10"; text alphabetically
    task = d.task or ("binary" if len(classes) == 2 else "multiclass")
    if task == "binary" and len(classes) > 2:
        raise ConfigError(f"binary classification needs two classes, but {shown(ref.label, 60)} has "
                          f"{len(classes)}: choose multiclass")
    schema = Schema(target=TARGET, task=task, roles={}, classes=classes, image_shape=ds.shape)
    check_model_fits(config.model.kind, schema, "image")
    frame = pd.DataFrame({FILE: ds.names, TARGET: ds.labels})
    split = split or split_indices(frame[TARGET].to_numpy(), task, d.val_fraction, d.test_fraction,
                                   config.train.seed)
    channels, height, width = ds.shape
    pre = ImagePreprocessor(schema, (width, height), channels, d.image_color)
    X = {part: ds.X[getattr(split, part)] for part in ("train", "val", "test")}
    y = {part: pre.encode_target(frame[TARGET].to_numpy()[getattr(split, part)]) for part in ("train", "val", "test")}
    return PreparedData(ref, frame, schema, split, pre, X, y, image_warnings(ds), skipped=list(ds.skipped))


def image_warnings(ds: ImageDataset) -> list[str]:
    """What the run should say about its images: files skipped, and the same picture in two classes."""
    out = []
    if ds.skipped:
        out.append(f"data: {ds.skipped_text()}")
    across = duplicates_across_classes(ds)
    if across:
        first = across[0]
        out.append(f"data check: {len(across)} picture(s) are in more than one class (such as "
                   f"{shown(first[0], 60)} in {', '.join(shown(c, 30) for c in first[1])}): the model cannot "
                   "tell them apart; remove them from all but one class")
    return out


def duplicates_across_classes(ds: ImageDataset) -> list[tuple[str, list[str]]]:
    """(a file, its classes) for each picture (same bytes) found under more than one class."""
    by_hash: dict[str, list[int]] = defaultdict(list)
    for i, h in enumerate(ds.hashes):
        by_hash[h].append(i)
    out = []
    for rows in by_hash.values():
        classes = sorted({ds.labels[i] for i in rows})
        if len(classes) > 1:
            out.append((ds.names[rows[0]], classes))
    return out


__all__ = ["prepare_images", "image_warnings", "duplicates_across_classes", "TARGET", "FILE"]
