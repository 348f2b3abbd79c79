"""How many CPU threads a training worker takes: all cores but one, which the app keeps."""
from __future__ import annotations

import pytest

from core.training.device import cpu_threads


@pytest.mark.parametrize(("cores", "threads"), [(1, 1), (2, 1), (4, 3), (16, 15)])
def test_one_core_is_left_to_the_app(monkeypatch: pytest.MonkeyPatch, cores: int, threads: int) -> None:
    monkeypatch.delenv("WORKBENCH_CPU_THREADS", raising=False)
    assert cpu_threads(cores) == threads


@pytest.mark.parametrize(("setting", "threads"), [("2", 2), ("8", 8), ("0", 1), ("many", 1), ("", 1)])
def test_the_user_setting_wins_when_it_is_a_count(monkeypatch: pytest.MonkeyPatch, setting: str, threads: int) -> None:
    monkeypatch.setenv("WORKBENCH_CPU_THREADS", setting)
    assert cpu_threads(2) == threads
