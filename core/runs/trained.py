"""A trained run loaded back from its artifacts: safetensors + JSON, never pickle."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from safetensors.torch import load_file
from torch import nn

from core.config import RunConfig
from core.data import Schema
from core.data.prepared import load_preprocessor
from core.data.sequence_encoder import SequencePreprocessor
from core.errors import WorkbenchError
from core import evaluation  # outputs_to_proba loads scipy on first use, not with this module
from core.models import build_model

BATCH = 8192


@dataclass
class TrainedModel:
    model: nn.Module  # eval mode, on `device`
    preprocessor: Preprocessor | SequencePreprocessor
    schema: Schema
    config: RunConfig
    meta: dict[str, Any]
    device: torch.device

    @classmethod
    def load(cls, run_dir: str | Path, device: str = "cpu") -> "TrainedModel":
        run_dir = Path(run_dir)
        weights = run_dir / "model.safetensors"
        if not weights.exists():
            raise WorkbenchError(f"run {run_dir.name} has no trained model (it did not complete)")
        try:
            meta = json.loads((run_dir / "model.json").read_text(encoding="utf-8"))
            model = build_model(meta["kind"], meta["params"], meta["n_features"], meta["n_outputs"],
                                tuple(meta["image_shape"]) if meta.get("image_shape") else None,
                                str(meta.get("data_kind") or "table"))
            # safetensors parses a header and raw tensors: a pickle in its place is refused, never run
            model.load_state_dict(load_file(str(weights)))
        except WorkbenchError:
            raise
        except Exception as exc:  # noqa: BLE001 - a damaged or foreign file, said in one line
            raise WorkbenchError(f"the model files of run {run_dir.name} are damaged or not Workbench files "
                                 f"({type(exc).__name__}); retrain the run") from None
        dev = torch.device(device)
        return cls(model=model.to(dev).eval(), preprocessor=load_preprocessor(run_dir / "preprocessor.json"),
                   schema=Schema.from_dict(meta["schema"]), config=RunConfig.load(run_dir / "config.yaml"),
                   meta=meta, device=dev)

    @property
    def task(self) -> str:
        return self.schema.task

    @property
    def data_kind(self) -> str:
        return str(self.meta.get("data_kind") or "table")

    @torch.no_grad()
    def outputs(self, X: np.ndarray) -> np.ndarray:
        """Raw outputs (logits / standardised values) for encoded features, float32 (n, n_outputs)."""
        X_np = np.asarray(X) if np.asarray(X).dtype == np.uint8 else np.asarray(X, dtype=np.float32)
        X_t = torch.as_tensor(X_np if X_np.flags.writeable else X_np.copy())
        outs = [self.model(X_t[i:i + BATCH].to(self.device)).float().cpu() for i in range(0, len(X_t), BATCH)]
        return torch.cat(outs).numpy() if outs else np.zeros((0, self.meta["n_outputs"]), dtype=np.float32)

    def predict_encoded(self, X: np.ndarray) -> np.ndarray:
        """What a user reads: class probabilities (n, K), or values in the target's units (n,)."""
        out = self.outputs(X)
        if self.task == "regression":
            return self.preprocessor.decode_target(out[:, 0]).astype(np.float64)
        return evaluation.outputs_to_proba(self.task, out)

    def predict_images(self, files: list[bytes]) -> pd.DataFrame:
        """Predictions for image files (bytes), decoded as the training images were."""
        if self.data_kind != "image":
            raise WorkbenchError("this model was trained on a table: give it rows, not image files")
        return self._prediction_table(self.predict_encoded(self.preprocessor.transform_files(files)),
                                      pd.RangeIndex(len(files)))

    def predict_frame(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Predictions for rows with the original column names. A sequence model answers once per
        example the rows make: per series for a forecast (from its last window of rows), per sequence
        for a classifier; the index names the series or sequence."""
        if self.data_kind == "image":
            raise WorkbenchError("this model was trained on images: give it image files, not rows")
        if isinstance(self.preprocessor, SequencePreprocessor):
            X, keys = self.preprocessor.windows(frame)
            return self._prediction_table(self.predict_encoded(X),
                                          pd.Index(keys, name=self.preprocessor.layout.series_id or None))
        return self._prediction_table(self.predict_encoded(self.preprocessor.transform(frame)), frame.index)

    def _prediction_table(self, pred: np.ndarray, index: pd.Index) -> pd.DataFrame:
        if self.task == "regression":
            return pd.DataFrame({"prediction": pred}, index=index)
        classes = [str(c) for c in self.schema.classes or []]
        out = pd.DataFrame({"prediction": np.asarray(classes, dtype=object)[pred.argmax(axis=1)]}, index=index)
        for k, label in enumerate(classes):
            out[f"proba_{label}"] = pred[:, k]
        return out
