"""The Runs page's figures and one run's view: they draw what core.runs.compare and the store hold.

Runs here are records written straight into the store (no training): the figures only read them.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from core.config import DataConfig, RunConfig
from core.evaluation.curves import calibration, confusion, pr_curves, residuals, roc_curves
from core.runs.compare import parcoords_frame
from workbench.ui import compare
from workbench.ui import evaluation as ev

IRIS = RunConfig(data=DataConfig("iris", "species"))


def _finished(store, config: RunConfig, task: str, test: dict, val: dict | None = None, **summary) -> str:
    run_id = store.create_run(config.to_dict(), task=task, model=config.model.kind, dataset=config.data.source)
    store.update(run_id, summary={"metrics": {"test": test, "val": val or test}, **summary})
    store.set_status(run_id, "running")
    store.set_status(run_id, "completed")
    return run_id


@pytest.fixture
def runs(engine):
    store = engine.store
    a = _finished(store, IRIS, "multiclass", {"accuracy": 0.9, "f1_macro": 0.88, "log_loss": 0.3},
                  duration_s=2.0, epochs_run=5, best_epoch=4, n_parameters=1234)
    b = _finished(store, IRIS.evolve(optim={"lr": 0.01}), "multiclass", {"accuracy": 0.95, "log_loss": 0.2})
    reg = _finished(store, RunConfig(data=DataConfig("diabetes", "progression")), "regression",
                    {"r2": 0.4, "mse": 3000.0, "rmse": 54.8})
    return [store.get(i) for i in (a, b, reg)]


def test_metrics_bars_show_only_scores_one_bar_per_run(runs):
    fig = compare.metrics_bar_figure(runs)
    assert [t.name for t in fig.data] == [r.name for r in runs]
    assert fig.layout.barmode == "group"
    assert list(fig.data[0].x) == ["accuracy", "F1 (macro)"]  # vocab's labels; log loss is no score
    assert list(fig.data[2].x) == ["R²"]  # no mse bar dwarfing the rest
    assert fig.data[0].y[0] == pytest.approx(0.9)


def test_parcoords_figure_reads_the_learning_rate_on_a_log_axis(runs):
    frame = parcoords_frame(runs[:2], "accuracy")
    fig = compare.parcoords_figure(frame, "accuracy")
    dims = fig.data[0].dimensions
    assert [d.label for d in dims] == ["learning rate (log scale)", "accuracy"]
    assert list(dims[0].ticktext) == ["0.001", "0.01"]
    assert fig.data[0].line.reversescale is False  # higher accuracy is better: blue
    loss = pd.DataFrame({"lr": [-3.0, -2.0], "log_loss": [0.3, 0.2]})
    assert compare.parcoords_figure(loss, "log_loss").data[0].line.reversescale is True


def test_evaluation_plots_of_each_task() -> None:
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1, 2], 20)
    proba = rng.dirichlet(np.ones(3), size=len(y))
    classes = ["a", "b", "c"]
    clf = {"task": "multiclass", "classes": classes, "confusion": confusion(y, proba.argmax(1), classes),
           "roc": roc_curves(y, proba, classes), "pr": pr_curves(y, proba, classes),
           "calibration": calibration(y, proba)}
    plots = ev.evaluation_plots(clf)
    assert [p.key for p in plots] == ["confusion", "roc", "pr", "calibration"]
    assert all(p.caption.endswith(".") for p in plots)
    reg = {"task": "regression", "residuals": residuals(rng.normal(size=30), rng.normal(size=30))}
    assert [p.key for p in ev.evaluation_plots(reg)] == ["residuals"]
    assert ev.evaluation_plots(None) == []


def test_one_runs_view_in_words(runs):
    labels = [n.label for n in ev.summary_numbers(runs[0])]
    assert labels[:2] == ["Test accuracy", "Val accuracy"] and "Duration" in labels
    assert "Best epoch" in labels and "Parameters" in labels
    assert [n.label for n in ev.summary_numbers(runs[2])][:3] == ["Test r2", "Val r2", "Test RMSE"]
    assert "lr: 0.001" in ev.config_yaml(runs[0])
    assert "R²" in ev.curve_caption("r2", several=False) and "higher is better" in ev.curve_caption("r2", False)
