"""The trained runs the explain tests share, trained once per test process; and checks on them.

Other explain test modules call `shared_runs(tmp_path_factory)` from a module-scoped fixture:
the first call trains (a few seconds), later calls return the same workspace.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from core.config import DataConfig, ModelConfig, RunConfig, TrainConfig
from core.engine import Engine
from core.runs.execute import execute_run

# name -> (sample, target, model, params, epochs)
SPECS: dict[str, tuple[str, str, str, dict, int]] = {
    "iris": ("iris", "species", "mlp", {"hidden_sizes": [16, 16]}, 5),
    "cancer": ("breast_cancer", "diagnosis", "logistic", {}, 5),
    "diabetes": ("diabetes", "progression", "mlp", {"hidden_sizes": [16]}, 5),
    "tips": ("tips", "tip", "mlp", {"hidden_sizes": [16]}, 5),
    "digits": ("digits", "label", "cnn", {"channels": [4, 8], "hidden": 16}, 2),
}
_TRAINED: dict[str, tuple[Path, dict[str, str]]] = {}


def shared_runs(factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """(workspace, name -> run id) of the completed runs in SPECS."""
    if "runs" not in _TRAINED:
        workspace = factory.mktemp("explain-runs")
        engine = Engine(workspace)
        try:
            ids = {}
            for name, (source, target, kind, params, epochs) in SPECS.items():
                config = RunConfig(data=DataConfig(source=source, target=target),
                                   model=ModelConfig(kind=kind, params=params),
                                   train=TrainConfig(epochs=epochs, seed=0, device="cpu", early_stopping=False))
                run_id = engine.store.create_run(config.to_dict(), model=kind, dataset=source, name=f"{name}-{kind}")
                status = execute_run(engine.store, engine.catalog, run_id)
                assert status == "completed", engine.store.get(run_id).status_reason
                ids[name] = run_id
        finally:
            engine.close()
        _TRAINED["runs"] = (workspace, ids)
    return _TRAINED["runs"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    return shared_runs(tmp_path_factory)


def test_context_matches_predictions(runs: tuple[Path, dict[str, str]]) -> None:
    """The rows an explanation reads are the rows the run predicted: same numbering, same outputs."""
    import pandas as pd

    from core.explain import RunContext

    workspace, ids = runs
    engine = Engine(workspace)
    try:
        ctx = RunContext.load(engine.store, engine.catalog, ids["iris"])
        pred = pd.read_parquet(engine.store.artifact_path(ids["iris"], "predictions"))
        test = pred[pred.split == "test"]
        proba = ctx.in_space(ctx.encode(test.row.to_numpy()), "probability")
        np.testing.assert_allclose(proba, test[[f"proba_{c}" for c in ctx.classes]].to_numpy(), atol=1e-5)
        assert ctx.columns == ["sepal_length", "sepal_width", "petal_length", "petal_width"]
    finally:
        engine.close()


def test_unfinished_run_cannot_be_explained(engine: Engine) -> None:
    from core.errors import WorkbenchError
    from core.explain import explain_shap

    config = RunConfig(data=DataConfig(source="iris", target="species"))
    run_id = engine.store.create_run(config.to_dict(), model="mlp", dataset="iris")
    with pytest.raises(WorkbenchError, match="queued"):
        explain_shap(engine.store, engine.catalog, run_id, rows=[0])
    with pytest.raises(WorkbenchError, match="only a completed run"):
        explain_shap(engine.store, engine.catalog, run_id)  # default rows come from a split it has not got
