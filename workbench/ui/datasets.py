"""The Data page's pieces: labels, paging, the profile's plotly figures and cached loading.

What a target and roles default to is core.data.roles'.
"""
from __future__ import annotations

import math
from typing import Any

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from core.data import Check, DataProfile, load_table, profile, run_checks
from core.data.schema import infer_roles
from core.vocab import is_classification

PAGE_SIZE = 50
HEIGHT = 320
_COLOR = "#1f77b4"
_KIND_COLORS = {"numeric": "#1f77b4", "categorical": "#ff7f0e", "boolean": "#2ca02c", "datetime": "#9467bd",
                "text": "#8c564b"}


def dataset_label(ref: Any) -> str:
    """'iris' for a sample; 'sales.csv (uploaded)' for a stored upload '3f2a..._sales.csv'."""
    if ref.kind == "sample":
        return ref.name
    if ref.description.startswith("uploaded as "):
        return f"{ref.description.removeprefix('uploaded as ').strip() or ref.label} (uploaded)"
    return f"{ref.label} (uploaded)" if ref.path.parent.name == "uploads" else ref.label


def format_bytes(n: int) -> str:
    for unit, size in (("GB", 2**30), ("MB", 2**20), ("KB", 2**10)):
        if n >= size:
            return f"{n / size:,.1f} {unit}"
    return f"{n} bytes"


# --- preview ------------------------------------------------------------------------
def n_pages(n_rows: int, page_size: int = PAGE_SIZE) -> int:
    return max(1, math.ceil(n_rows / page_size))


def page_rows(df: pd.DataFrame, page: int, page_size: int = PAGE_SIZE) -> pd.DataFrame:
    """Rows of the 1-based `page`, clamped to the pages that exist."""
    page = min(max(1, int(page)), n_pages(len(df), page_size))
    start = (page - 1) * page_size
    return df.iloc[start:start + page_size]


def page_caption(n_rows: int, page: int, page_size: int = PAGE_SIZE) -> str:
    page = min(max(1, int(page)), n_pages(n_rows, page_size))
    if n_rows == 0:
        return "The table has no rows."
    first = (page - 1) * page_size + 1
    last = min(page * page_size, n_rows)
    return f"Rows {first:,}–{last:,} of {n_rows:,}."


# --- figures ------------------------------------------------------------------------------
def _layout(fig: go.Figure, title: str, x: str, y: str, **extra: Any) -> go.Figure:
    fig.update_layout(title={"text": title}, xaxis_title=x, yaxis_title=y, template="plotly_white", height=HEIGHT,
                      margin={"l": 50, "r": 20, "t": 50, "b": 50}, showlegend=False, **extra)
    return fig


def types_figure(profile: DataProfile) -> go.Figure:
    counts = pd.Series([c.kind for c in profile.columns]).value_counts()
    fig = go.Figure(go.Bar(x=counts.index.tolist(), y=counts.tolist(),
                           marker_color=[_KIND_COLORS.get(k, _COLOR) for k in counts.index],
                           hovertemplate="%{x}: %{y} columns<extra></extra>"))
    return _layout(fig, "What the columns hold", "Kind of column", "Columns")


def missing_figure(profile: DataProfile) -> go.Figure:
    names = [c.name for c in profile.columns]
    share = [100 * c.missing_frac for c in profile.columns]
    counts = [c.missing for c in profile.columns]
    fig = go.Figure(go.Bar(x=names, y=share, customdata=counts, marker_color=_COLOR,
                           hovertemplate="%{x}: %{y:.1f}% missing (%{customdata} rows)<extra></extra>"))
    fig.update_yaxes(range=[0, max(100 if max(share, default=0) > 0 else 5, 1)])
    return _layout(fig, "Missing values per column", "Column", "% of rows missing")


def distribution_figure(df: pd.DataFrame, column: str, profile: DataProfile, title: str | None = None) -> go.Figure:
    """A histogram for numbers, a bar per value (the 30 most common) for everything else."""
    col = profile.column(column)
    s = df[column]
    if col.kind == "numeric":
        values = pd.to_numeric(s, errors="coerce").dropna()
        fig = go.Figure(go.Histogram(x=values, nbinsx=30, marker_color=_COLOR,
                                     hovertemplate="%{x}: %{y} rows<extra></extra>"))
        return _layout(fig, title or f"Distribution of {column}", column, "Rows", bargap=0.05)
    counts = s.dropna().astype(str).value_counts().head(30)
    fig = go.Figure(go.Bar(x=counts.index.tolist(), y=counts.tolist(), marker_color=_COLOR,
                           hovertemplate="%{x}: %{y} rows<extra></extra>"))
    fig.update_xaxes(type="category")
    return _layout(fig, title or f"Most common values of {column}", column, "Rows")


def target_figure(df: pd.DataFrame, target: str, task: str, profile: DataProfile) -> go.Figure:
    if not is_classification(task):
        return distribution_figure(df, target, profile, title=f"Distribution of the target {target}")
    counts = df[target].dropna().astype(str).value_counts().sort_index()
    share = 100 * counts / max(int(counts.sum()), 1)
    fig = go.Figure(go.Bar(x=counts.index.tolist(), y=counts.tolist(), customdata=share.round(1).tolist(),
                           marker_color=_COLOR, text=[f"{p:.0f}%" for p in share], textposition="auto",
                           hovertemplate="%{x}: %{y} rows (%{customdata}%)<extra></extra>"))
    fig.update_xaxes(type="category")
    return _layout(fig, f"Class balance of the target {target}", target, "Rows")


# --- cached loading: keyed by content hash, so a changed file reloads -------------------------
@st.cache_data(show_spinner="Loading the data…", max_entries=8)
def load_frame(path: str, sha256: str, name: str) -> pd.DataFrame:
    return load_table(path, label=name)


@st.cache_data(show_spinner="Profiling the columns…", max_entries=8)
def load_profile(path: str, sha256: str, name: str) -> DataProfile:
    return profile(load_frame(path, sha256, name))


# What the page recomputed at every rerun (seconds each on a 300k-row file), cached by the file's
# content hash and the choices it depends on: a rerun, a tab switch or another session reuses them.
@st.cache_data(show_spinner="Reading the columns…", max_entries=32)
def inferred_roles(path: str, sha256: str, name: str, target: str) -> dict[str, str]:
    return infer_roles(load_frame(path, sha256, name), target)


@st.cache_data(show_spinner="Checking the data…", max_entries=32)
def checks_for(path: str, sha256: str, name: str, target: str, task: str, image_shape: tuple[int, ...] | None,
               roles: tuple[tuple[str, str], ...] | None) -> list[Check]:
    return run_checks(load_frame(path, sha256, name), target, task, image_shape=image_shape,
                      roles=dict(roles) if roles is not None else None)
