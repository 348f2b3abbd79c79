"""Optuna studies on the team's database: with WORKBENCH_DB_URL (PostgreSQL) a study lives beside the runs,
so other processes see its trials; a trial whose driver died (here: SIGKILL; elsewhere: a silent heartbeat)
ends as failed, and a live driver's trial is left alone (a driver resuming a study fails such trials first,
tests/test_tune.py resumes one)."""
from __future__ import annotations

import datetime
import subprocess
import sys
from pathlib import Path

import optuna
from optuna.trial import TrialState
from sqlalchemy import create_engine, text

from core.config import DataConfig, ModelConfig, RunConfig, TrainConfig
from core.tuning import storage
from core.tuning.search import create_study, run_study
from core.tuning.space import SearchParam

IRIS = RunConfig(data=DataConfig("iris", "species"), model=ModelConfig("mlp", {"hidden_sizes": [8]}),
                 train=TrainConfig(epochs=1, batch_size=32, early_stopping=False))
LR = [SearchParam("lr", "float", 1e-3, 1e-1, log=True)]


def test_a_study_lives_in_the_team_database_and_other_processes_see_its_trials(postgres_url: str, engine,
                                                                               workspace: Path):
    assert storage.storage_url(workspace).startswith("postgresql+psycopg://")
    parent_id = create_study(engine, IRIS, LR, 1, name="shared")
    assert run_study(engine, parent_id, poll_s=0.05) == "completed"
    assert not (workspace / storage.OPTUNA_DB).exists()
    # another process, knowing only the URL, reads the same study
    out = subprocess.run([sys.executable, "-c", "import optuna, sys; s = optuna.load_study(study_name='shared', "
                          "storage=sys.argv[1]); print(len([t for t in s.trials if t.state.is_finished()]))",
                          postgres_url.replace("postgresql://", "postgresql+psycopg://", 1)],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "1"


def test_without_a_team_database_studies_keep_their_own_file(workspace: Path):
    assert storage.storage_url(workspace) == f"sqlite:///{workspace.resolve() / storage.OPTUNA_DB}"


def test_a_trial_whose_driver_is_gone_is_failed_and_a_live_ones_is_not(db_url: str, workspace: Path):
    study = optuna.create_study(storage=storage.optuna_storage(workspace), study_name="crashes")
    lost, silent, live, mine = (study.ask() for _ in range(4))
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    for trial, driver in ((lost, f"{storage.this_driver().rpartition(':')[0]}:{dead.pid}"),
                          (silent, "another-machine:4242"), (live, "another-machine:4343")):
        study._storage.set_trial_system_attr(trial._trial_id, storage.DRIVER_ATTR, driver)
    for trial in (silent, live):
        storage.beat(study, trial._trial_id)
    storage.claim(mine)
    # the other machine's first driver went silent long ago
    with create_engine(storage.storage_url(workspace)).begin() as con:
        con.execute(text("UPDATE trial_heartbeats SET heartbeat = :then WHERE trial_id = :id"),
                    {"then": datetime.datetime(2000, 1, 1), "id": silent._trial_id})
    failed = storage.fail_crashed_trials(study)
    assert sorted(t.number for t in failed) == [lost.number, silent.number]
    states = {t.number: t.state for t in study.get_trials()}
    assert states == {lost.number: TrialState.FAIL, silent.number: TrialState.FAIL,
                      live.number: TrialState.RUNNING, mine.number: TrialState.RUNNING}
