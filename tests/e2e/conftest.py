"""The real app in a real browser: one server per session, headless Debian Chromium.

Without chromium the tests skip with a reason, except under CI=true where they fail.
WORKBENCH_SCREENSHOTS=<folder> saves a full-page PNG of each page visited.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.app_server import ROOT, VIEWPORT, launch_chromium, start_app

try:  # Playwright's expect() waits 5 s by default; on 2 shared cores a page (the first, while the
    # warm worker server boots beside it) can take longer to draw. Still a wait on a condition.
    from playwright.sync_api import expect as _expect

    _expect.set_options(timeout=30_000)
except ImportError:  # no playwright: the browser tests skip with the reason
    pass


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/e2e" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(pytest.mark.e2e)


def _chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path:
        return path
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail("chromium is not installed, and CI=true forbids skipping the browser tests "
                    "(apt-get install chromium)")
    pytest.skip("chromium is not installed (apt-get install chromium); the browser tests need it")


_SERVER: dict[str, Path] = {}


def server_log(tail: int = 3000) -> str:
    """The server's output and the end of each run's worker log, for a failure report."""
    path = _SERVER.get("log")
    if not path or not path.exists():
        return "(no server log)"
    parts = [path.read_text(errors="replace")[-tail:]]
    for worker in sorted(path.parent.glob("runs/*/worker.log")):
        parts.append(f"--- {worker.parent.name} worker.log\n{worker.read_text(errors='replace')[-1000:]}")
    return "\n".join(parts)


@pytest.fixture(scope="session")
def server() -> Iterator[str]:
    """`workbench ui --headless` on a free port with its own workspace; killed (with its workers) at the end."""
    home = Path(tempfile.mkdtemp(prefix="wb-e2e-"))
    app = start_app(home)
    _SERVER["log"] = app.log_path
    try:
        app.wait_healthy(90)
        yield app.url
    finally:
        app.stop()
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    executable = _chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = launch_chromium(p, executable)
        yield b
        b.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    report = yield
    if report.when == "call":
        item.e2e_failed = report.failed
    return report


@pytest.fixture
def page(request: pytest.FixtureRequest, browser, server, tmp_path_factory: pytest.TempPathFactory):
    context = browser.new_context(viewport=VIEWPORT)
    pg = context.new_page()
    pg.set_default_timeout(30_000)
    errors: list[str] = []  # console errors and uncaught page errors; a test asserts there are none
    pg.on("console", lambda msg: errors.append(f"console: {msg.text} ({msg.location.get('url', '')})")
          if msg.type == "error" else None)
    pg.on("pageerror", lambda exc: errors.append(f"pageerror: {exc}"))
    pg.console_errors = errors
    yield pg
    if getattr(request.node, "e2e_failed", False):  # leave a picture of what the browser showed
        shot = tmp_path_factory.mktemp("e2e-failure") / f"{request.node.name}.png"
        try:
            _grow_to_content(pg)
            pg.screenshot(path=str(shot), full_page=True)
            print(f"\nscreenshot of the failure: {shot}\nbrowser errors: {errors}\nserver log: {server_log()}")
        except Exception as exc:  # noqa: BLE001 - a diagnostic must not hide the failure
            print(f"\nno failure screenshot: {exc}")
    context.close()


def settle(page) -> None:
    """Wait until the script run an interaction started has finished and no stale element is left."""
    page.wait_for_function(
        "() => { const app = document.querySelector('[data-testid=stApp]');"
        " return app && app.getAttribute('data-test-script-state') === 'notRunning'"
        " && !document.querySelector('[data-stale=true]'); }")


def screenshot(page, name: str) -> None:
    """Save a full-page PNG to $WORKBENCH_SCREENSHOTS/<name>.png (no-op when it is unset).

    Streamlit scrolls inside its own container, so the window is grown to the content's
    height for the shot (Playwright's full_page only sees the window)."""
    folder = os.environ.get("WORKBENCH_SCREENSHOTS")
    if not folder:
        return
    out = Path(folder)
    if not out.is_absolute():
        out = ROOT / out
    out.mkdir(parents=True, exist_ok=True)
    page.evaluate("() => document.activeElement && document.activeElement.blur()")  # no focus ring in the shot
    settle(page)
    _grow_to_content(page)
    settle(page)
    page.screenshot(path=str(out / f"{name}.png"), full_page=True)
    page.set_viewport_size(VIEWPORT)


def _grow_to_content(page) -> None:
    """Make the window as tall as the page's content, and let the layout settle at that size."""
    height = page.evaluate(
        "() => Math.max(...['stMain', 'stAppViewContainer', 'stMainBlockContainer']"
        ".map(id => document.querySelector(`[data-testid=${id}]`)).filter(Boolean)"
        ".map(el => el.scrollHeight), document.body.scrollHeight)")
    page.set_viewport_size({"width": VIEWPORT["width"], "height": min(max(int(height) + 40, VIEWPORT["height"]), 6000)})
    # a few frames for the charts to redraw at the new size
    page.evaluate("() => new Promise(done => { let n = 0;"
                  " const tick = () => (++n < 5 ? requestAnimationFrame(tick) : done()); tick(); })")
