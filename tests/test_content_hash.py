"""The content-hash policy (core.runs.content_hash): every place that records a run pins its config to the
data's sha256, and a config that named other bytes gives one warning, kept among the run's events."""
from __future__ import annotations

import json

import pytest

from core.config import DataConfig, RunConfig, TrainConfig
from core.runs.content_hash import data_changed, pin_content_hash
from core.runs.execute import execute_run
from core.runs.manager import RunManager
from core.tuning.cv import plan_cv
from core.tuning.search import create_study, load_study, study_spec
from core.tuning.results import write_summary
from core.tuning.space import SearchParam
from workbench.cli import main

STALE = "ab" * 32
IRIS = RunConfig(data=DataConfig("iris", "species"), train=TrainConfig(epochs=1, device="cpu"))


def test_pin_fills_a_missing_hash_quietly_and_warns_about_another(engine) -> None:
    ref = engine.catalog.resolve("iris")
    fresh = pin_content_hash(IRIS, ref)
    assert fresh.config.data.content_hash == ref.sha256 and fresh.warning is None and fresh.run_summary() == {}
    same = pin_content_hash(fresh.config, ref)
    assert same.config is fresh.config and same.warning is None
    stale = pin_content_hash(IRIS.evolve(data={"content_hash": STALE}), ref)
    assert stale.config.data.content_hash == ref.sha256
    assert stale.warning == (f"iris has changed since this config was written (hash {ref.sha256[:12]}, "
                             f"the config says {STALE[:12]}): results will differ")
    assert stale.run_summary(cv_folds=3) == {"cv_folds": 3, "events": [stale.warning]}
    assert data_changed(STALE, ref) and not data_changed(ref.sha256, ref) and not data_changed(None, ref)


def test_the_cli_warning_reaches_the_run_events_too(engine, tmp_path, capsys) -> None:
    path = tmp_path / "run.yaml"
    path.write_text(IRIS.evolve(data={"content_hash": STALE}).to_yaml())
    code = main(["train", "--config", str(path), "--workspace", str(engine.workspace), "--json", "--quiet"])
    out, err = capsys.readouterr()
    assert code == 0
    warning = next(line for line in err.splitlines() if line.startswith("workbench: warning: "))
    record = engine.store.get(json.loads(out.strip().splitlines()[-1])["run_id"])
    assert record.summary["events"][0] == warning.removeprefix("workbench: warning: ")
    assert record.config["data"]["content_hash"] == engine.catalog.resolve("iris").sha256


def test_a_submitted_run_is_pinned_and_carries_the_warning(engine, monkeypatch) -> None:
    monkeypatch.setattr(RunManager, "_spawn", lambda self, run_id: pytest.fail("nothing should start"))
    manager = RunManager(engine.store, engine.catalog, slots={"cpu": 0})
    try:
        run_id = manager.submit(IRIS.evolve(data={"content_hash": STALE}))
        plain = manager.submit(IRIS)
    finally:
        manager.close()
    sha = engine.catalog.resolve("iris").sha256
    record = engine.store.get(run_id)
    assert record.config["data"]["content_hash"] == sha and "has changed" in record.summary["events"][0]
    assert engine.store.get(plain).config["data"]["content_hash"] == sha and engine.store.get(plain).summary == {}


def test_a_file_that_changed_while_the_run_waited_is_said_at_start(engine) -> None:
    # recorded with a hash (as submit pins it), and the file is other bytes by the time the run trains
    run_id = engine.store.create_run(IRIS.evolve(data={"content_hash": STALE}).to_dict())
    assert execute_run(engine.store, engine.catalog, run_id) == "completed"
    record = engine.store.get(run_id)
    assert "has changed since this config was written" in record.summary["events"][0]
    assert record.config["data"]["content_hash"] == record.summary["data_hash"]


def test_cv_and_study_parents_keep_the_warning(engine) -> None:
    plan = plan_cv(engine.store, engine.catalog, IRIS.evolve(data={"content_hash": STALE}), 3)
    parent = engine.store.get(plan.parent_id)
    assert parent.summary["cv_folds"] == 3 and "has changed" in parent.summary["events"][0]
    assert plan.config.data.content_hash == engine.catalog.resolve("iris").sha256  # what the folds are queued with

    space = [SearchParam("lr", "float", 1e-3, 1e-1, log=True)]
    study_id = create_study(engine, IRIS.evolve(data={"content_hash": STALE}), space, 2)
    record = engine.store.get(study_id)
    assert "has changed" in record.summary["events"][0]
    write_summary(engine, study_id, study_spec(record), load_study(engine, study_id))  # after each trial
    assert engine.store.get(study_id).summary["events"] == record.summary["events"]
