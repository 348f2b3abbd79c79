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
