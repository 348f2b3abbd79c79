"""`workbench explain`: the --json line, the cache, and one-line errors."""
from __future__ import annotations

import json

import pytest

from tests.test_explain_runs import shared_runs
from workbench.cli import main


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory):
    return shared_runs(tmp_path_factory)


def _last_json(capsys: pytest.CaptureFixture[str]) -> dict:
    out = capsys.readouterr().out.strip().splitlines()
    return json.loads(out[-1])


def test_shap_json(ws, capsys: pytest.CaptureFixture[str]) -> None:
    workspace, ids = ws
    args = ["explain", ids["tips"], "--rows", "7", "--background", "21", "--json", "--workspace", str(workspace)]
    assert main(args) == 0
    first = _last_json(capsys)
    assert {"method", "explainer", "rows", "seconds", "max_additivity_error", "importances"} <= set(first)
    assert first["method"] == "shap" and first["explainer"] == "deeplift" and first["rows"] == 7
    assert list(first["importances"]) == sorted(first["importances"], key=first["importances"].get, reverse=True)
    assert set(first["importances"]) == {"total_bill", "sex", "smoker", "day", "time", "size"}
    assert first["max_additivity_error"] < 1e-3 and first["cached"] is False
    assert main(args) == 0
    assert _last_json(capsys)["cached"] is True


def test_lime_json_and_human_output(ws, capsys: pytest.CaptureFixture[str]) -> None:
    workspace, ids = ws
    assert main(["explain", ids["iris"], "--method", "lime", "--rows", "1", "--samples", "200", "--json",
                 "--workspace", str(workspace)]) == 0
    out = _last_json(capsys)
    assert out["method"] == "lime" and out["explainer"] == "lime_tabular" and out["rows"] == 1
    assert set(out["importances"]) == {"sepal_length", "sepal_width", "petal_length", "petal_width"}
    assert main(["explain", ids["cancer"], "--rows", "3", "--workspace", str(workspace)]) == 0
    text = capsys.readouterr().out
    assert "linear" in text and "additivity" in text


def test_bad_run_id_exits_2_with_one_line(ws, capsys: pytest.CaptureFixture[str]) -> None:
    workspace, _ = ws
    assert main(["explain", "no-such-run", "--json", "--workspace", str(workspace)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no run 'no-such-run'" in err[0]


def test_bad_option_exits_2(ws, capsys: pytest.CaptureFixture[str]) -> None:
    workspace, ids = ws
    assert main(["explain", ids["diabetes"], "--space", "logit", "--workspace", str(workspace)]) == 2
    assert "value" in capsys.readouterr().err
