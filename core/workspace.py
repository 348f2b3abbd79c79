"""Where the workbench keeps its database and run artifacts."""
from __future__ import annotations

import os
from pathlib import Path

from platformdirs import user_data_dir


def default_workspace() -> Path:
    """$WORKBENCH_HOME, else the per-user data directory."""
    root = os.environ.get("WORKBENCH_HOME") or user_data_dir("workbench", appauthor=False)
    path = Path(root).expanduser().resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path
