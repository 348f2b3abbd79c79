"""Issue 2's accuracy floors, through the CLI, each well under a minute on 2 CPU cores."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from workbench.cli import main


def train_json(capsys: pytest.CaptureFixture[str], *args: str) -> dict:
    code = main(["train", *args, "--json", "--quiet"])
    out = capsys.readouterr().out.strip().splitlines()
    result = json.loads(out[-1])
    assert code == 0, result
    return result


def test_iris_mlp(capsys):
    r = train_json(capsys, "--data", "iris", "--target", "species", "--model", "mlp", "--epochs", "150",
                   "--lr", "0.01", "--batch-size", "16")
    assert r["status"] == "completed" and r["task"] == "multiclass"
    assert set(r["metrics"]["test"]) >= {"accuracy", "balanced_accuracy", "precision_macro", "recall_macro",
                                         "f1_macro", "roc_auc", "log_loss"}
    assert r["metrics"]["test"]["accuracy"] >= 0.93
    assert r["device"] == "cpu" and r["samples_per_s"] > 0 and r["duration_s"] > 0


def test_breast_cancer_logistic(capsys):
    r = train_json(capsys, "--data", "breast_cancer", "--target", "diagnosis", "--model", "logistic",
                   "--epochs", "100", "--lr", "0.01", "--batch-size", "32")
    assert r["task"] == "binary"
    assert r["metrics"]["test"]["accuracy"] >= 0.95


def test_digits_cnn(capsys):
    r = train_json(capsys, "--data", "digits", "--target", "label", "--model", "cnn", "--epochs", "15",
                   "--lr", "0.003", "--batch-size", "32")
    assert r["metrics"]["test"]["accuracy"] >= 0.95


def test_diabetes_mlp_regression(capsys):
    r = train_json(capsys, "--data", "diabetes", "--target", "progression", "--model", "mlp", "--epochs", "200",
                   "--lr", "0.003", "--batch-size", "32", "--weight-decay", "0.001")
    assert r["task"] == "regression"
    assert set(r["metrics"]["test"]) == {"mse", "rmse", "mae", "r2"}
    assert r["metrics"]["test"]["r2"] >= 0.35


def test_runs_and_show_json(capsys):
    r = train_json(capsys, "--data", "iris", "--target", "species", "--epochs", "2")
    assert main(["runs", "--json"]) == 0
    runs = json.loads(capsys.readouterr().out)
    assert [x["run_id"] for x in runs] == [r["run_id"]]
    assert set(runs[0]) >= {"run_id", "name", "status", "status_reason", "task", "model", "dataset", "metrics",
                            "created_at"}
    assert main(["show", r["run_id"], "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["status"] == "completed" and "weights" in shown["artifacts"]


@pytest.mark.parametrize("args, words", [
    (["--data", "no_such_file.csv", "--target", "y"], "no_such_file"),
    (["--data", "iris", "--target", "nope"], "nope"),
    (["--data", "iris", "--target", "species", "--model", "linear"], "regression"),
    (["--target", "species"], "--data"),  # --target alone; --data alone takes the sample's target
    (["--data", "iris", "--target", "species", "--epochs", "0"], "epochs"),
])
def test_bad_input_exit_2_one_line(args, words, tmp_path):
    proc = subprocess.run([sys.executable, "-m", "workbench.cli", "train", *args, "--quiet"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    lines = [line for line in proc.stderr.strip().splitlines() if line.strip()]
    assert "Traceback" not in proc.stderr
    assert lines and words in lines[-1]


def test_config_round_trip_reproduces(capsys, workspace):
    first = train_json(capsys, "--data", "iris", "--target", "species", "--epochs", "5", "--seed", "3")
    config = workspace / "runs" / first["run_id"] / "config.yaml"
    again = train_json(capsys, "--config", str(config))
    assert again["metrics"] == first["metrics"]
