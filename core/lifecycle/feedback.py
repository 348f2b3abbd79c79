"""Feed back: a new run from a run, on new data of the same columns or on its data plus the labelled
predictions that came back through /feedback.

The new run's config is the parent's with another data source and, for a warm start, `init.from_run`
(core.runs.warm_start copies the weights and keeps the parent's preprocessing); a fresh retrain
drops `init` and trains from seeded weights. Either way the new run names its parent in its config,
which is how the Runs page draws the lineage.
"""
from __future__ import annotations

import io
from typing import Any

import pandas as pd

from core.config import RunConfig
from core.data import Catalog, DatasetRef
from core.data.loading import load_dataset
from core.errors import ConfigError, DataError
from core.lifecycle.recorder import PredictionLog, monitor_path
from core.runs.store import RunRecord, RunStore


def finetune_config(parent: RunRecord, source: str, *, warm: bool = True, freeze: int = 0,
                    epochs: int | None = None, lr: float | None = None, name: str | None = None) -> RunConfig:
    """The parent's config on `source`, starting from the parent's weights unless `warm` is False."""
    if parent.status != "completed":
        raise ConfigError(f"run {parent.name} is {parent.status}: only a completed run can be fine-tuned")
    config = RunConfig.from_dict(parent.config)
    if freeze and not warm:
        raise ConfigError("frozen layers keep the parent's weights, so they need a warm start")
    train: dict[str, Any] = {}
    if epochs is not None:
        train["epochs"] = epochs
    optim = {"lr": lr} if lr is not None else {}
    init = {"from_run": parent.run_id, "freeze": freeze, "weights": "final"} if warm else \
        {"from_run": None, "freeze": 0, "weights": "final"}
    suffix = "ft" if warm else "retrain"
    return config.evolve(data={"source": source, "content_hash": None}, train=train, optim=optim, init=init,
                         name=name or f"{parent.name}-{suffix}")


def labelled_feedback(store: RunStore, parent: RunRecord) -> pd.DataFrame:
    """The served inputs whose labels came back, as rows of the training data's columns plus the target."""
    path = monitor_path(store.run_dir(parent.run_id))
    if not path.is_file():
        raise DataError(f"run {parent.name} has no prediction log: serve it (`workbench serve {parent.run_id}`) "
                        "and POST labels to /feedback first")
    log = PredictionLog(path)
    try:
        frame = log.predictions()
    finally:
        log.close()
    labelled = frame[frame["has_label"]] if not frame.empty else frame
    if labelled.empty:
        raise DataError(f"no labels have come back for run {parent.name}'s predictions yet: POST them to /feedback")
    target = RunConfig.from_dict(parent.config).data.target
    rows = pd.DataFrame(list(labelled["inputs"]))
    rows[target] = list(labelled["label"])
    return rows


def feedback_dataset(store: RunStore, catalog: Catalog, parent: RunRecord) -> tuple[DatasetRef, int]:
    """The parent's data with the labelled feedback rows added, stored as an upload; (its ref, rows added)."""
    config = RunConfig.from_dict(parent.config)
    original = load_dataset(catalog.resolve(config.data.source))
    added = labelled_feedback(store, parent)
    missing = [c for c in added.columns if c not in original.columns]
    if missing:
        raise DataError(f"the feedback rows have columns the training data lacks: {', '.join(missing[:5])}")
    combined = pd.concat([original, added[[c for c in original.columns if c in added.columns]]], ignore_index=True)
    buffer = io.StringIO()
    combined.to_csv(buffer, index=False)
    ref = catalog.add_upload(f"{parent.name}-with-feedback.csv", buffer.getvalue().encode("utf-8"))
    return ref, len(added)


__all__ = ["feedback_dataset", "finetune_config", "labelled_feedback"]
