"""DatasetRef: a dataset's name and place, pinned by the SHA-256 of its bytes.

A run records the hash, so a reproduction can tell when the file has changed. The catalog
makes refs (core.data.catalog); loading reads them (core.data.loading).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

_UPLOAD_PREFIX = re.compile(r"^[0-9a-f]{12}_(?=.)")  # the catalog stores an upload as <sha256[:12]>_<name>


def plain_name(name: str) -> str:
    """An upload's stored name as its user named it ('6fd642b3a421_big.csv' -> 'big.csv'); others unchanged."""
    return _UPLOAD_PREFIX.sub("", str(name), count=1)


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
    # a table that a sample's catalog entry says to read as sequences: its SequenceConfig defaults
    # (the sequence preparer reads it when a run's config has a sequence section; not hashed)
    sequence: Mapping[str, Any] | None = field(default=None, hash=False)

    @property
    def label(self) -> str:
        """The name to show and to record with a run: an upload's own file name, never the stored one."""
        return plain_name(self.name) if self.kind == "file" else self.name

    @property
    def source(self) -> str:
        """What to store in DataConfig.source: `resolve` maps it back to this dataset from anywhere."""
        return self.name if self.kind == "sample" else str(self.path)
