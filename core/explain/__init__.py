"""SHAP and LIME for any completed run, with PDP/ICE, cached as run artifacts.

The numbers are computed here as plain data; `core.explain.plots` draws them.
"""
from __future__ import annotations

from core.explain.context import RunContext, space_text
from core.explain.results import LimeExplanation, PartialDependence, ShapExplanation, group_columns
from core.explain.service import (
    DEFAULT_ROWS, LimeParams, PdpParams, ShapParams, explain_lime, explain_shap, partial_dependence, summary,
)

__all__ = [
    "RunContext", "space_text", "ShapExplanation", "LimeExplanation", "PartialDependence", "group_columns",
    "ShapParams", "LimeParams", "PdpParams", "explain_shap", "explain_lime", "partial_dependence", "summary",
    "DEFAULT_ROWS",
]
