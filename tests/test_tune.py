"""Hyperparameter search: the space, determinism, a 6-trial study, pruning, stopping, the CLI."""
from __future__ import annotations

import json

import optuna
import pytest

from core.config import DataConfig, ModelConfig, RunConfig, TrainConfig
from core.errors import ConfigError
from core.runs.execute import execute_run
from core.runs.queue import side_by_side_on_cpu
from core.tuning import background
from core.tuning.search import (
    PRUNED_TAG, can_resume, create_study, load_study, resume_study, run_study, stop_study, study_trials,
)
from core.tuning.space import (
    SearchParam, apply_values, candidate, check_space, current_values, parse_search, search_candidates, suggest,
)
from tests.helpers import wait_for
from workbench.cli import main

CANCER = RunConfig(data=DataConfig("breast_cancer", "diagnosis"), model=ModelConfig("logistic"),
                   train=TrainConfig(epochs=4, batch_size=32))
# thousands of steps: long enough to prune or stop mid-run
LONG = RunConfig(data=DataConfig("digits", "label"), model=ModelConfig("mlp", {"hidden_sizes": [32]}),
                 train=TrainConfig(epochs=200, batch_size=4, early_stopping=False))
ACTIVE = ("queued", "running")


# --- the space ------------------------------------------------------------------------------------
def test_candidates_come_from_the_model_spec_plus_optimiser_settings():
    mlp = {p.name for p in search_candidates("mlp")}
    assert {"lr", "batch_size", "weight_decay", "optimizer", "width", "depth", "dropout", "activation"} <= mlp
    assert {p.name for p in search_candidates("logistic")} == {"lr", "batch_size", "weight_decay", "optimizer", "l2"}
    assert candidate("logistic", "l2").log and candidate("logistic", "l2").low > 0  # a log range cannot start at 0
    assert candidate("mlp", "lr").log and candidate("mlp", "batch_norm").choices == (False, True)


def test_apply_values_sets_width_depth_and_optimiser():
    base = RunConfig(data=DataConfig("iris", "species"), model=ModelConfig("mlp"))
    config = apply_values(base, {"width": 32, "depth": 3, "lr": 0.02, "optimizer": "sgd", "batch_size": 16})
    assert config.model.params["hidden_sizes"] == [32, 32, 32]
    assert (config.optim.lr, config.optim.name, config.train.batch_size) == (0.02, "sgd", 16)
    assert apply_values(base, {"depth": 1}).model.params["hidden_sizes"] == [64]  # width kept from the config
    assert current_values(config)["width"] == 32 and current_values(config)["depth"] == 3
    cnn = RunConfig(data=DataConfig("digits", "label"), model=ModelConfig("cnn"))
    assert apply_values(cnn, {"width": 8, "depth": 3}).model.params["channels"] == [8, 16, 32]


def test_parse_and_check_space_give_readable_errors():
    base = RunConfig(data=DataConfig("iris", "species"), model=ModelConfig("mlp"))
    space = check_space(base, parse_search(["lr=1e-3:0.1", "optimizer=adam,SGD", "depth"], "mlp"))
    assert [(p.name, p.low, p.high, p.choices) for p in space] == [
        ("lr", 1e-3, 0.1, ()), ("optimizer", None, None, ("adam", "sgd")), ("depth", 1, 3, ())]
    for items, message in ((["lr=0.1:0.001"], "must be below"), (["lr=0:0.1"], "above 0"),
                           (["depth=1:12"], "1 to 8 entries"), (["nope"], "no setting 'nope'"),
                           (["optimizer=adam,lion"], "not lion"), ([], "at least one")):
        with pytest.raises(ConfigError, match=message):
            check_space(base, parse_search(items, "mlp"))


def test_suggest_stays_in_range_and_is_seeded():
    space = [SearchParam("lr", "float", 1e-4, 1e-1, log=True), SearchParam("width", "int", 8, 256, log=True),
             SearchParam("optimizer", "choice", choices=("adam", "sgd"))]

    def sample(seed: int) -> list[dict]:
        study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=seed))
        out = []
        for _ in range(4):
            trial = study.ask()
            out.append(suggest(trial, space))
            study.tell(trial, 0.0)
        return out

    first = sample(0)
    assert first == sample(0)
    assert all(1e-4 <= v["lr"] <= 1e-1 and 8 <= v["width"] <= 256 and v["optimizer"] in ("adam", "sgd")
               for v in first)


# --- runs ---------------------------------------------------------------------------------------
def test_runs_are_deterministic(engine):
    metrics = []
    for _ in range(2):
        run_id = engine.store.create_run(CANCER.evolve(data={"content_hash": None}).to_dict())
        assert execute_run(engine.store, engine.catalog, run_id) == "completed"
        metrics.append(engine.store.get(run_id).metrics)
    assert metrics[0] == metrics[1]


def test_cli_six_trial_search_and_its_best_config_retrained(capsys, engine):
    code = main(["tune", "--data", "breast_cancer", "--target", "diagnosis", "--model", "logistic", "--trials", "6",
                 "--epochs", "4", "--search", "lr=1e-3:0.3", "--search", "batch_size=16,64", "--json", "--quiet"])
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert code == 0 and report["status"] == "completed", report["status_reason"]
    assert report["metric"] == "accuracy" and report["direction"] == "maximize"
    assert len(report["trials"]) == 6 and report["counts"]["finished"] == 6
    parent = engine.store.get(report["run_id"])
    trials = engine.store.list_runs(parent_id=parent.run_id)
    assert len(trials) == 6
    assert all(t.status not in ACTIVE and "tune" in t.tags and report["study"] in t.tags for t in trials)
    assert parent.tags == ["study", report["study"]] and parent.metrics["val"]["accuracy"] == report["best"]["value"]
    complete = [t["value"] for t in report["trials"] if t["state"] == "complete"]
    assert report["best"]["value"] == max(complete)
    # the best config, trained again, reaches the value the search reported (same config + seed + CPU)
    best = RunConfig.from_dict(report["best"]["config"])
    assert best.optim.lr == pytest.approx(report["best"]["params"]["lr"])
    run_id = engine.store.create_run(best.to_dict())
    assert execute_run(engine.store, engine.catalog, run_id) == "completed"
    assert engine.store.get(run_id).metrics["val"]["accuracy"] == pytest.approx(report["best"]["value"], abs=1e-12)


def test_pruned_trial_is_stopped_and_says_pruned(engine):
    parent_id = create_study(engine, LONG, [SearchParam("lr", "float", 1e-3, 1e-2, log=True)], 1)
    # accuracy is always below 2: the first reported epoch prunes
    status = run_study(engine, parent_id, pruner=optuna.pruners.ThresholdPruner(lower=2.0), poll_s=0.05)
    assert status == "failed"  # no trial completed
    (trial,) = study_trials(engine, parent_id)
    assert trial.state == "pruned" and trial.pruned_epoch is not None
    run = engine.store.get(trial.run_id)
    assert run.status == "cancelled" and PRUNED_TAG in run.tags
    assert run.status_reason.startswith("pruned by the search at epoch")
    assert load_study(engine, parent_id).trials[0].state == optuna.trial.TrialState.PRUNED


def test_stopping_a_study_leaves_no_run_running(engine):
    parent_id = create_study(engine, LONG, [SearchParam("lr", "float", 1e-3, 1e-2, log=True)], 5)
    background.start(engine, parent_id)
    wait_for(lambda: any(r.status == "running" for r in engine.store.list_runs(parent_id=parent_id)), 60,
             what="a trial running")
    stop_study(engine, parent_id)
    wait_for(lambda: not engine.store.list_runs(status="running") and not engine.store.list_runs(status="queued"),
             30, what="no run left running")
    assert background.join(parent_id, 30)
    parent = engine.store.get(parent_id)
    assert parent.status == "cancelled" and parent.status_reason.startswith("stopped by the user")
    # the trials running side by side on the CPU queue when it was stopped (one a core, at most 4)
    stopped = [t.state for t in study_trials(engine, parent_id)]
    assert stopped and set(stopped) == {"stopped"} and len(stopped) <= side_by_side_on_cpu()
    # a stopped study can be resumed; a driver that is told to stop at once runs no trial
    assert can_resume(parent)
    resume_study(engine, parent_id)
    assert engine.store.get(parent_id).status == "running"
    assert run_study(engine, parent_id, should_stop=lambda: True) == "cancelled"
    assert len(study_trials(engine, parent_id)) == len(stopped)


def test_bad_search_input_is_exit_2(capsys):
    assert main(["tune", "--data", "iris", "--target", "species", "--model", "mlp", "--metric", "r2"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "r2" in err[0]
