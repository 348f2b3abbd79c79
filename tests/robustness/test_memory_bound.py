"""A file larger than memory: refused before parsing, with its size and the limit, on both paths.

The budget is set tiny (WORKBENCH_MAX_DATA_MB) so a 150 KB file stands in for a 50 GB one.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core.data import Catalog
from core.data.memory import BUDGET_ENV, shown_size
from core.errors import DataError
from tests.robustness.readable import assert_readable

BUDGET_MB = "0.1"


@pytest.fixture(scope="module")
def big_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rng = np.random.default_rng(0)
    path = tmp_path_factory.mktemp("big") / "huge.csv"
    pd.DataFrame(rng.normal(size=(4000, 4)).round(4), columns=["a", "b", "c", "y"]).to_csv(path, index=False)
    return path


def test_cli_train_exits_2_naming_the_file_size_and_the_limit(big_csv: Path, tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "workbench.cli", "train", "--data", str(big_csv), "--target", "y",
         "--epochs", "1", "--quiet"],
        capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
        env={**os.environ, "WORKBENCH_HOME": str(tmp_path / "ws"), BUDGET_ENV: BUDGET_MB},
    )
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 2, proc.stderr
    assert len(lines) == 1 and lines[0].startswith("workbench: "), proc.stderr
    assert_readable(lines[0].removeprefix("workbench: "))
    assert "'huge.csv' is too large to load" in lines[0]
    assert f"the file is {shown_size(big_csv.stat().st_size)}" in lines[0]
    assert f"more than 102.4 KB (the limit set by {BUDGET_ENV})" in lines[0]


def test_an_upload_gets_the_same_bound_and_is_not_kept(big_csv: Path, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(BUDGET_ENV, BUDGET_MB)
    catalog = Catalog(tmp_path)
    with pytest.raises(DataError, match="'huge.csv' is too large to load: the file is"):
        catalog.add_upload("huge.csv", big_csv.read_bytes())
    assert catalog.uploads() == []
