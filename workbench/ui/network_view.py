"""Train page: a diagram of the network the settings describe, built before training."""
from __future__ import annotations

import json
from typing import Any

import pandas as pd
import streamlit as st

from core.config import RunConfig
from core.errors import WorkbenchError
from core.models.diagram import shape_text
from core.runs.planned import PlannedNetwork, planned_network
from workbench.ui.common import md_escape


@st.cache_data(show_spinner="Building the network to draw it...", max_entries=16)
def _plan(workspace: str, what: str, _engine: Any) -> PlannedNetwork:
    return planned_network(RunConfig.from_dict(json.loads(what)), _engine.catalog)


def draw_network(engine: Any, config: RunConfig | None) -> None:
    with st.expander("The network", icon=":material/account_tree:"):
        if config is None:
            st.caption("Fix the settings above to see the network.")
            return
        # only what shapes the network: the data, the model and (for its initial weights) the seed
        raw = config.to_dict()
        what = json.dumps({"data": raw["data"], "model": raw["model"], "sequence": raw.get("sequence"),
                           "train": {"seed": raw["train"]["seed"]}}, sort_keys=True, default=str)
        try:
            planned = _plan(str(engine.store.workspace), what, engine)
        except WorkbenchError as exc:
            st.warning(f"The network cannot be built from these settings: {md_escape(exc)}", icon=":material/warning:")
            return
        left, right = st.columns([3, 2], gap="large")
        with left:
            st.graphviz_chart(planned.dot(), width="content")
        with right:
            st.metric("Parameters to learn", f"{planned.parameters:,}")
            table = pd.DataFrame([{"layer": layer.label, "output shape": shape_text(layer.output_shape),
                                   "parameters": layer.parameters} for layer in planned.layers])
            st.dataframe(table, hide_index=True, height=min(36 * (len(table) + 1) + 8, 520))
            st.caption("Each box is a layer of the model this run will train, from a dry run of two training "
                       "examples through it; shapes leave out the batch. Small grey boxes hold no parameters "
                       "(activations, reshapes, pooling, dropout).")


__all__ = ["draw_network"]
