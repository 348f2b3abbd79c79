"""`workbench export` and `workbench serve` on the command line: good runs, bad input."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from workbench.cli import main


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    workspace = tmp_path_factory.mktemp("export-cli")
    code = main(["train", "--data", "iris", "--target", "species", "--epochs", "3", "--device", "cpu",
                 "--workspace", str(workspace), "--quiet", "--name", "iris-small"])
    assert code == 0
    from core.engine import Engine

    engine = Engine(workspace)
    run_id = engine.store.get("iris-small").run_id
    engine.close()
    return workspace, run_id


def one_line(err: str) -> str:
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def test_export_json(trained, tmp_path, capsys):
    workspace, run_id = trained
    capsys.readouterr()
    code = main(["export", "iris-small", "--out", str(tmp_path / "bundle"), "--onnx", "--json",
                 "--workspace", str(workspace)])
    assert code == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["run_id"] == run_id and "model.onnx" in result["files"]
    assert result["onnx_check"]["checked"] and result["onnx_check"]["max_abs_diff"] <= 1e-4
    assert (tmp_path / "bundle" / "predict.py").is_file()


def test_export_human_output(trained, tmp_path, capsys):
    workspace, run_id = trained
    capsys.readouterr()
    assert main(["export", run_id[:9], "--out", str(tmp_path / "b"), "--workspace", str(workspace)]) == 0
    out = capsys.readouterr().out
    assert f"exported run {run_id}" in out and "MODEL_CARD.md" in out and "predict.py" in out


def test_unknown_run_exits_2_with_one_line(trained, tmp_path, capsys):
    workspace, _ = trained
    capsys.readouterr()
    assert main(["export", "no-such-run", "--out", str(tmp_path / "x"), "--workspace", str(workspace)]) == 2
    assert "no run 'no-such-run'" in one_line(capsys.readouterr().err)
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize("argv, words", [
    (["serve", "no-such-run"], "no-such-run"),
    (["export", "iris-small", "--out", "{busy}"], "not empty"),
    (["serve", "{busy}"], "not a bundle"),
])
def test_bad_input_in_process(trained, tmp_path, capsys, argv, words):
    workspace, _ = trained
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "notes.txt").write_text("mine")
    capsys.readouterr()
    code = main([a.replace("{busy}", str(busy)) for a in argv] + ["--workspace", str(workspace)])
    assert code == 2
    assert words in one_line(capsys.readouterr().err)


def test_export_needs_out(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["export", "whatever"])
    assert exit_.value.code == 2
    assert "--out" in one_line(capsys.readouterr().err)
