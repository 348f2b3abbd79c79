"""The protocol-level load client (bench/load_protocol.py) against the session's app: two sessions, one page."""
from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

from bench.load_protocol import run_sessions


def test_two_protocol_sessions_each_get_the_app_and_a_page(server: str) -> None:
    # A thread of its own: Playwright's sync API keeps an event loop running in this one once the
    # session's browser has started, and asyncio.run refuses to nest in it.
    with ThreadPoolExecutor(1) as pool:
        times = pool.submit(asyncio.run, run_sessions(server, 2, ["data"], 1)).result(timeout=300)
    assert sorted(page for page, _ in times) == ["data", "data", "home", "home"]
    assert all(0 < seconds < 120 for _, seconds in times)
