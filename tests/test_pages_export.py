"""The Export page in AppTest: empty workspace, a completed run, a run that did not complete."""
from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core.config import DataConfig, ModelConfig, RunConfig, TrainConfig
from core.engine import Engine
from core.runs.execute import execute_run

PAGE = str(Path(__file__).resolve().parents[1] / "pages" / "export.py")


@pytest.fixture(scope="module")
def workspace_with_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, str]:
    workspace = tmp_path_factory.mktemp("export-page")
    engine = Engine(workspace)
    config = RunConfig(data=DataConfig(source="iris", target="species"), model=ModelConfig(params={"hidden_sizes": [8]}),
                       train=TrainConfig(epochs=2, device="cpu"))
    run_id = engine.store.create_run(config.to_dict(), model="mlp", dataset="iris", name="iris-export")
    assert execute_run(engine.store, engine.catalog, run_id) == "completed"
    failed = engine.store.create_run(config.to_dict(), model="mlp", dataset="iris", name="iris-broken")
    engine.store.set_status(failed, "failed", "loss became NaN at epoch 1")
    engine.close()
    return workspace, run_id, failed


def run_page(monkeypatch: pytest.MonkeyPatch, workspace: Path, selected: list[str] | None = None) -> AppTest:
    monkeypatch.setenv("WORKBENCH_HOME", str(workspace))
    at = AppTest.from_file(PAGE, default_timeout=120)
    if selected is not None:
        at.session_state["selected_runs"] = selected
    return at.run()


def test_empty_workspace(monkeypatch, tmp_path):
    at = run_page(monkeypatch, tmp_path / "empty")
    assert not at.exception
    assert any("Nothing to export" in i.value for i in at.info)
    assert not at.get("download_button")


def test_completed_run(monkeypatch, workspace_with_run):
    workspace, run_id, _ = workspace_with_run
    at = run_page(monkeypatch, workspace)
    assert not at.exception
    assert at.selectbox(key="export_run").value == run_id
    labels = [b.proto.label for b in at.get("download_button")]
    assert "Download bundle (.zip)" in labels and "Download model.onnx" in labels and "Download config.yaml" in labels
    assert any(f"workbench serve {run_id}" in c.value for c in at.code)
    assert not at.error
    at.checkbox(key="export_with_onnx").uncheck().run()  # a bundle without ONNX is built too
    assert not at.exception and not at.error


def test_selected_run_not_completed(monkeypatch, workspace_with_run):
    workspace, run_id, failed = workspace_with_run
    at = run_page(monkeypatch, workspace, selected=[failed])
    assert not at.exception
    assert any("iris-broken" in i.value and "loss became NaN" in i.value for i in at.info)
    assert at.selectbox(key="export_run").value == run_id  # the latest completed run instead
