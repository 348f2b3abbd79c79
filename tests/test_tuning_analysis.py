"""core.tuning.analysis: best value so far, parameter importances (cached per complete trials), trial curves."""
from __future__ import annotations

import optuna
import pytest

from core.runs.store import MetricRow
from core.tuning import analysis
from core.tuning.search import TrialRow
from core.tuning.storage import optuna_storage


def _trial(number: int, state: str, value: float | None, **params) -> TrialRow:
    return TrialRow(number=number, state=state, value=value, params=params, run_id=f"r{number}")


def test_best_so_far_follows_the_direction_and_skips_unfinished_trials():
    trials = [_trial(0, "complete", 0.8), _trial(1, "pruned", None), _trial(2, "complete", 0.9),
              _trial(3, "complete", 0.85), _trial(4, "complete", float("nan")), _trial(5, "running", None)]
    assert analysis.best_so_far(trials, "maximize") == [(1, 0.8, 0.8), (3, 0.9, 0.9), (4, 0.85, 0.9)]
    assert analysis.best_so_far(trials, "minimize")[-1] == (4, 0.85, 0.8)
    assert analysis.best_so_far(list(reversed(trials)), "maximize")[0] == (1, 0.8, 0.8)  # trial order
    assert analysis.complete_trials(trials) == 4
    assert analysis.best_so_far([], "maximize") == []


def _study(workspace, name: str, n: int) -> optuna.Study:
    """n complete trials whose value depends on lr alone: the noise setting should matter little."""
    study = optuna.create_study(storage=optuna_storage(workspace), study_name=name, direction="maximize")
    lr = optuna.distributions.FloatDistribution(1e-4, 1e-1, log=True)
    noise = optuna.distributions.FloatDistribution(0.0, 1.0)
    for i in range(n):
        x, y = 10 ** (-4 + 3 * ((i * 7) % n) / n), ((i * 5) % n) / n
        study.add_trial(optuna.trial.create_trial(params={"lr": x, "noise": y}, distributions={"lr": lr, "noise": noise},
                                                  value=-abs(x - 0.01)))
    return study


def test_importances_say_which_setting_mattered_and_are_computed_once_per_trial_count(workspace, monkeypatch):
    _study(workspace, "s", 12)
    assert analysis.param_importances(workspace, "s", 2) is None  # too few trials to say
    calls = []
    real = optuna.importance.get_param_importances
    monkeypatch.setattr(optuna.importance, "get_param_importances", lambda *a, **k: calls.append(1) or real(*a, **k))
    first = analysis.param_importances(workspace, "s", 12)
    assert set(first) == {"lr", "noise"} and first["lr"] > first["noise"]
    assert sum(first.values()) == pytest.approx(1.0)
    first["lr"] = -1.0  # a caller's copy: the cache is not changed through it
    again = analysis.param_importances(workspace, "s", 12)
    assert again["lr"] > 0 and len(calls) == 1  # a poll of the same study and trials costs nothing
    analysis.param_importances(workspace, "s", 13)  # another trial completed: computed again
    assert len(calls) == 2


def test_importances_of_values_that_do_not_spread_are_equal_shares(workspace):
    study = optuna.create_study(storage=optuna_storage(workspace), study_name="flat")
    lr = optuna.distributions.FloatDistribution(1e-4, 1e-1, log=True)
    noise = optuna.distributions.FloatDistribution(0.0, 1.0)
    for x in (1e-3, 2e-3, 3e-3, 4e-3):  # every trial scores the same: no setting stands out
        study.add_trial(optuna.trial.create_trial(params={"lr": x, "noise": x * 100},
                                                  distributions={"lr": lr, "noise": noise}, value=0.5))
    with pytest.warns(UserWarning, match="equal"):
        result = analysis.param_importances(workspace, "flat", 4)
    assert result == pytest.approx({"lr": 0.5, "noise": 0.5})


def test_trial_curves_are_each_trials_validation_monitor(engine):
    store = engine.store
    a, b = store.create_run({"data": {}}), store.create_run({"data": {}})
    for run_id, base in ((a, 1.0), (b, 2.0)):
        store.log_metrics(run_id, [MetricRow(e, e, split, name, base / e) for e in (1, 2)
                                   for split in ("train", "val") for name in ("loss", "accuracy")])
    trials = [TrialRow(0, "complete", 0.9, {}, a), TrialRow(1, "running", None, {}, b), TrialRow(2, "running", None, {}, None)]
    curves = analysis.trial_curves(store, trials, "loss")
    assert list(curves.columns) == ["trial", "epoch", "value"]
    assert curves.groupby("trial")["value"].apply(list).to_dict() == {0: [1.0, 0.5], 1: [2.0, 1.0]}
