"""Shared fixtures: every test gets its own workspace; nothing touches the user's."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch


@pytest.fixture(autouse=True)
def _isolated_workspace(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path_factory.mktemp("wb-home")
    monkeypatch.setenv("WORKBENCH_HOME", str(home))
    return home


@pytest.fixture
def workspace() -> Path:
    return Path(os.environ["WORKBENCH_HOME"])


@pytest.fixture
def engine(workspace: Path):
    from core.engine import Engine

    eng = Engine(workspace)
    yield eng
    eng.close()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU (run through the device tool)")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)
