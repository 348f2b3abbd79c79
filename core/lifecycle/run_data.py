"""A completed run's own rows again: its train/val/test split encoded as it trained, and its model.

What optimising (test metrics, fine-tuning, calibration) and monitoring (the training rows that new
inputs are compared with) start from. The run's saved split and fitted preprocessor are reused, so
the test rows are the run's test rows, encoded the same way.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.data import Catalog
from core.data.split import SPLIT_FILE, load_split
from core.errors import WorkbenchError
from core.evaluation import compute_metrics
from core.export import completed_run
from core.runs.prepare import PreparedData, prepare_data
from core.runs.store import RunRecord, RunStore
from core.runs.trained import TrainedModel
from core.vocab import primary_metric


@dataclass
class RunData:
    record: RunRecord
    run_dir: Path
    trained: TrainedModel
    prepared: PreparedData

    @property
    def task(self) -> str:
        return self.trained.task

    @property
    def primary(self) -> str:
        return primary_metric(self.task)

    def metrics(self, outputs: np.ndarray, part: str = "test") -> dict[str, float]:
        """Metrics of raw outputs (logits, standardised values) on a part of the split, in the target's units."""
        y = self.prepared.y[part]
        if self.task == "regression":
            decode = self.trained.preprocessor.decode_target
            return compute_metrics(self.task, decode(y), decode(np.asarray(outputs)[:, 0]))
        return compute_metrics(self.task, y, outputs)


def load_run_data(store: RunStore, catalog: Catalog, run: str) -> RunData:
    record = completed_run(store, run)
    run_dir = store.run_dir(record.run_id)
    trained = TrainedModel.load(run_dir)
    split_file = run_dir / SPLIT_FILE
    if not split_file.is_file():
        raise WorkbenchError(f"run {record.name} has no saved split, so its test rows are unknown: train it again")
    try:
        prepared = prepare_data(trained.config, catalog, load_split(split_file), fitted=trained.preprocessor)
    except WorkbenchError as exc:
        raise WorkbenchError(f"the data of run {record.name} cannot be read again ({exc})") from None
    return RunData(record, run_dir, trained, prepared)


__all__ = ["RunData", "load_run_data"]
