"""Decision boundary on two columns (and on a PCA plane), for a finished run and from live weights."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core.config import DataConfig, ModelConfig, RunConfig, TrainConfig
from core.engine import Engine
from core.errors import WorkbenchError
from core.explain import RunContext
from core.explain.boundary import decision_boundary, live_model, numeric_columns, table_frame
from core.explain.insight_plots import boundary_figure
from core.runs.execute import execute_run


@pytest.fixture(scope="module")
def separable(tmp_path_factory: pytest.TempPathFactory):
    workspace = tmp_path_factory.mktemp("boundary")
    rng = np.random.default_rng(0)
    n = 300
    frame = pd.DataFrame({"x1": rng.uniform(-2, 2, n), "x2": rng.uniform(-2, 2, n), "noise": rng.normal(size=n),
                          "colour": rng.choice(["red", "blue"], n)})
    frame["side"] = np.where(frame.x1 + frame.x2 > 0, "above", "below")
    frame.to_csv(workspace / "separable.csv", index=False)
    engine = Engine(workspace)
    config = RunConfig(data=DataConfig(source=str(workspace / "separable.csv"), target="side"),
                       model=ModelConfig(kind="logistic"), train=TrainConfig(epochs=30, device="cpu", seed=0))
    run_id = engine.store.create_run(config.to_dict(), model="logistic", dataset="separable", name="sep")
    assert execute_run(engine.store, engine.catalog, run_id) == "completed"
    yield engine, run_id
    engine.close()


def test_the_boundary_separates_the_classes(separable) -> None:
    engine, run_id = separable
    ctx = RunContext.load(engine.store, engine.catalog, run_id)
    assert numeric_columns(ctx.trained, ctx.frame) == ["x1", "x2", "noise"]
    b = decision_boundary(ctx.trained, ctx.frame, ctx.split.train, "x1", "x2", resolution=41)
    assert b.predicted.shape == (41, 41) and b.classes == ["above", "below"]
    gx, gy = np.meshgrid(b.xs, b.ys)
    clear = np.abs(gx + gy) > 0.3  # away from the true line
    truth = np.where(gx + gy > 0, 0, 1)
    assert (b.predicted[clear] == truth[clear]).mean() > 0.98
    assert set(b.held) == {"noise", "colour"} and "held at its training median" in b.words()
    assert len(b.points) == len(ctx.split.train) and set(b.points.label) == {"above", "below"}
    fig = boundary_figure(b)
    assert fig.layout.xaxis.title.text == "x1" and len(fig.data) == 5  # grid, veil, confidence lines, two classes


def test_projection_and_bad_axes(separable) -> None:
    engine, run_id = separable
    ctx = RunContext.load(engine.store, engine.catalog, run_id)
    b = decision_boundary(ctx.trained, ctx.frame, ctx.split.train, projection=True, resolution=30)
    assert b.projection and b.predicted.shape == (30, 30) and 0 < sum(b.explained) <= 1
    assert "PCA" in b.words()
    assert set(np.unique(b.predicted)) == {0, 1}  # the plane crosses the boundary
    with pytest.raises(WorkbenchError, match="cannot be an axis"):
        decision_boundary(ctx.trained, ctx.frame, ctx.split.train, "colour", "x1")
    with pytest.raises(WorkbenchError, match="two different"):
        decision_boundary(ctx.trained, ctx.frame, ctx.split.train, "x1", "x1")


def test_live_weights_draw_the_same_picture(separable) -> None:
    engine, run_id = separable
    live = live_model(engine.store.run_dir(run_id))
    assert live is not None and live.epoch >= 1
    frame = table_frame(live.trained, engine.catalog)
    ctx = RunContext.load(engine.store, engine.catalog, run_id)
    now = decision_boundary(live.trained, frame, live.split.train, "x1", "x2", resolution=21)
    final = decision_boundary(ctx.trained, ctx.frame, ctx.split.train, "x1", "x2", resolution=21)
    np.testing.assert_array_equal(now.predicted, final.predicted)  # the last epoch's weights are the final ones
    assert live_model(Path(engine.store.run_dir(run_id)) / "nowhere") is None
