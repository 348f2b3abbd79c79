"""The Data page's pieces: paging, labels and the profile figures (roles: tests/test_data_roles.py)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from core.data import DatasetRef, profile
from workbench.ui import datasets as ds


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    n = 120
    return pd.DataFrame({
        "row_id": np.arange(n),
        "size": rng.normal(10, 2, n),
        "colour": rng.choice(["red", "blue", "green"], n),
        "gaps": np.where(rng.random(n) < 0.3, np.nan, rng.random(n)),
        "label": rng.choice(["yes", "no"], n),
    })


def test_pages_of_fifty_rows(frame: pd.DataFrame) -> None:
    assert ds.n_pages(len(frame)) == 3 and ds.n_pages(0) == 1
    assert ds.page_rows(frame, 1).index.tolist() == list(range(50))
    assert ds.page_rows(frame, 3).index.tolist() == list(range(100, 120))
    assert ds.page_rows(frame, 99).index.tolist() == list(range(100, 120))  # clamped, never empty
    assert ds.page_caption(len(frame), 3) == "Rows 101–120 of 120."
    assert ds.page_caption(0, 1) == "The table has no rows."


def test_profile_figures_draw_what_they_say(frame: pd.DataFrame) -> None:
    prof = profile(frame)
    types = ds.types_figure(prof)
    assert sum(types.data[0].y) == frame.shape[1]
    missing = ds.missing_figure(prof)
    assert list(missing.data[0].x) == list(frame.columns) and max(missing.data[0].y) > 0
    assert ds.distribution_figure(frame, "size", prof).data[0].type == "histogram"
    assert ds.distribution_figure(frame, "colour", prof).data[0].type == "bar"
    balance = ds.target_figure(frame, "label", "binary", prof)
    assert sum(balance.data[0].y) == len(frame)
    assert ds.target_figure(frame, "size", "regression", prof).data[0].type == "histogram"


def test_labels_and_sizes(tmp_path) -> None:
    sample = DatasetRef(name="iris", path=tmp_path / "iris.csv", kind="sample", sha256="0")
    upload = DatasetRef(name="3f2a_sales.csv", path=tmp_path / "3f2a_sales.csv", kind="file", sha256="0",
                        description="uploaded as sales.csv")
    assert ds.dataset_label(sample) == "iris" and ds.dataset_label(upload) == "sales.csv (uploaded)"
    assert ds.format_bytes(512) == "512 bytes" and ds.format_bytes(3 * 2**20) == "3.0 MB"
