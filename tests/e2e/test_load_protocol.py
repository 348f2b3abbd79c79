"""The protocol-level load client (bench/load_protocol.py) against the session's app: two sessions, one page."""
from __future__ import annotations

import asyncio

from bench.load_protocol import run_sessions


def test_two_protocol_sessions_each_get_the_app_and_a_page(server: str) -> None:
    times = asyncio.run(run_sessions(server, 2, ["data"], 1))
    assert sorted(page for page, _ in times) == ["data", "data", "home", "home"]
    assert all(0 < seconds < 120 for _, seconds in times)
