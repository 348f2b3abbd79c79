"""SequencePreprocessor: the fitted scaling of a sequence run, and rows -> model windows for serving.

Each input column (channel) is standardised with the mean and spread of the training part only;
a forecast's target too (the model learns and outputs it standardised). Saved as JSON beside the
table Preprocessor, in the same places, and read back by core.data.prepared.load_preprocessor.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd

from core.atomic import write_atomic
from core.data.columns import shown
from core.data.preprocess import Preprocessor
from core.data.schema import Schema
from core.data.series import SeriesLayout, order_rows
from core.data.windows import fill_forward, gather_sequences, gather_windows, sequence_groups
from core.errors import DataError

FORMAT = "workbench.sequence_preprocessor"
VERSION = 1


class SequencePreprocessor:
    def __init__(self, schema: Schema, layout: SeriesLayout) -> None:
        self.schema, self.layout = schema, layout
        self.mean_: np.ndarray | None = None
        self.std_: np.ndarray | None = None
        self._targets = Preprocessor(schema)  # its target encoding: class indices or a standardised value
        self._targets.target_mean_, self._targets.target_std_ = 0.0, 1.0

    # --- fit and scale ---------------------------------------------------------
    def fit(self, train_values: np.ndarray, train_target: np.ndarray | None = None) -> SequencePreprocessor:
        """train_values: (rows, channels) raw values of the training part only (NaN ignored)."""
        values = np.asarray(train_values, dtype=np.float64)
        mean, std = _mean_std(values)
        self.mean_, self.std_ = mean, std
        if self.schema.classes is None and train_target is not None:
            (m,), (s,) = _mean_std(np.asarray(train_target, dtype=np.float64).reshape(-1, 1))
            self._targets.target_mean_, self._targets.target_std_ = float(m), float(s)
        return self

    def scale(self, values: np.ndarray) -> np.ndarray:
        if self.mean_ is None or self.std_ is None:
            raise RuntimeError("SequencePreprocessor.fit() must run before scale()")
        return ((np.asarray(values, dtype=np.float64) - self.mean_) / self.std_).astype(np.float32)

    def raw_values(self, frame: pd.DataFrame) -> np.ndarray:
        """Long tables: (rows, channels); wide: (sequences, steps), the one channel's value per step."""
        columns = list(self.layout.inputs)
        missing = [c for c in columns if c not in frame.columns]
        if missing:
            raise DataError(f"The rows lack the column '{shown(missing[0])}' the model reads "
                            f"(it reads: {', '.join(columns[:12])}).")
        try:
            return frame[columns].to_numpy(dtype="float64", na_value=np.nan)
        except (TypeError, ValueError):
            raise DataError(f"The columns {', '.join(columns[:12])} must hold numbers only.") from None

    # --- target ------------------------------------------------------------------
    def encode_target(self, y: pd.Series | np.ndarray) -> np.ndarray:
        return self._targets.encode_target(y)

    def decode_target(self, arr: np.ndarray) -> np.ndarray:
        return self._targets.decode_target(arr)

    @property
    def target_scale(self) -> tuple[float, float]:
        return self._targets.target_scale

    @property
    def feature_names(self) -> list[str]:
        """One name per channel: the columns of the step x column attribution."""
        return list(self.layout.channels)

    def feature_groups(self) -> dict[str, list[int]]:
        return {name: [i] for i, name in enumerate(self.feature_names)}

    # --- rows -> windows -------------------------------------------------------
    def transform(self, frame: pd.DataFrame) -> np.ndarray:
        return self.windows(frame)[0]

    def windows(self, frame: pd.DataFrame) -> tuple[np.ndarray, list[str]]:
        """What the model reads for rows a user gives, and a key per example: a forecast takes each
        series' last `window` complete rows (the forecast is for `horizon` steps after them); a wide
        table gives one sequence per row; a long one, one per series id."""
        lay = self.layout
        if lay.format == "wide":
            values = self.raw_values(frame)
            seqs = np.stack([fill_forward(row) for row in self.scale(values[:, :, None])]) \
                if len(values) else np.zeros((0, lay.window, 1), dtype=np.float32)
            return seqs.astype(np.float32), [str(i) for i in frame.index]
        needed = [c for c in (lay.time_column, lay.series_id) if c]
        absent = [c for c in needed if c not in frame.columns]
        if absent:
            raise DataError(f"The rows lack the column '{shown(absent[0])}' that orders them.")
        rows = order_rows(frame, lay)
        keys, groups = sequence_groups(rows)
        values = self.scale(self.raw_values(rows.frame))
        if lay.mode == "classify":
            return gather_sequences(values, groups, lay.window), [str(k) for k in keys]
        starts = []
        for key, group in zip(keys, groups):
            complete = group[~np.isnan(values[group]).any(axis=1)]
            if len(complete) < lay.window:
                where = f" of series '{shown(str(key))}'" if lay.series_id else ""
                raise DataError(f"A forecast needs the last {lay.window} rows{where} with every input present; "
                                f"got {len(complete)}.")
            last = complete[-lay.window:]
            if last[-1] - last[0] != lay.window - 1:
                raise DataError(f"The last {lay.window} rows{' of series ' + str(key) if lay.series_id else ''} "
                                "have a missing value between them: give complete rows.")
            starts.append(last[0])
        return gather_windows(values, np.asarray(starts, dtype=np.int64), lay.window), [str(k) for k in keys]

    # --- persistence (JSON, never pickle) ------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        if self.mean_ is None or self.std_ is None:
            raise RuntimeError("SequencePreprocessor.fit() must run before it is saved")
        return {"format": FORMAT, "version": VERSION, "schema": self.schema.to_dict(),
                "layout": self.layout.to_dict(), "mean": self.mean_.tolist(), "std": self.std_.tolist(),
                "target": {"mean": self.target_scale[0], "std": self.target_scale[1]}}

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> SequencePreprocessor:
        if not isinstance(raw, Mapping) or raw.get("format") != FORMAT or raw.get("version") != VERSION:
            raise DataError("This is not a sequence preprocessor saved by this version of Workbench: "
                            "export the model again.")
        try:
            pre = cls(Schema.from_dict(raw["schema"]), SeriesLayout.from_dict(raw["layout"]))
            pre.mean_ = np.asarray(raw["mean"], dtype=np.float64)
            pre.std_ = np.asarray(raw["std"], dtype=np.float64)
            pre._targets.target_mean_ = float(raw["target"]["mean"])
            pre._targets.target_std_ = float(raw["target"]["std"])
        except (KeyError, TypeError, ValueError) as exc:
            raise DataError(f"The saved sequence preprocessor is damaged ({exc}): export the model again.") from None
        if pre.mean_.shape != (len(pre.layout.channels),) or pre.std_.shape != pre.mean_.shape:
            raise DataError("The saved sequence preprocessor does not match its columns: export the model again.")
        return pre

    def save(self, path: str | Path) -> Path:
        return write_atomic(path, json.dumps(self.to_dict(), indent=2, allow_nan=False).encode("utf-8"))


def _mean_std(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per column; a column with no spread (or no values) keeps std 1, so scaling never divides by 0."""
    if values.ndim == 1:
        values = values[:, None]
    finite = np.where(np.isfinite(values), values, np.nan)
    count = np.sum(~np.isnan(finite), axis=0)
    mean = np.where(count > 0, np.nansum(finite, axis=0) / np.maximum(count, 1), 0.0)
    var = np.where(count > 0, np.nansum((finite - mean) ** 2, axis=0) / np.maximum(count, 1), 1.0)
    std = np.sqrt(var)
    return mean, np.where(std > 1e-12, std, 1.0)


__all__ = ["FORMAT", "SequencePreprocessor"]
