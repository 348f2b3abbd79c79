"""What a user last chose for each dataset (target, task, changed column roles), kept in the workspace.

Picking a dataset again, later in the session or after a reload, starts from these choices instead of
the inferred defaults. One small JSON file, keyed by the dataset's source (a sample's name, a file's
path: an upload's path carries its content hash, so a changed file starts afresh).
"""
from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.atomic import write_atomic
from core.vocab import ROLES, TASKS

log = logging.getLogger(__name__)

FILE = "data_choices.json"
MAX_DATASETS = 200  # the oldest choices are forgotten beyond this


@dataclass(frozen=True)
class DataChoices:
    target: str
    task: str | None = None  # None: inferred from the target
    roles: dict[str, str] = field(default_factory=dict)  # only the roles a user changed


def recall(workspace: Path, source: str) -> DataChoices | None:
    """The choices last made for `source`, or None (never chosen, or the file is unreadable)."""
    entry = _read(workspace).get(source)
    if not isinstance(entry, Mapping) or not isinstance(entry.get("target"), str):
        return None
    task = entry.get("task") if entry.get("task") in TASKS else None
    roles = entry.get("roles") if isinstance(entry.get("roles"), Mapping) else {}
    return DataChoices(entry["target"], task, {str(k): str(v) for k, v in roles.items() if v in ROLES})


def remember(workspace: Path, source: str, choices: DataChoices) -> bool:
    """Keep `choices` for `source`; writes only when they changed. Returns whether it wrote."""
    if recall(workspace, source) == choices:
        return False
    entries = _read(workspace)
    entries.pop(source, None)
    entries[source] = {"target": choices.target, "task": choices.task, "roles": dict(choices.roles),
                       "at": time.time()}
    kept = dict(list(entries.items())[-MAX_DATASETS:])  # insertion order: the latest choice last
    try:
        write_atomic(Path(workspace) / FILE, json.dumps(kept, indent=1))
    except OSError as exc:  # a read-only workspace: the choice still holds for this session
        log.warning("could not keep the data choices: %s", exc)
        return False
    return True


def _read(workspace: Path) -> dict[str, Any]:
    path = Path(workspace) / FILE
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        log.warning("ignoring an unreadable %s: %s", path, exc)
        return {}
    return raw if isinstance(raw, dict) else {}


__all__ = ["DataChoices", "recall", "remember", "FILE"]
