"""The hostile corpus, written once per session into a temp folder (never committed)."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.robustness.corpus import write_corpus


@pytest.fixture(scope="session")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return write_corpus(tmp_path_factory.mktemp("corpus"))
