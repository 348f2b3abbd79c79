"""Baselines beside every run, and linear models fitted to convergence by default (full-batch L-BFGS)."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression, Ridge

from core.config import DataConfig, RunConfig
from core.data import Catalog
from core.evaluation.baselines import fit_baselines
from core.models import build_model
from core.runs.baselines import baseline_rows, baseline_verdict
from core.runs.execute import execute_run
from core.runs.prepare import prepare_data
from core.runs.store import RunStore
from core.training.graphed import graph_eligibility
from core.training.trainer import Trainer
from core.vocab import resolve_optimizer


def _config(workspace, source: str, kind: str, **train) -> RunConfig:
    target = Catalog(workspace).resolve(source).target
    return RunConfig(data=DataConfig(source, target)).evolve(model={"kind": kind},
                                                             train={"device": "cpu", **train})


def test_auto_picks_lbfgs_for_linear_models_only():
    assert resolve_optimizer("auto", "logistic") == resolve_optimizer("auto", "linear") == "lbfgs"
    assert resolve_optimizer("auto", "mlp") == resolve_optimizer("auto", "cnn") == "adam"
    assert resolve_optimizer("sgd", "logistic") == "sgd"
    mlp = RunConfig(data=DataConfig("iris", "species"))
    assert mlp.optim.name == "auto"
    # the CUDA-graph check asks the resolved optimiser: an MLP on "auto" is Adam, as it was
    ok, why = graph_eligibility(mlp, torch.device("cuda"), build_model("mlp", {}, 4, 3))
    assert ok, why


@pytest.mark.parametrize("source, kind", [("breast_cancer", "logistic"), ("iris", "logistic"), ("diabetes", "linear")])
def test_lbfgs_fits_the_scikit_learn_model(workspace, source, kind):
    """Default settings (auto -> L-BFGS, the l2 of scikit-learn's default) reach scikit-learn's own fit of
    the same rows: the same weights, so the same test predictions."""
    config = _config(workspace, source, kind, early_stopping=False)
    prepared = prepare_data(config, Catalog(workspace))
    X, y = prepared.X["train"], prepared.y["train"]
    torch.manual_seed(0)
    n_out = 1 if prepared.schema.task != "multiclass" else prepared.schema.n_classes
    model = build_model(kind, {}, X.shape[1], n_out)
    trainer = Trainer(config, prepared.schema.task).fit(model, X, y, prepared.X["val"], prepared.y["val"])
    assert trainer.optimizer_name_ == "lbfgs" and trainer.epoch_ < config.train.epochs  # converged, stopped
    assert any("L-BFGS converged" in e for e in trainer.events_)
    ours = model[0].weight.detach().numpy()
    if kind == "logistic":
        reference = LogisticRegression(max_iter=5000, tol=1e-8).fit(X, y).coef_
        if prepared.schema.task == "multiclass":  # softmax weights are defined up to a shift per input
            ours, reference = ours - ours.mean(axis=0), reference - reference.mean(axis=0)
    else:
        reference = Ridge().fit(X, y).coef_.reshape(1, -1)
    assert np.allclose(ours, reference, atol=2e-3 * max(1.0, np.abs(reference).max())), (ours, reference)


def test_breast_cancer_logistic_defaults_reach_095(workspace):
    """Issue 18's acceptance figure: `workbench train --data breast_cancer --model logistic` (seed 0)."""
    store = RunStore(workspace)
    config = _config(workspace, "breast_cancer", "logistic")
    run_id = store.create_run(config.to_dict())
    assert execute_run(store, Catalog(workspace), run_id) == "completed"
    record = store.get(run_id)
    assert record.metrics["test"]["accuracy"] >= 0.95
    assert record.summary["optimizer"] == "lbfgs"
    baselines = record.summary["baselines"]
    assert set(baselines) == {"majority", "logistic"}
    # the network is the same model as the logistic baseline: the same test accuracy
    assert baselines["logistic"]["metrics"]["test"]["accuracy"] == pytest.approx(record.metrics["test"]["accuracy"])
    rows = baseline_rows(record.summary, record.task)
    assert [r["model"] for r in rows][0] == "this network" and len(rows) == 3
    assert "logistic regression" in baseline_verdict(record.summary, record.task)


def test_baselines_match_scikit_learn(workspace):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 3)).astype(np.float32)
    y = (X[:, 0] + 0.3 * rng.normal(size=120) > 0.4).astype(np.int64)
    found, notes = fit_baselines("binary", X[:80], y[:80], {"test": (X[80:], y[80:])}, n_classes=2)
    by_name = {b.name: b for b in found}
    share = max(np.mean(y[:80]), 1 - np.mean(y[:80]))
    majority = int(np.mean(y[:80]) > 0.5)
    assert by_name["majority"].metrics["test"]["accuracy"] == pytest.approx(np.mean(y[80:] == majority))
    assert share > 0.5 and not notes
    reference = LogisticRegression(max_iter=1000).fit(X[:80], y[:80]).score(X[80:], y[80:])
    assert by_name["logistic"].metrics["test"]["accuracy"] == pytest.approx(reference)
    # regression: in the user's units through `decode`
    t = X[:, 1] * 2.0 + 1.0
    found, _ = fit_baselines("regression", X[:80], t[:80], {"test": (X[80:], t[80:])}, decode=lambda v: v * 10 + 5)
    ridge = {b.name: b for b in found}["ridge"].metrics["test"]
    expected = Ridge().fit(X[:80], t[:80]).predict(X[80:]) * 10 + 5
    assert ridge["mae"] == pytest.approx(np.mean(np.abs(expected - (t[80:] * 10 + 5))), rel=1e-5)


def test_one_class_in_training_rows_is_a_note_not_a_failure():
    X = np.zeros((10, 2), dtype=np.float32)
    found, notes = fit_baselines("binary", X, np.zeros(10, dtype=np.int64), {"test": (X, np.ones(10, dtype=np.int64))},
                                 n_classes=2)
    assert [b.name for b in found] == ["majority"] and "one class" in notes[0]
