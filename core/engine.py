"""Engine: the catalog, the run store and the run manager of one workspace, wired together.

The one place that knows every layer: it runs start-up recovery on the store and hands the
manager its ended-run hooks (a cross-validation parent finishes with its last fold, a group of
repeats with its last seed). Code under
core/ never imports it; what needs a workspace takes a core.runs.service.RunService, which an
Engine is.
"""
from __future__ import annotations

import logging
from functools import cached_property
from pathlib import Path

from core.data import Catalog
from core.runs import recovery
from core.runs.manager import RunManager
from core.runs.store import RunStore
from core.tuning.cv import finalize_parents
from core.tuning.repeats import finalize_repeat_parents
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
        manager = RunManager(self.store, self.catalog)
        manager.on_run_ended(lambda run_ids: finalize_parents(self.store, run_ids))
        manager.on_run_ended(lambda run_ids: finalize_repeat_parents(self.store, run_ids))
        return manager

    def close(self) -> None:
        if "manager" in self.__dict__:
            self.manager.close()
        self.store.close()
