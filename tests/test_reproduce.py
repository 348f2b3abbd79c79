"""Reproduce: an exported config.yaml retrains the run to the same metrics on CPU; changed data warns."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from core.data.catalog import sample_dir
from workbench.cli import main

TRAIN = ["--target", "species", "--model", "mlp", "--hidden", "16,8", "--epochs", "6", "--batch-size", "16",
         "--lr", "0.01", "--device", "cpu", "--seed", "7", "--quiet", "--json"]


def train_json(capsys: pytest.CaptureFixture[str], *args: str) -> dict:
    capsys.readouterr()
    assert main(["train", *args]) == 0
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def test_bundle_config_reproduces_metrics_exactly(tmp_path, capsys):
    first = train_json(capsys, "--data", "iris", *TRAIN, "--workspace", str(tmp_path / "a"))
    assert main(["export", first["run_id"], "--out", str(tmp_path / "bundle"), "--workspace", str(tmp_path / "a")]) == 0
    # another process and another workspace: only the bundle's config.yaml carries the run over
    proc = subprocess.run([sys.executable, "-m", "workbench.cli", "train", "--config", str(tmp_path / "bundle" / "config.yaml"),
                           "--json", "--quiet", "--workspace", str(tmp_path / "b")],
                          capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr
    again = json.loads(proc.stdout.strip().splitlines()[-1])
    assert again["run_id"] != first["run_id"] and again["device"] == "cpu"
    assert again["metrics"] == first["metrics"]  # exactly, not approximately
    assert "warning" not in proc.stderr


def test_changed_data_warns(tmp_path, capsys):
    data = tmp_path / "flowers.csv"
    shutil.copy(sample_dir() / "iris.csv", data)
    first = train_json(capsys, "--data", str(data), *TRAIN, "--workspace", str(tmp_path / "ws"))
    assert main(["export", first["run_id"], "--out", str(tmp_path / "bundle"), "--workspace", str(tmp_path / "ws")]) == 0
    config = tmp_path / "bundle" / "config.yaml"

    capsys.readouterr()
    assert main(["train", "--config", str(config), "--quiet", "--json", "--workspace", str(tmp_path / "ws")]) == 0
    same = capsys.readouterr()
    assert "warning" not in same.err
    assert json.loads(same.out.strip().splitlines()[-1])["metrics"] == first["metrics"]

    lines = data.read_text().splitlines()
    lines[1] = lines[1].replace("5.1", "5.3", 1)  # one measurement edited
    data.write_text("\n".join(lines) + "\n")
    assert main(["train", "--config", str(config), "--quiet", "--json", "--workspace", str(tmp_path / "ws")]) == 0
    err = capsys.readouterr().err
    assert "warning" in err and "changed" in err and data.name in err


def test_exported_config_is_the_run_config(tmp_path, capsys):
    first = train_json(capsys, "--data", "iris", *TRAIN, "--workspace", str(tmp_path / "ws"))
    assert main(["export", first["run_id"], "--out", str(tmp_path / "bundle"), "--workspace", str(tmp_path / "ws")]) == 0
    from core.config import RunConfig

    config = RunConfig.load(tmp_path / "bundle" / "config.yaml")
    assert config.train.seed == 7 and config.train.device == "cpu" and config.data.content_hash
    assert list(config.model.params["hidden_sizes"]) == [16, 8]
    assert Path(tmp_path / "bundle" / "config.yaml").read_text() == \
        (tmp_path / "ws" / "runs" / first["run_id"] / "config.yaml").read_text()
