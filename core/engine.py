"""Engine: the catalog, the run store and the run manager of one workspace."""
from __future__ import annotations

import logging
from functools import cached_property
from pathlib import Path

from core.data import Catalog
from core.runs import recovery
from core.runs.manager import RunManager
from core.runs.store import RunStore
from core.workspace import default_workspace

log = logging.getLogger(__name__)


class Engine:
    """One per server process (the UI caches it); the CLI and tests make their own."""

    def __init__(self, workspace: str | Path | None = None):
        self.workspace = Path(workspace) if workspace else default_workspace()
        self.catalog = Catalog(self.workspace)
        self.store = RunStore(self.workspace)
        marked = recovery.mark_orphans(self.store)
        if marked:
            log.info("marked %d run(s) whose process is gone as interrupted", len(marked))

    @cached_property
    def manager(self) -> RunManager:
        # started on first use: the CLI's `runs` and `show` need no dispatcher thread
        return RunManager(self.store, self.catalog)

    def close(self) -> None:
        if "manager" in self.__dict__:
            self.manager.close()
        self.store.close()
