"""Repeats with statistics: N seeds on one split, t intervals, bands, and the paired bootstrap."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats as scipy_stats
from sklearn.metrics import accuracy_score, f1_score, mean_squared_error, r2_score

from core.config import DataConfig, RunConfig
from core.errors import ConfigError
from core.evaluation.metrics import classification_metric, classification_metrics
from core.evaluation.stats import (
    difference_words, paired_bootstrap, resample_indices, resampled_scores, seed_interval,
)
from core.tuning.paired import compare_runs
from core.tuning.repeats import (
    is_group, members, repeat_result, run_repeats_inline, seed_bands, stats_table, submit_repeats,
)
from tests.helpers import wait_for


def _iris(**train) -> RunConfig:
    return RunConfig(data=DataConfig("iris", "species")).evolve(
        model={"kind": "mlp", "params": {"hidden_sizes": [8]}}, train={"epochs": 3, "device": "cpu", **train})


# --- statistics, against the libraries ------------------------------------------------------
def test_seed_interval_is_scipys_t_interval():
    values = [0.91, 0.93, 0.90, 0.95]
    got = seed_interval(values)
    low, high = scipy_stats.t.interval(0.95, len(values) - 1, loc=np.mean(values), scale=scipy_stats.sem(values))
    assert (got.low, got.high) == pytest.approx((low, high))
    assert got.std == pytest.approx(np.std(values, ddof=1)) and got.n == 4
    assert seed_interval([0.9, None]).std is None  # one value: a mean, no spread
    assert seed_interval([0.99, 0.80, 1.0], bounds=(0.0, 1.0)).high == 1.0  # an accuracy never above 1


def test_fast_resampled_scores_equal_sklearn_per_resample():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 3, 60)
    pred = np.where(rng.random(60) < 0.7, y, rng.integers(0, 3, 60))
    idx = resample_indices(60, 50, seed=3)
    fast = resampled_scores("accuracy", y, [pred], idx)
    assert fast == pytest.approx([accuracy_score(y[r], pred[r]) for r in idx])
    t = rng.normal(size=60)
    p = t + rng.normal(scale=0.5, size=60)
    assert resampled_scores("r2", t, [p], idx) == pytest.approx([r2_score(t[r], p[r]) for r in idx])
    assert resampled_scores("rmse", t, [p], idx) == pytest.approx([mean_squared_error(t[r], p[r]) ** 0.5 for r in idx])
    # a group is the mean of its members' metric on each resample
    q = p[::-1].copy()
    group = resampled_scores("mse", t, [p, q], idx)
    assert group == pytest.approx([(mean_squared_error(t[r], p[r]) + mean_squared_error(t[r], q[r])) / 2 for r in idx])
    # one metric alone is the same value as in the full set
    proba = rng.dirichlet(np.ones(3), size=60)
    for name in ("f1_macro", "roc_auc", "log_loss", "balanced_accuracy"):
        assert classification_metric(name, y, proba) == pytest.approx(classification_metrics(y, proba)[name])
    assert classification_metric("f1_macro", y, proba) == pytest.approx(f1_score(y, proba.argmax(1), average="macro"))


def test_difference_words():
    sure = paired_bootstrap("accuracy", "max", np.full(100, 0.9) + np.linspace(0, 0.02, 100), np.full(100, 0.88),
                            0.91, 0.88, 50)
    assert difference_words(sure, "A", "B", "accuracy", "max").startswith("A is better than B by 0.030 accuracy, 95% interval")
    worse = paired_bootstrap("rmse", "min", np.full(100, 2.0), np.full(100, 1.5), 2.0, 1.5, 50)
    assert difference_words(worse, "A", "B", "RMSE", "min").startswith("B is better than A by 0.500 RMSE")
    unsure = paired_bootstrap("accuracy", "max", np.linspace(-0.01, 0.02, 100), np.zeros(100), 0.005, 0.0, 50)
    assert "not clearly different" in difference_words(unsure, "A", "B", "accuracy", "max")


# --- a group of repeats ---------------------------------------------------------------------
def test_repeats_share_one_split_and_report_intervals(engine):
    parent_id = run_repeats_inline(engine.store, engine.catalog, _iris(seed=4), 3)
    parent = engine.store.get(parent_id)
    assert parent.status == "completed" and is_group(parent)
    found = members(engine.store, parent_id)
    assert [m.config["train"]["seed"] for m in found] == [4, 5, 6]
    tests = [set(pd.read_parquet(engine.store.run_dir(m.run_id) / "predictions.parquet").query("split == 'test'").row)
             for m in found]
    assert tests[0] == tests[1] == tests[2]  # only the training seed changes
    result = repeat_result(engine.store, parent_id)
    accuracy = result.stats["test"]["accuracy"]
    values = [m.metrics["test"]["accuracy"] for m in found]
    assert accuracy["mean"] == pytest.approx(np.mean(values)) and accuracy["n"] == 3
    assert parent.metrics["test"]["accuracy"] == pytest.approx(np.mean(values))  # the Runs table's number
    assert list(stats_table(result)["metric"])[0] == "accuracy"
    bands = seed_bands(engine.store.metrics_frame([m.run_id for m in found]), [m.run_id for m in found])
    val_loss = bands[(bands.split == "val") & (bands.name == "loss")]
    assert list(val_loss.epoch) == [1, 2, 3] and (val_loss.n == 3).all()

    # two groups, paired on their shared test rows
    other = run_repeats_inline(engine.store, engine.catalog, _iris(seed=4).evolve(optim={"lr": 0.05}), 2)
    comparison = compare_runs(engine.store, other, parent_id)
    assert comparison.n_rows == len(tests[0]) and comparison.shared_note is None
    assert comparison.a["group"] and len(comparison.b["members"]) == 3
    assert comparison.low <= comparison.difference <= comparison.high
    assert comparison.words.count("95% interval") == 1
    with pytest.raises(ConfigError):
        compare_runs(engine.store, parent_id, parent_id)


def test_repeats_through_the_manager(engine):
    parent_id = submit_repeats(engine, _iris(), 2)
    wait_for(lambda: engine.store.get(parent_id).status == "completed", 240, what="both seeds and the parent")
    assert len(repeat_result(engine.store, parent_id).completed) == 2


def test_repeats_refuse_one_seed(engine):
    with pytest.raises(ConfigError, match="between 2 and"):
        run_repeats_inline(engine.store, engine.catalog, _iris(), 1)


def test_compare_refuses_other_data(engine):
    from core.runs.execute import execute_run

    ids = []
    for source, target in (("iris", "species"), ("breast_cancer", engine.catalog.resolve("breast_cancer").target)):
        config = RunConfig(data=DataConfig(source, target)).evolve(model={"kind": "logistic"}, train={"device": "cpu"})
        ids.append(engine.store.create_run(config.to_dict()))
        execute_run(engine.store, engine.catalog, ids[-1])
    with pytest.raises(ConfigError):
        compare_runs(engine.store, *ids)
