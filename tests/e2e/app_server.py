"""The real app and a real browser, for the browser suite (tests/e2e/conftest.py) and the screenshot
scripts (tests/e2e/shoot_*.py): `workbench ui --headless` on a free port in a session of its own (its
run workers end with it), and headless Debian Chromium with the flags the guide names."""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update"]
VIEWPORT = {"width": 1400, "height": 900}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


@dataclass
class AppServer:
    url: str
    proc: subprocess.Popen
    log_path: Path

    def wait_healthy(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while not healthy(self.url):
            if self.proc.poll() is not None:
                raise RuntimeError(f"the server exited with {self.proc.returncode}: {self.log()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the server did not answer within {timeout_s:.0f} s: {self.log()}")
            time.sleep(0.2)  # polling the server's health, not waiting out a fixed delay

    def log(self, tail: int = 2000) -> str:
        return self.log_path.read_text(errors="replace")[-tail:]

    def stop(self) -> None:
        """SIGTERM to its process group (the server and its run workers), SIGKILL if it lingers."""
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(10)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def start_app(home: Path, env: dict[str, str] | None = None) -> AppServer:
    """`workbench ui --headless` with WORKBENCH_HOME=home (and `env` on top of os.environ); not yet waited on."""
    port = free_port()
    log_path = home / "server.log"
    env = {**os.environ, "WORKBENCH_HOME": str(home), "PYTHONUNBUFFERED": "1", **(env or {})}
    with open(log_path, "wb") as log:  # the child keeps its own copy of the descriptor
        proc = subprocess.Popen([sys.executable, "-m", "workbench.cli", "ui", "--headless", "--port", str(port)],
                                cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    return AppServer(f"http://127.0.0.1:{port}", proc, log_path)


def launch_chromium(playwright, executable: str | None = None):  # noqa: ANN001, ANN201 - Playwright's types
    return playwright.chromium.launch(executable_path=executable or shutil.which("chromium") or "chromium",
                                      args=CHROMIUM_ARGS)


@contextmanager
def app_page(home: Path, env: dict[str, str] | None = None, *, timeout_ms: int = 120_000) -> Iterator[object]:
    """For the screenshot scripts: the app on `home`, one Chromium page at VIEWPORT on its front page.
    A failure leaves home/failure.png; the browser and the server end with the block."""
    from playwright.sync_api import sync_playwright

    app = start_app(home, env)
    try:
        app.wait_healthy(max(120.0, timeout_ms / 1000))
        with sync_playwright() as p:
            browser = launch_chromium(p)
            page = browser.new_context(viewport=VIEWPORT).new_page()
            page.set_default_timeout(timeout_ms)
            try:
                page.goto(app.url)
                yield page
            except BaseException:
                page.screenshot(path=str(home / "failure.png"), full_page=True)
                print("failure screenshot:", home / "failure.png")
                raise
            finally:
                browser.close()
    finally:
        app.stop()
