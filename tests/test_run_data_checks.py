"""A run carries the data checks' warnings about what it trains on, not about columns it leaves out."""
from __future__ import annotations

import numpy as np
import pandas as pd

from core.config import DataConfig, ModelConfig, RunConfig, TrainConfig
from core.data import run_checks
from core.runs.execute import execute_run


def test_warnings_about_used_columns_become_run_events(engine, tmp_path) -> None:
    rng = np.random.default_rng(0)
    n = 120
    x = rng.normal(size=n)
    frame = pd.DataFrame({
        "row_id": [f"r{i:04d}" for i in range(n)],  # ID-like: ignored by default, so no event
        "x": x,
        "sparse": np.where(rng.random(n) < 0.8, np.nan, rng.normal(size=n)),  # mostly missing, used
        "y": (x + rng.normal(scale=0.5, size=n) > 0).astype(int),
    })
    assert ("id_like", "row_id") in {(c.code, c.column) for c in run_checks(frame, "y", "binary")}
    path = tmp_path / "checks.csv"
    frame.to_csv(path, index=False)
    config = RunConfig(data=DataConfig(str(path), "y"), model=ModelConfig("logistic"), train=TrainConfig(epochs=2))
    run_id = engine.store.create_run(config.to_dict(), model="logistic", dataset="checks.csv")
    assert execute_run(engine.store, engine.catalog, run_id) == "completed"
    events = engine.store.get(run_id).summary["events"]
    assert any(e.startswith("data check: Column 'sparse' is missing in") for e in events), events
    assert not any("row_id" in e for e in events), events
