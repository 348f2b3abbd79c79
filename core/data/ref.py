"""DatasetRef: a dataset's name and place, pinned by the SHA-256 of its bytes.

A run records the hash, so a reproduction can tell when the file has changed. The catalog
makes refs (core.data.catalog); loading reads them (core.data.loading).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class DatasetRef:
    name: str
    path: Path
    kind: str  # "sample" | "file"
    sha256: str
    target: str | None = None
    task: str | None = None
    image_shape: tuple[int, ...] | None = None
    description: str = ""
    data_kind: str = "table"  # core.vocab.DATA_KINDS: decides the run's preparer and which models fit

    @property
    def source(self) -> str:
        """What to store in DataConfig.source: `resolve` maps it back to this dataset from anywhere."""
        return self.name if self.kind == "sample" else str(self.path)
