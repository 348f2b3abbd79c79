"""get_engine(): the one Engine per server process, shared by every page and session."""
from __future__ import annotations

import streamlit as st

from core.engine import Engine
from core.workspace import default_workspace


@st.cache_resource(show_spinner=False)
def _engine_for(workspace: str) -> Engine:
    # The Engine keeps only paths and per-thread connections, so sharing it across
    # sessions (threads) is safe; a sqlite connection itself is never cached.
    engine = Engine(workspace)
    engine.manager.executor.warm()  # with the app: the warm workers load while the user picks data
    return engine


def get_engine() -> Engine:
    """The Engine of $WORKBENCH_HOME (else the per-user folder), created on first use.

    Keyed by the workspace path so a process that switches workspaces (the tests do)
    never reads another workspace's runs.
    """
    return _engine_for(str(default_workspace()))
