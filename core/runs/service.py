"""RunService: what the layers above the runs need of a workspace, and nothing more.

Tuning (cross-validation, search) reads and writes runs through the store, resolves data
through the catalog and queues runs through the manager. The Engine is one RunService; a
test can hand in any object with these four attributes. Code under core/ takes a RunService,
never the Engine, so the Engine stays the one place that wires a workspace together.
"""
from __future__ import annotations

from pathlib import Path
from typing import Protocol

from core.data.catalog import Catalog
from core.runs.manager import RunManager
from core.runs.store import RunStore


class RunService(Protocol):
    @property
    def workspace(self) -> Path: ...

    @property
    def store(self) -> RunStore: ...

    @property
    def catalog(self) -> Catalog: ...

    @property
    def manager(self) -> RunManager: ...
