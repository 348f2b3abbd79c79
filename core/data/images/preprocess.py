"""What an image run keeps of its data preparation: how to decode a new image, and the classes.

Saved as JSON like the table preprocessor, so an exported bundle or `workbench serve` decodes an
uploaded file exactly as the training images were (same size, same colour), and the model's own
first layer scales the raw uint8 pixels (core.models.images.Pixels).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd

from core.atomic import write_atomic
from core.data.columns import as_labels, shown
from core.data.images.decode import BadImage, decode
from core.data.schema import Schema
from core.errors import DataError

FORMAT = "workbench.image_preprocessor"
VERSION = 1


class ImagePreprocessor:
    def __init__(self, schema: Schema, size: tuple[int, int], channels: int, color: str = "auto") -> None:
        if not schema.classes or not schema.image_shape:
            raise DataError("an image preprocessor needs the classes and the image shape")
        self.schema = schema
        self.size = (int(size[0]), int(size[1]))  # (width, height)
        self.channels = int(channels)
        self.color = color

    # --- images ---------------------------------------------------------------------------
    @property
    def image_shape(self) -> tuple[int, int, int]:
        return (self.channels, self.size[1], self.size[0])

    def decode_bytes(self, data: bytes, name: str = "the image") -> np.ndarray:
        """(channels, height, width) uint8 of one image file, as the training images were decoded."""
        try:
            arr = decode(data, self.size, 3)
        except BadImage as exc:
            raise DataError(f"{shown(name, 60)} cannot be used: {exc}") from None
        if self.channels == 1:
            luma = arr[0] * 0.299 + arr[1] * 0.587 + arr[2] * 0.114
            arr = np.clip(np.rint(luma), 0, 255).astype(np.uint8)[None]
        return arr

    def transform_files(self, files: list[bytes]) -> np.ndarray:
        """(n, channels, height, width) uint8 of image files, for prediction."""
        return np.stack([self.decode_bytes(f, f"image {i + 1}") for i, f in enumerate(files)]) if files else \
            np.zeros((0, *self.image_shape), dtype=np.uint8)

    # --- the layout explanations read --------------------------------------------------------
    @property
    def feature_names(self) -> list[str]:
        c, h, w = self.image_shape
        prefix = [""] if c == 1 else ["R ", "G ", "B "][:c] if c == 3 else [f"c{k} " for k in range(c)]
        return [f"{prefix[k]}pixel ({y}, {x})" for k in range(c) for y in range(h) for x in range(w)]

    @property
    def feature_groups(self) -> dict[str, list[int]]:
        return {name: [i] for i, name in enumerate(self.feature_names)}

    @property
    def target_scale(self) -> tuple[float, float]:
        return (0.0, 1.0)

    # --- target ---------------------------------------------------------------------------------
    def encode_target(self, y: Any) -> np.ndarray:
        labels = as_labels(pd.Series(np.asarray(y, dtype=object)))
        index = {label: i for i, label in enumerate(self.schema.classes or ())}
        codes = labels.map(index)
        if codes.isna().any():
            unseen = ", ".join(f"'{shown(v)}'" for v in labels[codes.isna()].unique()[:3])
            raise DataError(f"classes the model does not know: {unseen}")
        return codes.to_numpy(dtype=np.int64)

    def decode_target(self, arr: np.ndarray) -> np.ndarray:
        a = np.asarray(arr)
        if a.ndim == 2:
            a = a.argmax(axis=1)
        return np.asarray(self.schema.classes, dtype=object)[a.astype(np.int64)]

    # --- persistence (JSON, never pickle) ------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {"format": FORMAT, "version": VERSION, "schema": self.schema.to_dict(),
                "size": list(self.size), "channels": self.channels, "color": self.color}

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> "ImagePreprocessor":
        if not isinstance(raw, Mapping) or raw.get("format") != FORMAT or raw.get("version") != VERSION:
            raise DataError("This is not an image preprocessor saved by this version of Workbench: "
                            "export the model again.")
        try:
            size = tuple(int(v) for v in raw["size"])
            return cls(Schema.from_dict(raw["schema"]), (size[0], size[1]), int(raw["channels"]),
                       str(raw.get("color", "auto")))
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise DataError(f"The saved image preprocessor is damaged ({exc}): export the model again.") from None

    def save(self, path: str | Path) -> Path:
        return write_atomic(path, json.dumps(self.to_dict(), indent=2).encode("utf-8"))


def is_image_preprocessor(raw: Mapping[str, Any]) -> bool:
    return isinstance(raw, Mapping) and raw.get("format") == FORMAT


__all__ = ["ImagePreprocessor", "FORMAT", "is_image_preprocessor"]
