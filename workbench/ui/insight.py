"""Views of a run's standing: its baselines (and, as they land, repeats, steering and paired comparisons).

Only drawing: the numbers and the words come from core (core.runs.baselines ...).
"""
from __future__ import annotations

import pandas as pd
import streamlit as st

from core.runs.baselines import baseline_rows, baseline_verdict
from core.runs.store import RunRecord
from core.vocab import metric_label, primary_metric


def draw_baselines(run: RunRecord) -> None:
    """The network's test metrics beside its baselines', with one sentence on how it stands."""
    rows = baseline_rows(run.summary, run.task)
    if not rows:
        return
    st.subheader("Against baselines")
    frame = pd.DataFrame(rows).set_index("model")
    first = primary_metric(run.task)
    frame = frame[[first, *[c for c in frame.columns if c != first]]]
    frame.columns = [metric_label(c) for c in frame.columns]
    st.dataframe(frame, width="stretch",
                 column_config={c: st.column_config.NumberColumn(c, format="%.4f") for c in frame.columns})
    verdict = baseline_verdict(run.summary, run.task)
    st.caption((verdict + " " if verdict else "") +
               "Both baselines come from scikit-learn, fitted on this run's own preprocessed training rows and "
               "scored on the same test rows.")
