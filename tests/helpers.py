"""Test helpers shared across test files."""
from __future__ import annotations

import time
from typing import Callable


def wait_for(condition: Callable[[], object], timeout_s: float = 30.0, interval_s: float = 0.05, what: str = "") -> object:
    """Poll `condition` until it is truthy or the deadline passes (no fixed sleeps in tests)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval_s)
    raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what or condition}")


def penguins_raw_path() -> "Path":
    """palmerpenguins' penguins-raw.csv (344 rows, 17 columns: the LTER file as published, CC0), the file
    issue 18's walk-through used: free-text Comments last, a Sample Number that restarts per study."""
    import os
    from importlib.resources import files
    from pathlib import Path

    import pytest

    try:
        import palmerpenguins  # noqa: F401 - the dev extra installs it
    except ImportError:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("palmerpenguins is not installed (pip install -e '.[dev]'), and CI=true forbids skipping")
        pytest.skip("palmerpenguins is not installed (pip install -e '.[dev]'): it ships penguins-raw.csv")
    return Path(str(files("palmerpenguins") / "data" / "penguins-raw.csv"))
