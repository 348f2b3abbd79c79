"""The sequence preparer: a RunConfig with a `sequence` section -> windows (a forecast) or whole
sequences (to classify), as the same PreparedData every data kind returns, plus what only a sequence
run has (SequencePrepared.sequences: each example's series and time, and the baselines' forecasts)."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from core.config import RunConfig
from core.data.catalog import DatasetRef
from core.data.loading import load_dataset
from core.data.prepared import PreparedData, check_model_fits
from core.data.sequences import SequenceData, build_sequences
from core.data.split import Split


@dataclass
class SequencePrepared(PreparedData):
    sequences: SequenceData = field(kw_only=True)  # keyword-only: it follows PreparedData's defaulted fields

    @property
    def data_kind(self) -> str:
        return "sequence"


def prepare_sequences(config: RunConfig, ref: DatasetRef, split: Split | None = None,
                      workspace: Path | None = None) -> SequencePrepared:
    """X per part is float32 (n, window, channels), oldest step first; `split` overrides the seeded
    split of sequences to classify (a forecast is always split by time)."""
    d, seq = config.data, config.sequence
    if seq is None:
        raise ValueError("prepare_sequences needs a config with a sequence section")
    frame = load_dataset(ref)
    data = build_sequences(frame, d.target, seq, task=d.task, val_fraction=d.val_fraction,
                           test_fraction=d.test_fraction, seed=config.train.seed, split=split)
    check_model_fits(config.model.kind, data.schema, "sequence")
    warnings = [f"data check: {c.message}" for c in data.checks if c.level == "warning"]
    return SequencePrepared(ref, data.rows.frame, data.schema, data.split, data.preprocessor, data.X, data.y,
                            warnings, sequences=data)


__all__ = ["SequencePrepared", "prepare_sequences"]
